package io.loraplex.router.testkit;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.Admit;
import io.loraplex.cluster.tenant.TenantProtocol.DenyReason;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.ORSet;
import org.apache.pekko.cluster.ddata.SelfUniqueAddress;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;

/**
 * The Tenant entity double, registered in sharding for {@link TenantProtocol#TYPE_KEY}. Its script
 * is shared by all entities of one test system: keys (written to {@link TenantProtocol#KEY_INDEX} on
 * {@code AddApiKey}), catalogs, tenants that are rate limited, and a log of {@code Finished}.
 */
public final class FakeTenants {

    public static final int MAX_TOKENS_PER_REQUEST = 1000;
    public static final long CREATED = 1_700_000_000L;

    /** key hash → tenant id */
    public final Map<String, String> keys = new ConcurrentHashMap<>();
    /** key hash → its scopes */
    public final Map<String, Set<TenantProtocol.Scope>> scopes = new ConcurrentHashMap<>();
    /** tenant id → the adapter names it tracks (written by {@link FakeAdapters}) */
    public final Map<String, Set<String>> adapterNames = new ConcurrentHashMap<>();
    /** tenant id → its profile, once set up (the admin API's Setup) */
    public final Map<String, TenantProtocol.Setup> profiles = new ConcurrentHashMap<>();
    /** tenant id → its keys created through CreateApiKey */
    public final Map<String, List<TenantProtocol.KeyInfo>> createdKeys = new ConcurrentHashMap<>();
    /** every GetUsage, in arrival order */
    public final List<TenantProtocol.GetUsage> usageQueries = new CopyOnWriteArrayList<>();
    /** tenant id → adapter name → ref */
    public final Map<String, Map<String, AdapterRef>> catalogs = new ConcurrentHashMap<>();
    public final Set<String> rateLimited = ConcurrentHashMap.newKeySet();
    /** tenant id → adapter name → the quarantine it answers with (a name serving nothing, as the entity keeps it) */
    public final Map<String, Map<String, TenantProtocol.Quarantine>> quarantined = new ConcurrentHashMap<>();
    public final List<Admit> admits = new CopyOnWriteArrayList<>();
    /** Every Finished, in arrival order. */
    public final List<TenantProtocol.Finished> finished = new CopyOnWriteArrayList<>();
    /** tenant id → its storage quota in bytes (absent: no quota) */
    public final Map<String, Long> storageQuotas = new ConcurrentHashMap<>();
    /** tenant id → reservation key → bytes (ReserveStorage, ReleaseStorage) */
    public final Map<String, Map<String, Long>> storage = new ConcurrentHashMap<>();
    /** tenant id → upload id → bytes held (HoldUpload, ReleaseUpload, and ReserveStorage's fromUpload) */
    public final Map<String, Map<String, Long>> uploadHolds = new ConcurrentHashMap<>();

    /** Reserved and held bytes of a tenant, as the entity's storage_used_bytes counts them. */
    public long storageUsed(String tenantId) {
        return storage.getOrDefault(tenantId, Map.of()).values().stream().mapToLong(Long::longValue).sum()
                + uploadHolds.getOrDefault(tenantId, Map.of()).values().stream().mapToLong(Long::longValue).sum();
    }

    public static AdapterRef adapter(String tenant, String name) {
        byte[] bytes = (tenant + "/" + name).getBytes(StandardCharsets.UTF_8);
        return new AdapterRef(new TenantId(tenant), name, 1, ContentHash.of(bytes, bytes));
    }

    public void addAdapter(String tenant, String name) {
        catalogs.computeIfAbsent(tenant, t -> new ConcurrentHashMap<>()).put(name, adapter(tenant, name));
    }

    public List<TenantProtocol.Finished> finishedOf(String requestId) {
        List<TenantProtocol.Finished> out = new ArrayList<>();
        for (TenantProtocol.Finished f : finished) {
            if (f.requestId().equals(requestId)) {
                out.add(f);
            }
        }
        return out;
    }

