package io.loraplex.persistence.adapter;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol.AdapterView;
import io.loraplex.cluster.adapter.AdapterProtocol.HistoryEntry;
import io.loraplex.cluster.adapter.AdapterProtocol.VersionState;
import io.loraplex.cluster.adapter.AdapterProtocol.VersionView;
import io.loraplex.persistence.CborSerializable;
import io.loraplex.persistence.adapter.AdapterEvent.AdapterDeleted;
import io.loraplex.persistence.adapter.AdapterEvent.CleanupCompleted;
import io.loraplex.persistence.adapter.AdapterEvent.CanaryStarted;
import io.loraplex.persistence.adapter.AdapterEvent.CanaryStopped;
import io.loraplex.persistence.adapter.AdapterEvent.RolledBack;
import io.loraplex.persistence.adapter.AdapterEvent.VersionFailed;
import io.loraplex.persistence.adapter.AdapterEvent.VersionPromoted;
import io.loraplex.persistence.adapter.AdapterEvent.VersionRejected;
import io.loraplex.persistence.adapter.AdapterEvent.VersionRetired;
import io.loraplex.persistence.adapter.AdapterEvent.VersionUploaded;
import io.loraplex.persistence.adapter.AdapterEvent.VersionValidated;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The durable state of one adapter: what its events add up to, and what its snapshots hold
 * (Jackson CBOR). Immutable; {@link #apply} is the entity's event handler.
 *
 * @param versions           the current adapter's versions, oldest first (empty before the first and after a delete)
 * @param lastVersion        the highest version number ever given: numbers continue across deletes
 * @param promoted           the version the name serves, or null
 * @param canary             the version serving {@code canaryShare} of the traffic, or null
 * @param previouslyPromoted versions promoted before {@code promoted}, oldest first: where rollbacks go
 * @param tombstones         one per delete, oldest first
 */
public record AdapterState(List<Version> versions, int lastVersion, Integer promoted, Integer canary, double canaryShare,
        List<Integer> previouslyPromoted, List<Tombstone> tombstones) implements CborSerializable {

    public static final AdapterState EMPTY = new AdapterState(List.of(), 0, null, null, 0, List.of(), List.of());

    public AdapterState {
        versions = List.copyOf(versions);
        previouslyPromoted = List.copyOf(previouslyPromoted);
        tombstones = List.copyOf(tombstones);
    }

    /**
     * One immutable version and what happened to it; {@code baseModel} is the base model it is for
     * (null: the fleet's only base), what every validation of it asks placement for.
     */
    public record Version(int number, ContentHash hash, long bytes, VersionState state, String reason, String baseIdentity,
            int maxRank, String source, long createdEpochMillis, List<Change> history, String baseModel)
            implements CborSerializable {
        public Version {
            history = List.copyOf(history);
        }

        Version moveTo(VersionState next, long atEpochMillis, String note) {
            List<Change> more = new ArrayList<>(history);
            more.add(new Change(atEpochMillis, next, note));
            return new Version(number, hash, bytes, next, reason, baseIdentity, maxRank, source, createdEpochMillis, more, baseModel);
        }

        /** Not rejected: its blob is kept and its bytes reserved. */
        boolean isLive() {
            return state != VersionState.REJECTED && state != VersionState.DELETED;
        }

        VersionView view() {
            return new VersionView(number, hash, bytes, state, reason, baseIdentity, maxRank, source, createdEpochMillis,
                    history.stream().map(c -> new HistoryEntry(c.epochMillis(), c.state(), c.note())).toList());
        }
    }

    /** A version entered {@code state} at {@code epochMillis}; {@code note} says why or how. */
    public record Change(long epochMillis, VersionState state, String note) implements CborSerializable {
    }

    /**
     * A delete: when, the hashes of the versions it removed, and those whose clean-up (the name
     * letting go of the reservation, the blob deleted when no other name holds it) has not been
     * confirmed yet: resumed after a crash, emptied by {@code CleanupCompleted}.
     */
    public record Tombstone(long epochMillis, List<ContentHash> hashes, List<ContentHash> pendingCleanup) implements CborSerializable {
        public Tombstone {
            hashes = List.copyOf(hashes);
            // tombstones journaled before clean-ups were tracked have none pending
            pendingCleanup = pendingCleanup == null ? List.of() : List.copyOf(pendingCleanup);
        }
    }

    /** The hashes a delete has still to clean up (the newest tombstone's), empty when none. */
    public List<ContentHash> pendingCleanup() {
        return tombstones.isEmpty() ? List.of() : tombstones.getLast().pendingCleanup();
    }

    /** The adapter has versions (it was never deleted since its first, or was registered again). */
    public boolean exists() {
        return !versions.isEmpty();
    }

    public Optional<Version> version(int number) {
        return versions.stream().filter(v -> v.number() == number).findFirst();
    }

    /** The live version holding {@code hash}, if any. */
    public Optional<Version> liveVersionOf(ContentHash hash) {
        return versions.stream().filter(v -> v.isLive() && v.hash().equals(hash)).findFirst();
    }

    /** The oldest version still waiting for validation. */
    public Optional<Version> oldestUploaded() {
        return versions.stream().filter(v -> v.state() == VersionState.UPLOADED).findFirst();
    }

    /** The newest READY version, what a Promote without a version promotes. */
    public Optional<Version> newestReady() {
        return versions.reversed().stream().filter(v -> v.state() == VersionState.READY).findFirst();
    }

    /** Where a Rollback goes: the latest previously promoted version that can serve again. */
    public Optional<Version> rollbackTarget() {
        for (Integer number : previouslyPromoted.reversed()) {
            Optional<Version> v = version(number);
            if (v.isPresent() && (v.get().state() == VersionState.READY || v.get().state() == VersionState.CANARY)) {
                return v;
            }
        }
        return Optional.empty();
    }

    /** Every live version's hash: what the adapter keeps in the blob store. */
    public List<ContentHash> liveHashes() {
        return versions.stream().filter(Version::isLive).map(Version::hash).toList();
    }

    /** The catalog entry's promoted version of {@code tenant}'s {@code name}, or null. */
    public AdapterRef promotedRef(TenantId tenant, String name) {
        return ref(tenant, name, promoted);
    }

    public AdapterRef canaryRef(TenantId tenant, String name) {
        return ref(tenant, name, canary);
    }

    /**
     * While no version serves: the version that was promoted when a GPU node quarantined it (the
     * latest such), which the name answers with until another is promoted. Read from the versions'
     * histories, so the state needs no field of its own for it.
     */
    public Optional<Version> quarantinedPromotion() {
        if (promoted != null || canary != null) {
            return Optional.empty();
        }
        Version latest = null;
        long latestAt = Long.MIN_VALUE;
        for (Version v : versions) {
            List<Change> history = v.history();
            if (v.state() != VersionState.FAILED || history.size() < 2
                    || history.get(history.size() - 2).state() != VersionState.PROMOTED) {
                continue;
            }
            long at = history.getLast().epochMillis();
            if (latest == null || at >= latestAt) {
                latest = v;
                latestAt = at;
            }
        }
        return Optional.ofNullable(latest);
    }

    private AdapterRef ref(TenantId tenant, String name, Integer number) {
        if (number == null) {
            return null;
        }
        Version v = version(number).orElseThrow();
        return new AdapterRef(tenant, name, v.number(), v.hash(), v.baseIdentity());
    }

    public AdapterView view(TenantId tenant, String name) {
        return new AdapterView(tenant, name, exists(), promoted, canary, canary == null ? 0 : canaryShare,
                versions.stream().map(Version::view).toList());
    }

    /** The state after {@code event}. */
    public AdapterState apply(AdapterEvent event) {
        return switch (event) {
            case VersionUploaded e -> {
                List<Version> more = new ArrayList<>(versions);
                more.add(new Version(e.version(), e.hash(), e.bytes(), VersionState.UPLOADED, null, null, 0, e.source(),
                        e.atEpochMillis(), List.of(new Change(e.atEpochMillis(), VersionState.UPLOADED, "from " + e.source())),
                        e.baseModel()));
                yield new AdapterState(more, Math.max(lastVersion, e.version()), promoted, canary, canaryShare,
                        previouslyPromoted, tombstones);
            }
            case VersionValidated e -> withVersion(e.version(), v -> {
                Version ready = v.moveTo(VersionState.READY, e.atEpochMillis(),
                        "validated against base " + e.baseIdentity() + ", max rank " + e.maxRank());
                return new Version(ready.number(), ready.hash(), ready.bytes(), ready.state(), null, e.baseIdentity(),
                        e.maxRank(), ready.source(), ready.createdEpochMillis(), ready.history(), ready.baseModel());
            });
            case VersionRejected e -> withVersion(e.version(), v -> {
                Version rejected = v.moveTo(VersionState.REJECTED, e.atEpochMillis(), e.reason());
                return new Version(rejected.number(), rejected.hash(), rejected.bytes(), rejected.state(), e.reason(),
                        rejected.baseIdentity(), rejected.maxRank(), rejected.source(), rejected.createdEpochMillis(),
                        rejected.history(), rejected.baseModel());
            });
            case VersionPromoted e -> {
                AdapterState s = this;
                List<Integer> before = new ArrayList<>(previouslyPromoted);
                if (promoted != null && promoted != e.version()) {
                    s = s.withVersion(promoted, v -> v.moveTo(VersionState.READY, e.atEpochMillis(), "replaced by v" + e.version()));
                    before.remove(promoted);
                    before.add(promoted);
                }
                before.remove(Integer.valueOf(e.version()));
                s = s.withVersion(e.version(), v -> v.moveTo(VersionState.PROMOTED, e.atEpochMillis(), "promoted"));
                boolean wasCanary = canary != null && canary == e.version();
                yield new AdapterState(s.versions, lastVersion, e.version(), wasCanary ? null : canary,
                        wasCanary ? 0 : canaryShare, before, tombstones);
            }
            case CanaryStarted e -> {
                AdapterState s = withVersion(e.version(),
                        v -> v.moveTo(VersionState.CANARY, e.atEpochMillis(), "canary for a share of " + e.share()));
                yield new AdapterState(s.versions, lastVersion, promoted, e.version(), e.share(), previouslyPromoted, tombstones);
            }
            case CanaryStopped e -> {
                AdapterState s = withVersion(e.version(), v -> v.moveTo(VersionState.READY, e.atEpochMillis(), "canary stopped"));
                yield new AdapterState(s.versions, lastVersion, promoted, null, 0, previouslyPromoted, tombstones);
            }
            case RolledBack e -> {
                AdapterState s = withVersion(e.from(),
                        v -> v.moveTo(VersionState.ROLLED_BACK, e.atEpochMillis(), "rolled back to v" + e.to()))
                        .withVersion(e.to(), v -> v.moveTo(VersionState.PROMOTED, e.atEpochMillis(), "promoted by a rollback"));
                List<Integer> before = new ArrayList<>(previouslyPromoted);
                int at = before.lastIndexOf(e.to());
                List<Integer> remaining = at < 0 ? before : before.subList(0, at);
                boolean wasCanary = canary != null && canary == e.to();
                yield new AdapterState(s.versions, lastVersion, e.to(), wasCanary ? null : canary, wasCanary ? 0 : canaryShare,
                        remaining, tombstones);
            }
            case VersionRetired e -> {
                AdapterState s = withVersion(e.version(), v -> v.moveTo(VersionState.RETIRED, e.atEpochMillis(), "retired"));
                List<Integer> before = new ArrayList<>(previouslyPromoted);
                before.remove(Integer.valueOf(e.version()));
                yield new AdapterState(s.versions, lastVersion, promoted, canary, canaryShare, before, tombstones);
            }
            case VersionFailed e -> {
                AdapterState s = withVersion(e.version(), v -> {
                    Version failed = v.moveTo(VersionState.FAILED, e.atEpochMillis(), e.reason());
                    return new Version(failed.number(), failed.hash(), failed.bytes(), failed.state(), e.reason(),
                            failed.baseIdentity(), failed.maxRank(), failed.source(), failed.createdEpochMillis(), failed.history(),
                            failed.baseModel());
                });
                // it serves no traffic from now on; rollbacks never return to it
                boolean wasPromoted = promoted != null && promoted == e.version();
                boolean wasCanary = canary != null && canary == e.version();
                List<Integer> before = new ArrayList<>(previouslyPromoted);
                before.remove(Integer.valueOf(e.version()));
                yield new AdapterState(s.versions, lastVersion, wasPromoted ? null : promoted, wasCanary ? null : canary,
                        wasCanary ? 0 : canaryShare, before, tombstones);
            }
            case AdapterDeleted e -> {
                List<Tombstone> more = new ArrayList<>(tombstones);
                // an earlier delete's clean-up still pending moves into this one's
                List<ContentHash> pending = new ArrayList<>(pendingCleanup());
                e.live().stream().filter(h -> !pending.contains(h)).forEach(pending::add);
                if (!more.isEmpty()) {
                    Tombstone last = more.removeLast();
                    more.add(new Tombstone(last.epochMillis(), last.hashes(), List.of()));
                }
                more.add(new Tombstone(e.atEpochMillis(), e.hashes(), pending));
                yield new AdapterState(List.of(), lastVersion, null, null, 0, List.of(), more);
            }
            case CleanupCompleted e -> {
                if (tombstones.isEmpty()) {
                    yield this;
                }
                List<Tombstone> cleaned = new ArrayList<>(tombstones);
                Tombstone last = cleaned.removeLast();
                List<ContentHash> pending = new ArrayList<>(last.pendingCleanup());
                pending.removeAll(e.hashes());
                cleaned.add(new Tombstone(last.epochMillis(), last.hashes(), pending));
                yield new AdapterState(versions, lastVersion, promoted, canary, canaryShare, previouslyPromoted, cleaned);
            }
        };
    }

    private AdapterState withVersion(int number, java.util.function.UnaryOperator<Version> change) {
        List<Version> changed = versions.stream().map(v -> v.number() == number ? change.apply(v) : v).toList();
        return new AdapterState(changed, lastVersion, promoted, canary, canaryShare, previouslyPromoted, tombstones);
    }
}
