package io.loraplex.router.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.adapter.AdapterProtocol.Reply;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.router.RouterSettings;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;

/**
 * The adapter routes other than the upload ({@code GET /v1/adapters[/{name}]}, promote, canary,
 * rollback, delete) and {@code GET /v1/usage}: each needs a key with scope {@code manage}, then
 * translates into one command to the caller's own Adapter entity. The entity id is the caller's
 * tenant and the name, so another tenant's adapter is not found exactly as a name never used.
 */
final class AdapterFlow {

    private final ActorSystem<?> system;
    private final RouterSettings settings;
    private final Entities entities;

    AdapterFlow(ActorSystem<?> system, RouterSettings settings, Entities entities) {
        this.system = system;
        this.settings = settings;
        this.entities = entities;
    }

    /** The caller's adapters: the names its tenant tracks, each as its entity sees it. */
    CompletionStage<HttpResponse> list(HttpRequest request) {
        return answer(entities.authorize(request, TenantProtocol.Scope.MANAGE)
                .thenCompose(caller -> entities.<TenantProtocol.AdapterNames>tenant(caller.tenant(),
                                TenantProtocol.ListAdapterNames::new)
                        .thenCompose(names -> {
                            List<CompletableFuture<Reply>> gets = new ArrayList<>();
                            for (String name : names.names()) {
                                gets.add(entities.adapter(caller.tenant(), name, AdapterProtocol.Get::new).toCompletableFuture());
                            }
                            return CompletableFuture.allOf(gets.toArray(CompletableFuture[]::new)).thenApply(done -> {
                                ObjectNode body = Json.object();
                                body.put("object", "list");
                                ArrayNode data = body.putArray("data");
                                gets.stream().map(CompletableFuture::join)
                                        .filter(reply -> reply.view() != null && reply.view().exists())
                                        .forEach(reply -> data.add(AdapterJson.adapter(reply.view(), false)));
                                return Responses.json(200, body);
                            });
                        })));
    }

    CompletionStage<HttpResponse> get(HttpRequest request, String name) {
        return command(request, name, AdapterProtocol.Get::new);
    }

    /** Body: optional {@code {"version": n}}; without it the newest ready version. */
    CompletionStage<HttpResponse> promote(HttpRequest request, String name) {
        return body(request, Set.of("version")).thenCompose(fields -> {
            Integer version = fields == null ? null : fields.integer32("version", 1, Integer.MAX_VALUE);
            return command(request, name, replyTo -> new AdapterProtocol.Promote(version, replyTo));
        });
    }

    /**
     * Body {@code {"version": n, "share": s}}: 0 < s < 1 starts (or moves) the canary, {@code share: 0}
     * stops it, as {@code DELETE /v1/adapters/{name}/canary} does.
     */
    CompletionStage<HttpResponse> canary(HttpRequest request, String name) {
        return body(request, Set.of("version", "share")).thenCompose(fields -> {
            if (fields == null) {
                throw ApiError.invalid("share", "you must provide 'version' and 'share' (0 < share < 1; 0 stops the canary)")
                        .toException();
            }
            Double share = fields.number("share", 0, 1);
            if (share == null) {
                throw ApiError.invalid("share", "you must provide 'share' (0 < share < 1; 0 stops the canary)").toException();
            }
            if (share == 0) {
                return command(request, name, AdapterProtocol.StopCanary::new);
            }
            if (share >= 1) {
                throw ApiError.invalid("share", "'share' must be below 1 (promote the version to send it all traffic), got 1")
                        .toException();
            }
            Integer version = fields.integer32("version", 1, Integer.MAX_VALUE);
            if (version == null) {
                throw ApiError.invalid("version", "you must provide 'version', the version to canary").toException();
            }
            return command(request, name, replyTo -> new AdapterProtocol.StartCanary(version, share, replyTo));
        });
    }

    CompletionStage<HttpResponse> stopCanary(HttpRequest request, String name) {
        return command(request, name, AdapterProtocol.StopCanary::new);
    }

