package io.loraplex.router.testkit;

import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.adapter.AdapterProtocol.AdapterView;
import io.loraplex.cluster.adapter.AdapterProtocol.Error;
import io.loraplex.cluster.adapter.AdapterProtocol.HistoryEntry;
import io.loraplex.cluster.adapter.AdapterProtocol.Reply;
import io.loraplex.cluster.adapter.AdapterProtocol.VersionState;
import io.loraplex.cluster.adapter.AdapterProtocol.VersionView;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The Adapter entity double, registered in sharding for {@link AdapterProtocol#TYPE_KEY}: versions
 * become READY at once unless the test scripted a rejection for the name or a storage quota for the
 * tenant; promote, canary, rollback and delete follow the real entity's contract in the small
 * (the real entity, in persistence, has its own tests). It tracks names in {@link FakeTenants}.
 */
public final class FakeAdapters {

    public static final String BASE = "base-identity-of-the-test";

    /** Every RegisterVersion, in arrival order. */
    public final List<AdapterProtocol.RegisterVersion> registered = new CopyOnWriteArrayList<>();
    /** adapter name → the reason validation rejects its versions with */
    public final Map<String, String> rejections = new ConcurrentHashMap<>();
    /** adapter names whose versions stay UPLOADED (validation still pending when the entity answers) */
    public final java.util.Set<String> pending = ConcurrentHashMap.newKeySet();
    /** tenant id → storage quota in bytes (none: unlimited) */
    public final Map<String, Long> quotas = new ConcurrentHashMap<>();

    private final FakeTenants tenants;

    public FakeAdapters(FakeTenants tenants) {
        this.tenants = tenants;
    }

    public Behavior<AdapterProtocol.Command> entity(String entityId) {
        int bar = entityId.indexOf('|');
        TenantId tenant = new TenantId(entityId.substring(0, bar));
        String name = entityId.substring(bar + 1);
        return Behaviors.setup(ctx -> new Entity(tenant, name).behavior());
    }

    private final class Entity {
        final TenantId tenant;
        final String name;
        final List<VersionView> versions = new ArrayList<>();
        final Deque<Integer> promotedBefore = new ArrayDeque<>();
        Integer promoted;
        Integer canary;
        double share;

        Entity(TenantId tenant, String name) {
            this.tenant = tenant;
            this.name = name;
        }

        Behavior<AdapterProtocol.Command> behavior() {
            return Behaviors.receive(AdapterProtocol.Command.class)
                    .onMessage(AdapterProtocol.RegisterVersion.class, r -> reply(r.replyTo(), register(r)))
                    .onMessage(AdapterProtocol.Get.class, g -> reply(g.replyTo(), Reply.ok(view())))
                    .onMessage(AdapterProtocol.Promote.class, p -> reply(p.replyTo(), promote(p.version())))
                    .onMessage(AdapterProtocol.StartCanary.class, c -> reply(c.replyTo(), canary(c.version(), c.share())))
                    .onMessage(AdapterProtocol.StopCanary.class, c -> reply(c.replyTo(), stopCanary()))
                    .onMessage(AdapterProtocol.Rollback.class, r -> reply(r.replyTo(), rollback()))
                    .onMessage(AdapterProtocol.Delete.class, d -> reply(d.replyTo(), delete()))
                    .onAnyMessage(m -> Behaviors.same())
                    .build();
        }

        Behavior<AdapterProtocol.Command> reply(org.apache.pekko.actor.typed.ActorRef<Reply> to, Reply reply) {
            to.tell(reply);
            return Behaviors.same();
        }

        Reply register(AdapterProtocol.RegisterVersion r) {
            registered.add(r);
            long used = versions.stream().mapToLong(VersionView::bytes).sum();
            Long quota = quotas.get(tenant.value());
            if (quota != null && used + r.bytes() > quota) {
                return Reply.refused(Error.QUOTA_EXCEEDED, "storage quota of " + quota + " bytes exceeded by " + r.bytes()
                        + " more bytes", view());
            }
            int number = versions.size() + 1;
            String reason = rejections.get(name);
            VersionState state = reason != null ? VersionState.REJECTED : pending.contains(name) ? VersionState.UPLOADED : VersionState.READY;
            versions.add(new VersionView(number, r.hash(), r.bytes(), state, reason, reason == null ? BASE : null, 8, r.source(),
                    1_700_000_000_000L, List.of(new HistoryEntry(1_700_000_000_000L, VersionState.UPLOADED, "uploaded"),
                            new HistoryEntry(1_700_000_001_000L, state, reason == null ? "validated" : reason))));
            tenants.adapterNames.computeIfAbsent(tenant.value(), t -> ConcurrentHashMap.newKeySet()).add(name);
            return reason == null ? Reply.ok(view()) : Reply.refused(Error.REJECTED, reason, view());
        }

        Reply promote(Integer version) {
            if (versions.isEmpty()) {
                return notFound();
            }
            int target = version != null ? version
                    : versions.stream().filter(v -> v.state() == VersionState.READY).mapToInt(VersionView::version).max().orElse(-1);
            VersionView v = version(target);
            if (v == null) {
                return Reply.refused(version == null ? Error.CONFLICT : Error.NOT_FOUND,
                        version == null ? "no ready version to promote" : "no version " + version, view());
            }
            if (v.state() == VersionState.REJECTED) {
                return Reply.refused(Error.CONFLICT, "version " + target + " was rejected", view());
            }
            if (promoted != null) {
                promotedBefore.push(promoted);
                set(promoted, VersionState.READY);
            }
            promoted = target;
            set(target, VersionState.PROMOTED);
            return Reply.ok(view());
        }

        Reply canary(int version, double share) {
            VersionView v = version(version);
            if (v == null) {
                return versions.isEmpty() ? notFound() : Reply.refused(Error.NOT_FOUND, "no version " + version, view());
            }
            if (v.state() != VersionState.READY && v.state() != VersionState.ROLLED_BACK) {
                return Reply.refused(Error.CONFLICT, "version " + version + " is " + v.state() + ", not READY", view());
            }
            canary = version;
            this.share = share;
            set(version, VersionState.CANARY);
            return Reply.ok(view());
        }

        Reply stopCanary() {
            if (versions.isEmpty()) {
                return notFound();
            }
            if (canary == null) {
                return Reply.refused(Error.CONFLICT, "no canary is running", view());
            }
            set(canary, VersionState.READY);
            canary = null;
            share = 0;
            return Reply.ok(view());
        }

        Reply rollback() {
            if (versions.isEmpty()) {
                return notFound();
            }
            if (promotedBefore.isEmpty()) {
                return Reply.refused(Error.CONFLICT, "nothing to roll back to", view());
            }
            set(promoted, VersionState.ROLLED_BACK);
            promoted = promotedBefore.pop();
            set(promoted, VersionState.PROMOTED);
            return Reply.ok(view());
        }

        Reply delete() {
            if (versions.isEmpty()) {
                return notFound();
            }
            versions.clear();
            promotedBefore.clear();
            promoted = null;
            canary = null;
            tenants.adapterNames.getOrDefault(tenant.value(), ConcurrentHashMap.newKeySet()).remove(name);
            return Reply.ok(view());
        }

        Reply notFound() {
            return Reply.refused(Error.NOT_FOUND, "no adapter " + name, view());
        }

        VersionView version(int number) {
            return number >= 1 && number <= versions.size() ? versions.get(number - 1) : null;
        }

        void set(int number, VersionState state) {
            VersionView v = versions.get(number - 1);
            List<HistoryEntry> history = new ArrayList<>(v.history());
            history.add(new HistoryEntry(1_700_000_002_000L, state, ""));
            versions.set(number - 1, new VersionView(v.version(), v.hash(), v.bytes(), state, v.reason(), v.baseIdentity(),
                    v.maxRank(), v.source(), v.createdEpochMillis(), history));
        }

        AdapterView view() {
            return new AdapterView(tenant, name, !versions.isEmpty(), promoted, canary, share, versions);
        }
    }
}
