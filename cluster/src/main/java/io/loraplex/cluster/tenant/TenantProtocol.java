package io.loraplex.cluster.tenant;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.RemoteMessage;
import io.loraplex.cluster.TenantId;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.ddata.Key;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.LWWMapKey;
import org.apache.pekko.cluster.ddata.ORSet;
import org.apache.pekko.cluster.ddata.ORSetKey;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;

/**
 * What routers ask of the sharded {@code Tenant} entity (one per tenant; its shards run on the
 * router role): keys, limits and token buckets, and the catalog of adapter names.
 */
public final class TenantProtocol {

    public static final EntityTypeKey<Command> TYPE_KEY = EntityTypeKey.create(Command.class, "Tenant");

    /**
     * The replicated index of API keys: SHA-256 (hex) of a key to its tenant's id. The Tenant
     * entity writes it when keys are added or revoked; every router reads its local replica.
     */
    public static final Key<LWWMap<String, String>> KEY_INDEX = LWWMapKey.create("loraplex-api-keys");

    /** SHA-256 (hex) of an API key: what the index and the entity store instead of the key. */
    public static String hashKey(String apiKey) {
        try {
            byte[] digest = java.security.MessageDigest.getInstance("SHA-256")
                    .digest(apiKey.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return java.util.HexFormat.of().formatHex(digest);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private TenantProtocol() {
    }

    /** The Distributed Data set of every tenant id (the Tenant entity adds itself on Setup): admin listings. */
    public static final Key<ORSet<String>> TENANT_REGISTRY = ORSetKey.create("loraplex-tenants");

    public sealed interface Command extends RemoteMessage
            permits Setup, AddApiKey, CreateApiKey, ListApiKeys, RevokeApiKeyById, Authorize,
            UpdateCatalog, TrackAdapterName, ListAdapterNames, ReserveStorage, ReleaseStorage, Admit, Finished, ListModels, GetInfo,
            GetUsage, Passivate, ResolveModel, HoldUpload, ReleaseUpload, LetGoStorage {
    }

    /** What a key may do. */
    public enum Scope { CHAT, MANAGE }

    /**
     * A tenant's limits. Requests beyond them are refused with a retry time, never queued without bound.
     *
     * @param requestsPerSecond  the request bucket's refill rate
     * @param requestBurst       the request bucket's size
     * @param tokensPerMinute    the token bucket's refill rate (prompt and generated tokens)
     * @param maxConcurrent      requests in flight at once
     * @param maxTokensPerRequest the largest max_tokens a request may ask for
     * @param storageQuotaBytes  bytes of adapter blobs the tenant may keep
     */
    public record Limits(double requestsPerSecond, int requestBurst, long tokensPerMinute, int maxConcurrent,
            int maxTokensPerRequest, long storageQuotaBytes) implements RemoteMessage {

        public static final long DEFAULT_STORAGE_QUOTA = 10L << 30;

        public Limits {
            if (!(requestsPerSecond > 0) || requestBurst < 1 || tokensPerMinute < 1 || maxConcurrent < 1 || maxTokensPerRequest < 1
                    || storageQuotaBytes < 0) {
                throw new IllegalArgumentException("tenant limits must be positive: " + requestsPerSecond + ", " + requestBurst
                        + ", " + tokensPerMinute + ", " + maxConcurrent + ", " + maxTokensPerRequest + ", " + storageQuotaBytes);
            }
        }

        /** Limits with the default storage quota (10 GiB). */
        public Limits(double requestsPerSecond, int requestBurst, long tokensPerMinute, int maxConcurrent, int maxTokensPerRequest) {
            this(requestsPerSecond, requestBurst, tokensPerMinute, maxConcurrent, maxTokensPerRequest, DEFAULT_STORAGE_QUOTA);
        }

        public static Limits generous() {
            return new Limits(50, 100, 1_000_000, 64, 4096);
        }
    }

    /** Creates or updates a tenant. {@code weight} is its tier's share of the engines. */
    public record Setup(String displayName, String tier, double weight, Limits limits, ActorRef<Ack> replyTo) implements Command {
    }

    /** Adds a key by its SHA-256 (hex); the key itself is never stored. */
    public record AddApiKey(String keyHash, Set<Scope> scopes, ActorRef<Ack> replyTo) implements Command {
        public AddApiKey {
            scopes = Set.copyOf(scopes);
        }
    }

    /**
     * Creates a key: the entity draws it, keeps only its hash, and returns it in clear once. Its id
     * ({@code keyId}) names it in listings and revocations.
     */
    public record CreateApiKey(Set<Scope> scopes, String label, ActorRef<KeyCreated> replyTo) implements Command {
        public CreateApiKey {
            scopes = Set.copyOf(scopes);
        }
    }

    /** {@code apiKey} is shown this once; {@code ok} false with {@code message} when refused. */
    public record KeyCreated(boolean ok, String keyId, String apiKey, Set<Scope> scopes, String message) implements RemoteMessage {
        public KeyCreated {
            scopes = scopes == null ? Set.of() : Set.copyOf(scopes);
        }
    }

    public record ListApiKeys(ActorRef<KeyList> replyTo) implements Command {
    }

    public record KeyInfo(String keyId, String label, Set<Scope> scopes, long createdEpochMillis) implements RemoteMessage {
        public KeyInfo {
            scopes = Set.copyOf(scopes);
        }
    }

    /** {@code exists} false: no such tenant. */
    public record KeyList(boolean exists, List<KeyInfo> keys) implements RemoteMessage {
        public KeyList {
            keys = List.copyOf(keys);
        }
    }

    public record RevokeApiKeyById(String keyId, ActorRef<Ack> replyTo) implements Command {
    }

    /** Is this key the tenant's, with this scope? For routes that manage rather than chat. */
    public record Authorize(String keyHash, Scope scope, ActorRef<Authorization> replyTo) implements Command {
    }

    /** {@code reason} UNAUTHORIZED (401) or FORBIDDEN (403) when {@code ok} is false. */
    public record Authorization(boolean ok, DenyReason reason, String message) implements RemoteMessage {
    }

    /**
     * Sets what a catalog name serves (sent by the Adapter entity, which replies to its own caller
     * only after this is acknowledged). {@code promoted} and {@code canary} both null removes the
     * name, unless {@code quarantined} says why it serves nothing: then a request naming it is
     * refused with that reason ({@link DenyReason#MODEL_QUARANTINED}) until another version is promoted.
     */
    public record UpdateCatalog(String name, AdapterRef promoted, AdapterRef canary, double canaryShare, Quarantine quarantined,
            ActorRef<Ack> replyTo) implements Command {
        public UpdateCatalog(String name, AdapterRef promoted, AdapterRef canary, double canaryShare, ActorRef<Ack> replyTo) {
            this(name, promoted, canary, canaryShare, null, replyTo);
        }
    }

    /**
     * The version a name served until a GPU node quarantined it ({@code AdapterProtocol.MarkFailed}),
     * and why: what a request naming it is told while no other version serves.
     */
    public record Quarantine(int version, String reason) implements RemoteMessage {
        public Quarantine {
            Objects.requireNonNull(reason, "reason");
        }
    }

    /**
     * Records that the tenant has ({@code present}) or no longer has an adapter of this name, served
     * or not (sent by the Adapter entity on its first version and on deletion): what
     * {@code GET /v1/adapters} lists.
     */
    public record TrackAdapterName(String name, boolean present, ActorRef<Ack> replyTo) implements Command {
    }

    public record ListAdapterNames(ActorRef<AdapterNames> replyTo) implements Command {
    }

    /** {@code exists} false: no such tenant. */
    public record AdapterNames(boolean exists, List<String> names) implements RemoteMessage {
        public AdapterNames {
            names = List.copyOf(names);
        }
    }

    /**
     * Reserves {@code bytes} of the storage quota under {@code key} (a content hash); refused past the
     * quota. {@code holder} (an adapter name; null: none) shares the reservation: a key reserved
     * already is not charged again, only its holder added. {@code fromUpload} (null: none) names the
     * upload hold ({@link HoldUpload}) whose bytes became this blob: the hold is dropped in the same
     * step, so the bytes never count twice nor go uncounted.
     */
    public record ReserveStorage(String key, long bytes, String holder, String fromUpload, ActorRef<Ack> replyTo)
            implements Command {
        public ReserveStorage(String key, long bytes, ActorRef<Ack> replyTo) {
            this(key, bytes, null, null, replyTo);
        }
    }

    /**
     * Holds {@code totalBytes} of the storage quota for an upload in progress, before they are
     * written (it only grows; refused past the quota). Kept in the entity's memory, not journaled:
     * it ends with {@link ReleaseUpload}, with its conversion by {@link ReserveStorage#fromUpload},
     * or when it was not renewed for {@code loraplex.tenant.upload-hold-lease}.
     */
    public record HoldUpload(String uploadId, long totalBytes, ActorRef<Ack> replyTo) implements Command {
    }

    /** Drops an upload's hold (refused, aborted, or its blob registered); unknown ids are acknowledged. */
    public record ReleaseUpload(String uploadId, ActorRef<Ack> replyTo) implements Command {
    }

    /**
     * Adapter name {@code holder} no longer uses {@code key}; with its last holder the reservation
     * goes. The answer says how many holders are left: only at 0 may the blob be deleted.
     */
    public record LetGoStorage(String key, String holder, ActorRef<StorageLeft> replyTo) implements Command {
    }

    /** {@code holdersLeft} 0: nothing reserves {@code key} any more. {@code ok} false: the tenant is not set up. */
    public record StorageLeft(boolean ok, String key, int holdersLeft) implements RemoteMessage {
    }

    /** Gives back what {@code key} reserved. */
    public record ReleaseStorage(String key, ActorRef<Ack> replyTo) implements Command {
    }

    /** Usage by hour and model, for billing, over {@code [fromEpochHour, toEpochHour]}. */
    public record GetUsage(long fromEpochHour, long toEpochHour, ActorRef<UsageReport> replyTo) implements Command {
    }

    /** Requests and tokens (prompt and completion) of one model in one hour. */
    public record UsageRow(long epochHour, String model, long requests, long tokens) implements RemoteMessage {
    }

    public record UsageReport(boolean exists, List<UsageRow> rows) implements RemoteMessage {
        public UsageReport {
            rows = List.copyOf(rows);
        }
    }

    /**
     * Asks to run one request: checks the key and its scope, resolves {@code model} (an adapter name
     * of this tenant; null for the base model), and takes from the token buckets.
     *
     * @param tokens the tokens the request may use (prompt estimate plus max_tokens)
     */
    public record Admit(String requestId, String keyHash, Scope scope, String model, int tokens, ActorRef<Admission> replyTo)
            implements Command {
        public Admit {
            Objects.requireNonNull(requestId, "requestId");
            Objects.requireNonNull(keyHash, "keyHash");
        }
    }

    public sealed interface Admission extends RemoteMessage permits Admitted, Denied {
    }

    /** Go: the adapter version to use (null for the base), and the tenant's scheduling weight. */
    public record Admitted(TenantId tenant, AdapterRef adapter, double weight, int maxTokensPerRequest) implements Admission {
    }

    public enum DenyReason {
        /** The key is unknown or revoked (401). */
        UNAUTHORIZED,
        /** The key lacks the scope (403). */
        FORBIDDEN,
        /** No such adapter for this tenant (404), exactly as for another tenant's adapter. */
        MODEL_NOT_FOUND,
        /** Over a rate, token or concurrency limit that waiting lifts (429 with Retry-After). */
        RATE_LIMITED,
        /** Larger than a limit no wait lifts: more tokens than the tenant's bucket ever holds (400 naming the limit). */
        REQUEST_TOO_LARGE,
        /**
         * The name's promoted version was quarantined and no other serves (422 {@code adapter_quarantined},
         * the message naming the version and why), until another version is promoted.
         */
        MODEL_QUARANTINED
    }

    public record Denied(DenyReason reason, String message, long retryAfterMillis) implements Admission {
    }

    /** A request admitted earlier has ended, having used {@code tokens} tokens in all. */
    public record Finished(String requestId, int tokens) implements Command {
    }

    /** The adapter names a key may use. */
    public record ListModels(String keyHash, ActorRef<ModelList> replyTo) implements Command {
    }

    public record ModelEntry(String name, AdapterRef adapter, long createdEpochSeconds) implements RemoteMessage {
    }

    /** {@code authorized} false: the key is not this tenant's. */
    public record ModelList(boolean authorized, List<ModelEntry> models) implements RemoteMessage {
        public ModelList {
            models = List.copyOf(models);
        }
    }

    /**
     * Sent by Cluster Sharding (its stop message) to an entity it hands off or passivates: the entity
     * journals what it holds only in memory (usage not yet flushed) and stops. Routers never send it.
     */
    /**
     * Resolves an adapter name of this tenant to its promoted version, for operators (pin, evict,
     * prefetch) who hold no tenant key; {@code adapter} null when the name is unknown.
     */
    public record ResolveModel(String name, ActorRef<Resolved> replyTo) implements Command {
    }

    public record Resolved(boolean exists, AdapterRef adapter) implements RemoteMessage {
    }

    public record Passivate() implements Command {
    }

    public record GetInfo(ActorRef<Info> replyTo) implements Command {
    }

    public record Info(TenantId tenant, String displayName, String tier, Limits limits, int keys, int inFlight,
            long storageUsedBytes, List<ModelEntry> models) implements RemoteMessage {
        public Info {
            models = List.copyOf(models);
        }
    }

    public record Ack(boolean ok, String message) implements RemoteMessage {
        public static Ack done() {
            return new Ack(true, "");
        }
    }
}
