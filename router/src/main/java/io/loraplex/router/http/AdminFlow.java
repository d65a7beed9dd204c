package io.loraplex.router.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.Limits;
import io.loraplex.router.RouterSettings;
import io.loraplex.router.auth.KeyIndex;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.ddata.ORSet;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;

/**
 * The admin API ({@code /v1/admin/...}): tenants (create or update, list, get), their API keys
 * (create, list, revoke) and their usage. Every request needs the admin key, whose SHA-256 the
 * router's settings hold ({@code loraplex.router.admin-key-sha256}); without that setting the admin
 * API is disabled (403).
 */
final class AdminFlow {

    private static final Set<String> TENANT_FIELDS = Set.of("id", "display_name", "tier", "weight", "limits");
    private static final Set<String> LIMIT_FIELDS = Set.of("requests_per_second", "request_burst", "tokens_per_minute",
            "max_concurrent", "max_tokens_per_request", "storage_quota_bytes");

    private final ActorSystem<?> system;
    private final RouterSettings settings;
    private final Entities entities;
    private final byte[] adminKeyHash; // null: admin API disabled

    AdminFlow(ActorSystem<?> system, RouterSettings settings, Entities entities) {
        this.system = system;
        this.settings = settings;
        this.entities = entities;
        this.adminKeyHash = settings.adminKeySha256().isEmpty() ? null : HexFormat.of().parseHex(settings.adminKeySha256());
    }

    /** Runs {@code action} for an admin, or answers 403 (admin API disabled) or 401 (no or wrong admin key). */
    CompletionStage<HttpResponse> admin(HttpRequest request, Function<HttpRequest, CompletionStage<HttpResponse>> action) {
        CompletionStage<HttpResponse> response;
        try {
            checkAdminKey(request);
            response = action.apply(request);
        } catch (ApiException e) {
            response = CompletableFuture.failedFuture(e);
        }
        return AdapterFlow.answer(response);
    }

    private void checkAdminKey(HttpRequest request) {
        if (adminKeyHash == null) {
            throw ApiError.forbidden("admin API disabled: set loraplex.router.admin-key-sha256 to the SHA-256 of an admin key")
                    .toException();
        }
        Optional<String> key = KeyIndex.bearerKey(request.getHeader("Authorization").map(h -> h.value()));
        if (key.isEmpty()) {
            throw ApiError.invalidApiKey("The admin API needs the admin key in an Authorization header (Bearer ADMIN_KEY).")
                    .toException();
        }
        byte[] given = HexFormat.of().parseHex(TenantProtocol.hashKey(key.get()));
        if (!MessageDigest.isEqual(given, adminKeyHash)) {
            throw ApiError.invalidApiKey("Incorrect admin key provided.").toException();
        }
    }

    /**
     * {@code POST /v1/admin/tenants} {@code {"id", "display_name", "tier", "weight", "limits": {...}}}:
     * creates the tenant or updates it. Limits not given keep their current values (or, for a new
     * tenant, the generous defaults); {@code weight} defaults to 1.
     */
    CompletionStage<HttpResponse> setup(HttpRequest request) {
        return Bodies.read(request, settings.maxBodyBytes(), settings.manageTimeout(), system).thenCompose(bytes -> {
            Fields body = new Fields(Json.parseObject(bytes), "");
            body.allowOnly(TENANT_FIELDS, Set.of());
            TenantId id = AdapterFlow.tenantId(body.requiredString("id"));
            return info(id).thenCompose(current -> {
                boolean exists = current.displayName() != null;
                String displayName = Optional.ofNullable(TextLimits.require("display_name", "display_name",
                        body.string("display_name"), TextLimits.DISPLAY_NAME)).orElse(exists ? current.displayName() : id.value());
                String tier = Optional.ofNullable(body.string("tier")).orElse(exists ? current.tier() : "standard");
                Double weight = body.numberAbove("weight", 0, 1000);
                Limits limits = limits(body, exists && current.limits() != null ? current.limits() : Limits.generous());
                return entities.<TenantProtocol.Ack>tenant(id, replyTo -> new TenantProtocol.Setup(displayName, tier,
                                weight == null ? 1.0 : weight, limits, replyTo))
                        .thenCompose(ack -> {
                            if (!ack.ok()) {
                                throw ApiError.invalid(null, ack.message()).toException();
                            }
                            return info(id);
                        })
                        .thenApply(info -> Responses.json(exists ? 200 : 201, tenant(info)));
            });
        });
    }