    CompletionStage<HttpResponse> rollback(HttpRequest request, String name) {
        return command(request, name, AdapterProtocol.Rollback::new);
    }

    CompletionStage<HttpResponse> delete(HttpRequest request, String name) {
        return answer(entities.authorize(request, TenantProtocol.Scope.MANAGE)
                .thenCompose(caller -> validName(name).thenCompose(valid -> entities.adapter(caller.tenant(), name,
                        AdapterProtocol.Delete::new)))
                .thenApply(reply -> {
                    if (!reply.ok()) {
                        throw refusal(reply, name).toException();
                    }
                    ObjectNode body = Json.object();
                    body.put("object", "adapter.deleted");
                    body.put("name", name);
                    body.put("deleted", true);
                    return Responses.json(200, body);
                }));
    }

    /** {@code GET /v1/usage?from=&to=}: the caller's own tenant's usage (epoch hours, inclusive). */
    CompletionStage<HttpResponse> usage(HttpRequest request) {
        return answer(entities.authorize(request, TenantProtocol.Scope.MANAGE)
                .thenCompose(caller -> Usage.report(entities, caller.tenant(), Usage.range(request))));
    }

    /** Authorizes, sends one command to the caller's entity of {@code name}, and answers with the adapter after it. */
    private CompletionStage<HttpResponse> command(HttpRequest request, String name,
            Function<ActorRef<Reply>, AdapterProtocol.Command> message) {
        return answer(entities.authorize(request, TenantProtocol.Scope.MANAGE)
                .thenCompose(caller -> validName(name).thenCompose(valid -> entities.adapter(caller.tenant(), name, message)))
                .thenApply(reply -> {
                    if (!reply.ok()) {
                        throw refusal(reply, name).toException();
                    }
                    if (reply.view() == null || !reply.view().exists()) {
                        throw ApiError.adapterNotFound(name).toException();
                    }
                    return Responses.json(200, AdapterJson.adapter(reply.view(), true));
                }));
    }

    /** The HTTP error of a refused command. */
    static ApiError refusal(Reply reply, String name) {
        String message = reply.message() == null || reply.message().isBlank() ? "refused" : reply.message();
        if (reply.error() == null) {
            return ApiError.internal("the adapter service refused without a reason: " + message);
        }
        return switch (reply.error()) {
            case NOT_FOUND -> reply.view() != null && reply.view().exists()
                    ? new ApiError(404, message, ApiError.INVALID_REQUEST, "version", "version_not_found", 0)
                    : ApiError.adapterNotFound(name);
            case CONFLICT -> ApiError.conflict(message);
            case INVALID -> ApiError.invalid(null, message);
            case QUOTA_EXCEEDED -> ApiError.quotaExceeded(message);
            case REJECTED -> ApiError.adapterRejected(message);
            case UNAVAILABLE -> ApiError.unavailable(message);
        };
    }

    static CompletionStage<Void> validName(String name) {
        try {
            AdapterProtocol.requireName(name);
            return CompletableFuture.completedFuture(null);
        } catch (IllegalArgumentException e) {
            return CompletableFuture.failedFuture(ApiError.invalid("name", e.getMessage()).toException());
        }
    }

    /** The JSON body's fields limited to {@code known}, or null for an empty body. */
    private CompletionStage<Fields> body(HttpRequest request, Set<String> known) {
        return Bodies.read(request, settings.maxBodyBytes(), settings.manageTimeout(), system).thenApply(bytes -> {
            if (bytes.length == 0) {
                return null;
            }
            Fields fields = new Fields(Json.parseObject(bytes), "");
            fields.allowOnly(known, Set.of());
            return fields;
        });
    }

    static CompletionStage<HttpResponse> answer(CompletionStage<HttpResponse> response) {
        return response.exceptionally(t -> Responses.error(Responses.errorOf(t)));
    }

    /** For the admin routes too: a tenant id from a path, or a 400. */
    static TenantId tenantId(String id) {
        try {
            return new TenantId(id);
        } catch (IllegalArgumentException e) {
            throw ApiError.invalid("id", e.getMessage()).toException();
        }
    }
}