    public Behavior<TenantProtocol.Command> entity(String tenantId) {
        return Behaviors.setup(ctx -> {
            var replicator = DistributedData.get(ctx.getSystem()).replicator();
            SelfUniqueAddress self = DistributedData.get(ctx.getSystem()).selfUniqueAddress();
            return Behaviors.receive(TenantProtocol.Command.class)
                    .onMessage(TenantProtocol.AddApiKey.class, add -> {
                        keys.put(add.keyHash(), tenantId);
                        scopes.put(add.keyHash(), add.scopes());
                        replicator.tell(new Replicator.Update<>(TenantProtocol.KEY_INDEX, LWWMap.create(), Replicator.writeLocal(),
                                ctx.getSystem().ignoreRef(), map -> map.put(self, add.keyHash(), tenantId)));
                        add.replyTo().tell(TenantProtocol.Ack.done());
                        return Behaviors.same();
                    })
                    .onMessage(Admit.class, admit -> {
                        admits.add(admit);
                        admit.replyTo().tell(admission(tenantId, admit));
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.Finished.class, f -> {
                        finished.add(f);
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.ListModels.class, list -> {
                        boolean authorized = tenantId.equals(keys.get(list.keyHash()));
                        List<TenantProtocol.ModelEntry> models = new ArrayList<>();
                        if (authorized) {
                            catalogs.getOrDefault(tenantId, Map.of()).values().stream()
                                    .sorted((a, b) -> a.name().compareTo(b.name()))
                                    .forEach(ref -> models.add(new TenantProtocol.ModelEntry(ref.name(), ref, CREATED)));
                        }
                        list.replyTo().tell(new TenantProtocol.ModelList(authorized, models));
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.ResolveModel.class, resolve -> {
                        AdapterRef ref = catalogs.getOrDefault(tenantId, Map.of()).get(resolve.name());
                        resolve.replyTo().tell(new TenantProtocol.Resolved(ref != null, ref));
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.Authorize.class, auth -> {
                        auth.replyTo().tell(!tenantId.equals(keys.get(auth.keyHash()))
                                ? new TenantProtocol.Authorization(false, DenyReason.UNAUTHORIZED, "unknown key")
                                : !scopes.getOrDefault(auth.keyHash(), Set.of()).contains(auth.scope())
                                ? new TenantProtocol.Authorization(false, DenyReason.FORBIDDEN, "the key lacks " + auth.scope())
                                : new TenantProtocol.Authorization(true, null, ""));
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.ListAdapterNames.class, list -> {
                        list.replyTo().tell(new TenantProtocol.AdapterNames(true,
                                adapterNames.getOrDefault(tenantId, Set.of()).stream().sorted().toList()));
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.Setup.class, setup -> {
                        profiles.put(tenantId, setup);
                        replicator.tell(new Replicator.Update<>(TenantProtocol.TENANT_REGISTRY, ORSet.create(), Replicator.writeLocal(),
                                ctx.getSystem().ignoreRef(), set -> set.add(self, tenantId)));
                        setup.replyTo().tell(TenantProtocol.Ack.done());
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.GetInfo.class, get -> {
                        TenantProtocol.Setup p = profiles.get(tenantId);
                        List<TenantProtocol.KeyInfo> created = createdKeys.getOrDefault(tenantId, List.of());
                        get.replyTo().tell(p == null
                                ? new TenantProtocol.Info(new TenantId(tenantId), null, null, null, 0, 0, 0L, List.of())
                                : new TenantProtocol.Info(new TenantId(tenantId), p.displayName(), p.tier(), p.limits(), created.size(), 0,
                                        storageUsed(tenantId), List.of()));
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.CreateApiKey.class, create -> {
                        String keyId = "key-" + (createdKeys.getOrDefault(tenantId, List.of()).size() + 1);
                        String key = "sk-" + tenantId + "-" + java.util.UUID.randomUUID();
                        createdKeys.computeIfAbsent(tenantId, t -> new CopyOnWriteArrayList<>())
                                .add(new TenantProtocol.KeyInfo(keyId, create.label(), create.scopes(), CREATED * 1000));
                        create.replyTo().tell(new TenantProtocol.KeyCreated(true, keyId, key, create.scopes(), ""));
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.ListApiKeys.class, list -> {
                        list.replyTo().tell(new TenantProtocol.KeyList(profiles.containsKey(tenantId),
                                createdKeys.getOrDefault(tenantId, List.of())));
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.RevokeApiKeyById.class, revoke -> {
                        boolean removed = createdKeys.getOrDefault(tenantId, new ArrayList<>()).removeIf(k -> k.keyId().equals(revoke.keyId()));
                        revoke.replyTo().tell(removed ? TenantProtocol.Ack.done() : new TenantProtocol.Ack(false, "no key " + revoke.keyId()));
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.GetUsage.class, usage -> {
                        usageQueries.add(usage);
                        boolean exists = profiles.containsKey(tenantId) || catalogs.containsKey(tenantId);
                        usage.replyTo().tell(new TenantProtocol.UsageReport(exists, exists
                                ? List.of(new TenantProtocol.UsageRow(usage.fromEpochHour(), "cafe", 3, 120)) : List.of()));
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.HoldUpload.class, hold -> {
                        hold.replyTo().tell(holdUpload(tenantId, hold));
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.ReleaseUpload.class, release -> {
                        uploadHolds.getOrDefault(tenantId, new ConcurrentHashMap<>()).remove(release.uploadId());
                        release.replyTo().tell(TenantProtocol.Ack.done());
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.ReserveStorage.class, reserve -> {
                        reserve.replyTo().tell(reserveStorage(tenantId, reserve));
                        return Behaviors.same();
                    })
                    .onMessage(TenantProtocol.ReleaseStorage.class, release -> {
                        storage.getOrDefault(tenantId, new ConcurrentHashMap<>()).remove(release.key());
                        release.replyTo().tell(TenantProtocol.Ack.done());
                        return Behaviors.same();
                    })
                    .onAnyMessage(m -> Behaviors.same())
                    .build();
        });
    }

    /** As the entity: a hold grows while the quota allows, counting every other hold and reservation. */
    private synchronized TenantProtocol.Ack holdUpload(String tenantId, TenantProtocol.HoldUpload hold) {
        Map<String, Long> holds = uploadHolds.computeIfAbsent(tenantId, t -> new ConcurrentHashMap<>());
        long before = holds.getOrDefault(hold.uploadId(), 0L);
        long quota = storageQuotas.getOrDefault(tenantId, Long.MAX_VALUE);
        long used = storageUsed(tenantId) - before;
        if (hold.totalBytes() > before && hold.totalBytes() > quota - used) {
            return new TenantProtocol.Ack(false, "storage quota exceeded for tenant " + tenantId + ": used " + used
                    + " bytes, requested " + hold.totalBytes() + " bytes, quota " + quota + " bytes");
        }
        holds.put(hold.uploadId(), Math.max(before, hold.totalBytes()));
        return TenantProtocol.Ack.done();
    }

    /** As the entity: the upload's hold becomes the reservation in one step. */
    private synchronized TenantProtocol.Ack reserveStorage(String tenantId, TenantProtocol.ReserveStorage reserve) {
        Map<String, Long> reserved = storage.computeIfAbsent(tenantId, t -> new ConcurrentHashMap<>());
        Map<String, Long> holds = uploadHolds.computeIfAbsent(tenantId, t -> new ConcurrentHashMap<>());
        long fromHold = reserve.fromUpload() == null ? 0 : holds.getOrDefault(reserve.fromUpload(), 0L);
        long quota = storageQuotas.getOrDefault(tenantId, Long.MAX_VALUE);
        long used = storageUsed(tenantId) - fromHold;
        if (!reserved.containsKey(reserve.key()) && reserve.bytes() > quota - used) {
            return new TenantProtocol.Ack(false, "storage quota exceeded for tenant " + tenantId + ": used " + used
                    + " bytes, requested " + reserve.bytes() + " bytes, quota " + quota + " bytes");
        }
        if (reserve.fromUpload() != null) {
            holds.remove(reserve.fromUpload());
        }
        reserved.put(reserve.key(), reserve.bytes());
        return TenantProtocol.Ack.done();
    }

    /** The tokens a request may use at most, as a tenant's bucket that never holds more. */
    public static final int TOKENS_PER_MINUTE = 1_000_000;

    private TenantProtocol.Admission admission(String tenantId, Admit admit) {
        if (!tenantId.equals(keys.get(admit.keyHash()))) {
            return new TenantProtocol.Denied(DenyReason.UNAUTHORIZED, "unknown key", 0);
        }
        if (admit.tokens() > TOKENS_PER_MINUTE) {
            return new TenantProtocol.Denied(DenyReason.REQUEST_TOO_LARGE, "Request too large for tenant " + tenantId + ": it may use "
                    + admit.tokens() + " tokens, above the limit of " + TOKENS_PER_MINUTE + " tokens per minute", 0);
        }
        if (rateLimited.contains(tenantId)) {
            return new TenantProtocol.Denied(DenyReason.RATE_LIMITED, "Rate limit reached for requests: 1 per second", 1500);
        }
        AdapterRef adapter = null;
        if (admit.model() != null) {
            adapter = catalogs.getOrDefault(tenantId, Map.of()).get(admit.model());
            TenantProtocol.Quarantine quarantine = quarantined.getOrDefault(tenantId, Map.of()).get(admit.model());
            if (adapter == null && quarantine != null) {
                return new TenantProtocol.Denied(DenyReason.MODEL_QUARANTINED, "The model `" + admit.model()
                        + "` is unavailable: its version " + quarantine.version() + " was quarantined (" + quarantine.reason() + ").", 0);
            }
            if (adapter == null) {
                return new TenantProtocol.Denied(DenyReason.MODEL_NOT_FOUND, "no adapter " + admit.model(), 0);
            }
        }
        return new TenantProtocol.Admitted(new TenantId(tenantId), adapter, 1.0, MAX_TOKENS_PER_REQUEST);
    }
}