    /** {@code GET /v1/admin/tenants}: every tenant the registry knows, with its profile. */
    CompletionStage<HttpResponse> listTenants(HttpRequest request) {
        return registry().thenCompose(ids -> {
            List<CompletableFuture<TenantProtocol.Info>> infos = new ArrayList<>();
            for (String id : ids) {
                infos.add(info(AdapterFlow.tenantId(id)).toCompletableFuture());
            }
            return CompletableFuture.allOf(infos.toArray(CompletableFuture[]::new)).thenApply(done -> {
                ObjectNode body = Json.object();
                body.put("object", "list");
                ArrayNode data = body.putArray("data");
                infos.stream().map(CompletableFuture::join).filter(i -> i.displayName() != null).forEach(i -> data.add(tenant(i)));
                return Responses.json(200, body);
            });
        });
    }

    CompletionStage<HttpResponse> getTenant(String id) {
        return existing(id).thenApply(info -> Responses.json(200, tenant(info)));
    }

    /** {@code POST /v1/admin/tenants/{id}/keys} {@code {"scopes": ["chat", "manage"], "label"}}: the key, shown this once. */
    CompletionStage<HttpResponse> createKey(HttpRequest request, String id) {
        return Bodies.read(request, settings.maxBodyBytes(), settings.manageTimeout(), system).thenCompose(bytes -> {
            Fields body = bytes.length == 0 ? null : new Fields(Json.parseObject(bytes), "");
            if (body != null) {
                body.allowOnly(Set.of("scopes", "label"), Set.of());
            }
            Set<TenantProtocol.Scope> scopes = body == null || !body.has("scopes") ? Set.of(TenantProtocol.Scope.CHAT) : scopes(body);
            String label = body == null ? "" : Optional.ofNullable(body.string("label")).orElse("");
            return existing(id).thenCompose(info -> entities.<TenantProtocol.KeyCreated>tenant(info.tenant(),
                    replyTo -> new TenantProtocol.CreateApiKey(scopes, label, replyTo))).thenApply(created -> {
                        if (!created.ok()) {
                            throw ApiError.invalid(null, created.message()).toException();
                        }
                        ObjectNode key = Json.object();
                        key.put("object", "api_key");
                        key.put("id", created.keyId());
                        key.put("key", created.apiKey());
                        key.put("label", label);
                        ArrayNode s = key.putArray("scopes");
                        created.scopes().stream().map(AdminFlow::scopeName).sorted().forEach(s::add);
                        return Responses.json(201, key);
                    });
        });
    }

    CompletionStage<HttpResponse> listKeys(String id) {
        return entities.<TenantProtocol.KeyList>tenant(AdapterFlow.tenantId(id), TenantProtocol.ListApiKeys::new).thenApply(list -> {
            if (!list.exists()) {
                throw ApiError.tenantNotFound(id).toException();
            }
            ObjectNode body = Json.object();
            body.put("object", "list");
            ArrayNode data = body.putArray("data");
            for (TenantProtocol.KeyInfo k : list.keys()) {
                ObjectNode key = data.addObject();
                key.put("object", "api_key");
                key.put("id", k.keyId());
                key.put("label", k.label());
                ArrayNode s = key.putArray("scopes");
                k.scopes().stream().map(AdminFlow::scopeName).sorted().forEach(s::add);
                key.put("created_at", k.createdEpochMillis() / 1000);
            }
            return Responses.json(200, body);
        });
    }

    CompletionStage<HttpResponse> revokeKey(String id, String keyId) {
        return existing(id).thenCompose(info -> entities.<TenantProtocol.Ack>tenant(info.tenant(),
                replyTo -> new TenantProtocol.RevokeApiKeyById(keyId, replyTo))).thenApply(ack -> {
                    if (!ack.ok()) {
                        throw new ApiError(404, ack.message().isBlank() ? "no key " + keyId + " for tenant " + id : ack.message(),
                                ApiError.INVALID_REQUEST, "key_id", "key_not_found", 0).toException();
                    }
                    ObjectNode body = Json.object();
                    body.put("object", "api_key.revoked");
                    body.put("id", keyId);
                    body.put("revoked", true);
                    return Responses.json(200, body);
                });
    }

