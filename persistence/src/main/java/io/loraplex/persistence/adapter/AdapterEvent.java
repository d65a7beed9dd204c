package io.loraplex.persistence.adapter;

import io.loraplex.cluster.ContentHash;
import io.loraplex.persistence.CborSerializable;
import java.util.List;

/**
 * What the {@code Adapter} entity journals, as Jackson CBOR. Versions are named by their number;
 * the tenant and adapter name are the entity's id and never repeated here. A field renamed or
 * retyped later needs a {@code JacksonMigration} (see {@code reference.conf}).
 */
public sealed interface AdapterEvent extends CborSerializable
        permits AdapterEvent.VersionUploaded, AdapterEvent.VersionValidated, AdapterEvent.VersionRejected,
        AdapterEvent.VersionPromoted, AdapterEvent.CanaryStarted, AdapterEvent.CanaryStopped, AdapterEvent.RolledBack,
        AdapterEvent.VersionRetired, AdapterEvent.AdapterDeleted, AdapterEvent.VersionFailed, AdapterEvent.CleanupCompleted {

    /**
     * A new version whose blob is stored and whose bytes are reserved against the tenant's quota;
     * {@code baseModel} is the base model it is for, validated on a node serving it (null: the
     * fleet's only base, and in every event journaled before versions named their base).
     */
    record VersionUploaded(int version, ContentHash hash, long bytes, String source, long atEpochMillis, String baseModel)
            implements AdapterEvent {

        /** A version for the fleet's only base model. */
        public VersionUploaded(int version, ContentHash hash, long bytes, String source, long atEpochMillis) {
            this(version, hash, bytes, source, atEpochMillis, null);
        }
    }

    /** A GPU node loaded the version against its base: it is READY. */
    record VersionValidated(int version, String baseIdentity, int maxRank, long atEpochMillis) implements AdapterEvent {
    }

    /** A GPU node refused the version; its blob and reservation are given back. */
    record VersionRejected(int version, String reason, long atEpochMillis) implements AdapterEvent {
    }

    /** The name now serves {@code version}; the version promoted before goes back to READY. */
    record VersionPromoted(int version, long atEpochMillis) implements AdapterEvent {
    }

    /** {@code version} serves {@code share} of the name's traffic. */
    record CanaryStarted(int version, double share, long atEpochMillis) implements AdapterEvent {
    }

    /** The canary {@code version} goes back to READY. */
    record CanaryStopped(int version, long atEpochMillis) implements AdapterEvent {
    }

    /** The promoted pointer moved back from {@code from} (now ROLLED_BACK) to {@code to}. */
    record RolledBack(int from, int to, long atEpochMillis) implements AdapterEvent {
    }

    /** {@code version} is out of service, kept until the adapter is deleted. */
    record VersionRetired(int version, long atEpochMillis) implements AdapterEvent {
    }

    /**
     * The adapter is gone: the tombstone keeps the hashes of the versions it had; {@code live} are
     * those whose reservation (and blob) it still held, to clean up after this event (absent in
     * events journaled before clean-ups were tracked: none).
     */
    record AdapterDeleted(List<ContentHash> hashes, long atEpochMillis, List<ContentHash> live) implements AdapterEvent {
        public AdapterDeleted {
            hashes = List.copyOf(hashes);
            live = live == null ? List.of() : List.copyOf(live);
        }

        public AdapterDeleted(List<ContentHash> hashes, long atEpochMillis) {
            this(hashes, atEpochMillis, List.of());
        }
    }

    /** The delete's clean-up of {@code hashes} is done: the tenant let go of them, and blobs nobody holds are deleted. */
    record CleanupCompleted(List<ContentHash> hashes, long atEpochMillis) implements AdapterEvent {
        public CleanupCompleted {
            hashes = List.copyOf(hashes);
        }
    }

    /**
     * A GPU node quarantined {@code version}: it turned a request's logits non-finite. It is FAILED
     * with {@code reason} and no longer the promoted version or the canary.
     */
    record VersionFailed(int version, String reason, long atEpochMillis) implements AdapterEvent {
    }
}
