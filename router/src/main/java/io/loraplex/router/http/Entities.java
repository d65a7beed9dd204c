package io.loraplex.router.http;

import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.router.auth.KeyIndex;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.http.javadsl.model.HttpRequest;

/**
 * Asks of the sharded Tenant and Adapter entities for the management routes: an entity that does not
 * answer in time is a 503, and {@link #authorize} checks a caller's key and scope with its tenant.
 */
final class Entities {

    private final ClusterSharding sharding;
    private final KeyIndex keys;
    private final Duration timeout;

    Entities(ActorSystem<?> system, KeyIndex keys, Duration timeout) {
        this.sharding = ClusterSharding.get(system);
        this.keys = keys;
        this.timeout = timeout;
    }

    <R> CompletionStage<R> tenant(TenantId tenant, Function<ActorRef<R>, TenantProtocol.Command> message) {
        return sharding.entityRefFor(TenantProtocol.TYPE_KEY, tenant.value()).<R>ask(message::apply, timeout)
                .exceptionally(t -> {
                    throw ApiError.unavailable("The tenant service did not answer; retry the request.").toException();
                });
    }

    /** An Adapter entity's reply; {@code name} must be {@link AdapterProtocol#requireName valid}. */
    CompletionStage<AdapterProtocol.Reply> adapter(TenantId tenant, String name,
            Function<ActorRef<AdapterProtocol.Reply>, AdapterProtocol.Command> message, Duration wait) {
        return sharding.entityRefFor(AdapterProtocol.TYPE_KEY, AdapterProtocol.entityId(tenant, name))
                .<AdapterProtocol.Reply>ask(message::apply, wait)
                .exceptionally(t -> {
                    throw ApiError.unavailable("The adapter service did not answer within " + wait.toSeconds()
                            + " s; retry the request (GET /v1/adapters/" + name + " shows what happened).").toException();
                });
    }

    CompletionStage<AdapterProtocol.Reply> adapter(TenantId tenant, String name,
            Function<ActorRef<AdapterProtocol.Reply>, AdapterProtocol.Command> message) {
        return adapter(tenant, name, message, timeout);
    }

    /**
     * The caller of {@code request} when its key has {@code scope} with its tenant: 401 for a key
     * nobody knows (or one revoked), 403 for a key without the scope.
     */
    CompletionStage<Caller> authorize(HttpRequest request, TenantProtocol.Scope scope) {
        return Caller.authenticate(request, keys).thenCompose(caller -> this.<TenantProtocol.Authorization>tenant(caller.tenant(),
                        replyTo -> new TenantProtocol.Authorize(caller.keyHash(), scope, replyTo))
                .thenApply(authorization -> {
                    if (authorization.ok()) {
                        return caller;
                    }
                    if (authorization.reason() == TenantProtocol.DenyReason.FORBIDDEN) {
                        throw ApiError.forbidden("This API key lacks the '" + scope.name().toLowerCase() + "' scope"
                                + (scope == TenantProtocol.Scope.MANAGE ? ", which managing adapters and reading usage needs" : "")
                                + ". Ask your administrator for a key with that scope.").toException();
                    }
                    throw ApiError.invalidApiKey("Incorrect API key provided.").toException();
                }));
    }
}
