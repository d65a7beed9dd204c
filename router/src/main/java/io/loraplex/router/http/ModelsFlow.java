package io.loraplex.router.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.router.RouterSettings;
import io.loraplex.router.auth.KeyIndex;
import io.loraplex.router.placement.Placement;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;

/**
 * {@code GET /v1/models} and {@code GET /v1/models/{id}}: the caller's adapters (from its tenant's
 * catalog) and the base models the nodes serve. Another tenant's adapter is simply not in the
 * caller's catalog, so it answers exactly as a missing model does.
 */
public final class ModelsFlow {

    /** Base models have no catalog entry; they carry the router's start time. */
    private final long startedEpochSeconds = System.currentTimeMillis() / 1000;
    private final RouterSettings settings;
    private final KeyIndex keys;
    private final Placement placement;
    private final ClusterSharding sharding;

    public ModelsFlow(ActorSystem<?> system, RouterSettings settings, KeyIndex keys, Placement placement) {
        this.settings = settings;
        this.keys = keys;
        this.placement = placement;
        this.sharding = ClusterSharding.get(system);
    }

    public CompletionStage<HttpResponse> list(HttpRequest request) {
        return catalog(request).thenApply(models -> {
            ObjectNode body = Json.object();
            body.put("object", "list");
            ArrayNode data = body.putArray("data");
            for (String base : placement.baseModels()) {
                data.add(model(base, startedEpochSeconds, "loraplex"));
            }
            for (TenantProtocol.ModelEntry e : models.models()) {
                data.add(model(e.name(), e.createdEpochSeconds(), ownerOf(e)));
            }
            return Responses.json(200, body);
        }).exceptionally(ModelsFlow::failed);
    }

    public CompletionStage<HttpResponse> get(HttpRequest request, String id) {
        return catalog(request).thenApply(models -> {
            if (placement.baseModels().contains(id)) {
                return Responses.json(200, model(id, startedEpochSeconds, "loraplex"));
            }
            for (TenantProtocol.ModelEntry e : models.models()) {
                if (e.name().equals(id)) {
                    return Responses.json(200, model(e.name(), e.createdEpochSeconds(), ownerOf(e)));
                }
            }
            throw ApiError.modelNotFound(id).toException();
        }).exceptionally(ModelsFlow::failed);
    }

    private CompletionStage<TenantProtocol.ModelList> catalog(HttpRequest request) {
        return Caller.authenticate(request, keys).thenCompose(caller -> sharding.entityRefFor(TenantProtocol.TYPE_KEY,
                        caller.tenant().value())
                .<TenantProtocol.ModelList>ask(replyTo -> new TenantProtocol.ListModels(caller.keyHash(), replyTo), settings.modelsTimeout()))
                .handle((list, failure) -> {
                    if (failure != null) {
                        if (Responses.unwrap(failure) instanceof ApiException api) {
                            throw api; // authentication's own answer (401)
                        }
                        throw ApiError.unavailable("The tenant service did not answer; retry the request.").toException();
                    }
                    if (!list.authorized()) {
                        throw ApiError.invalidApiKey("Incorrect API key provided.").toException();
                    }
                    return list;
                });
    }

    private static String ownerOf(TenantProtocol.ModelEntry e) {
        return e.adapter() != null ? e.adapter().tenant().value() : "loraplex";
    }

    private static ObjectNode model(String id, long created, String ownedBy) {
        ObjectNode m = Json.object();
        m.put("id", id);
        m.put("object", "model");
        m.put("created", created);
        m.put("owned_by", ownedBy);
        return m;
    }

    private static HttpResponse failed(Throwable t) {
        return Responses.error(Responses.errorOf(t));
    }
}