    CompletionStage<HttpResponse> usage(HttpRequest request, String id) {
        return Usage.report(entities, AdapterFlow.tenantId(id), Usage.range(request));
    }

    private CompletionStage<TenantProtocol.Info> info(TenantId id) {
        return entities.tenant(id, TenantProtocol.GetInfo::new);
    }

    /** The tenant's info, or a 404 for a tenant never set up. */
    private CompletionStage<TenantProtocol.Info> existing(String id) {
        return info(AdapterFlow.tenantId(id)).thenApply(info -> {
            if (info.displayName() == null) {
                throw ApiError.tenantNotFound(id).toException();
            }
            return info;
        });
    }

    /** The tenant ids of {@link TenantProtocol#TENANT_REGISTRY}, sorted, from this node's replica. */
    private CompletionStage<Set<String>> registry() {
        var replicator = DistributedData.get(system).replicator();
        return AskPattern.<Replicator.Command, Replicator.GetResponse<ORSet<String>>>ask(replicator,
                        replyTo -> new Replicator.Get<>(TenantProtocol.TENANT_REGISTRY, Replicator.readLocal(), replyTo),
                        settings.manageTimeout(), system.scheduler())
                .thenApply(response -> {
                    Set<String> ids = new TreeSet<>();
                    if (response instanceof Replicator.GetSuccess<ORSet<String>> found) {
                        ids.addAll(found.get(TenantProtocol.TENANT_REGISTRY).getElements());
                    }
                    return ids;
                });
    }

    private static Limits limits(Fields body, Limits base) {
        if (!body.has("limits")) {
            return base;
        }
        Fields l = Fields.of(body.get("limits"), "limits");
        l.allowOnly(LIMIT_FIELDS, Set.of());
        Double rps = l.numberAbove("requests_per_second", 0, 1e9);
        Integer burst = l.integer32("request_burst", 1, Integer.MAX_VALUE);
        Long tpm = l.integer("tokens_per_minute", 1, Long.MAX_VALUE);
        Integer concurrent = l.integer32("max_concurrent", 1, Integer.MAX_VALUE);
        Integer maxTokens = l.integer32("max_tokens_per_request", 1, Integer.MAX_VALUE);
        Long quota = l.integer("storage_quota_bytes", 0, Long.MAX_VALUE);
        return new Limits(rps != null ? rps : base.requestsPerSecond(), burst != null ? burst : base.requestBurst(),
                tpm != null ? tpm : base.tokensPerMinute(), concurrent != null ? concurrent : base.maxConcurrent(),
                maxTokens != null ? maxTokens : base.maxTokensPerRequest(), quota != null ? quota : base.storageQuotaBytes());
    }

    private static Set<TenantProtocol.Scope> scopes(Fields body) {
        if (!body.get("scopes").isArray() || body.get("scopes").isEmpty()) {
            throw ApiError.wrongType("scopes", "a non-empty array of \"chat\" and \"manage\"").toException();
        }
        Set<TenantProtocol.Scope> scopes = new java.util.HashSet<>();
        for (var s : body.get("scopes")) {
            String name = s.isTextual() ? s.textValue() : s.toString();
            try {
                scopes.add(TenantProtocol.Scope.valueOf(name.toUpperCase(Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw ApiError.invalid("scopes", "unknown scope " + name + ": a key's scopes are \"chat\" and \"manage\"")
                        .toException();
            }
        }
        return scopes;
    }

    private static String scopeName(TenantProtocol.Scope scope) {
        return scope.name().toLowerCase(Locale.ROOT);
    }

    private static ObjectNode tenant(TenantProtocol.Info info) {
        ObjectNode t = Json.object();
        t.put("object", "tenant");
        t.put("id", info.tenant().value());
        t.put("display_name", info.displayName());
        t.put("tier", info.tier());
        if (info.limits() != null) {
            ObjectNode l = t.putObject("limits");
            l.put("requests_per_second", info.limits().requestsPerSecond());
            l.put("request_burst", info.limits().requestBurst());
            l.put("tokens_per_minute", info.limits().tokensPerMinute());
            l.put("max_concurrent", info.limits().maxConcurrent());
            l.put("max_tokens_per_request", info.limits().maxTokensPerRequest());
            l.put("storage_quota_bytes", info.limits().storageQuotaBytes());
        }
        t.put("keys", info.keys());
        t.put("storage_used_bytes", info.storageUsedBytes());
        t.put("models", info.models().size());
        return t;
    }
}
