package io.loraplex.router.http;

import static org.apache.pekko.http.javadsl.server.PathMatchers.segment;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import io.loraplex.cluster.node.GpuNodeProtocol.HeldAdapter;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.router.RouterSettings;
import io.loraplex.router.auth.KeyIndex;
import io.loraplex.router.placement.Fleet;
import io.loraplex.router.placement.Placement;
import io.loraplex.router.placement.Placement.NodeView;
import io.loraplex.router.placement.Sessions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * The fleet's HTTP API. For operators (admin key): {@code /v1/admin/nodes} (list, one, drain,
 * undrain), {@code /v1/admin/rebalance}, and pin/unpin/evict of a tenant's adapter under
 * {@code /v1/admin/tenants/{tenant}/adapters/{name}/...}. For tenants (chat key):
 * {@code POST /v1/sessions}, which places a chat session and warms its adapter on the chosen node.
 */
public final class FleetRoutes extends AllDirectives {

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Set<String> SESSION_FIELDS = Set.of("model");
    private static final Set<String> NODE_FIELDS = Set.of("node");

    private final ActorSystem<?> system;
    private final RouterSettings settings;
    private final Placement placement;
    private final Fleet fleet;
    private final Sessions sessions;
    private final Entities entities;
    private final AdminFlow admin;
    private final Duration loadTimeout;

    public FleetRoutes(ActorSystem<?> system, RouterSettings settings, KeyIndex keys, Placement placement, Fleet fleet,
            Sessions sessions, Duration loadTimeout) {
        this.system = system;
        this.settings = settings;
        this.placement = placement;
        this.fleet = fleet;
        this.sessions = sessions;
        this.entities = new Entities(system, keys, settings.manageTimeout());
        this.admin = new AdminFlow(system, settings, entities);
        this.loadTimeout = loadTimeout;
    }

    /** The routes; a load on a node (a session's prefetch, a pin) may take up to the load timeout. */
    public Route route() {
        return withRequestTimeout(loadTimeout.plusSeconds(5), () -> concat(
                path(segment("v1").slash("sessions"), () -> post(() -> extractRequest(r -> completeWithFuture(
                        AdapterFlow.answer(createSession(r)))))),
                pathPrefix(segment("v1").slash("admin"), () -> concat(
                        path("nodes", () -> get(() -> admin(this::listNodes))),
                        path(segment("nodes").slash(segment()), id -> get(() -> admin(r -> nodeOrThrow(id)
                                .thenApply(n -> Responses.json(200, node(n)))))),
                        path(segment("nodes").slash(segment()).slash("drain"), id -> post(() -> admin(r -> drain(id)))),
                        path(segment("nodes").slash(segment()).slash("undrain"), id -> post(() -> admin(r -> undrain(id)))),
                        path("rebalance", () -> post(() -> admin(r -> rebalance()))),
                        pathPrefix(segment("tenants").slash(segment()).slash("adapters").slash(segment()),
                                (tenant, name) -> path(segment(), action -> post(() -> admin(r -> adapterAction(r, tenant, name,
                                        action)))))))));
    }

    private Route admin(java.util.function.Function<HttpRequest, CompletionStage<HttpResponse>> action) {
        return extractRequest(r -> completeWithFuture(admin.admin(r, action)));
    }

    // --- nodes ---

    private CompletionStage<HttpResponse> listNodes(HttpRequest request) {
        ObjectNode body = Json.object();
        body.put("object", "list");
        ArrayNode data = body.putArray("data");
        for (NodeView n : placement.nodes()) {
            data.add(node(n));
        }
        ObjectNode prefetch = body.putObject("prefetch");
        prefetch.put("hits", sessions.hits());
        prefetch.put("misses", sessions.misses());
        return CompletableFuture.completedFuture(Responses.json(200, body));
    }

    private CompletionStage<NodeView> nodeOrThrow(String id) {
        Optional<NodeView> node = id.isBlank() ? Optional.empty() : placement.node(new NodeId(id));
        if (node.isEmpty()) {
            return CompletableFuture.failedFuture(new ApiError(404, "No GPU node '" + id + "' is in the cluster (GET /v1/admin/nodes lists them).",
                    ApiError.INVALID_REQUEST, "node", "node_not_found", 0).toException());
        }
        return CompletableFuture.completedFuture(node.get());
    }

    private CompletionStage<HttpResponse> drain(String id) {
        return nodeOrThrow(id).thenCompose(n -> fleet.drain(n).thenApply(ack -> {
            if (!ack.ok()) {
                throw ApiError.conflict("node " + id + " refused the drain: " + ack.message()).toException();
            }
            return Responses.json(202, node(placement.node(n.id()).orElse(n)));
        })).exceptionally(t -> {
            throw failure(t, id);
        });
    }

    private CompletionStage<HttpResponse> undrain(String id) {
        return nodeOrThrow(id).thenCompose(n -> fleet.undrain(n).thenApply(ack -> {
            if (!ack.ok()) {
                throw ApiError.conflict("node " + id + " refused the undrain: " + ack.message()).toException();
            }
            return Responses.json(200, node(placement.node(n.id()).orElse(n)));
        })).exceptionally(t -> {
            throw failure(t, id);
        });
    }

    private static RuntimeException failure(Throwable t, String node) {
        Throwable cause = Responses.unwrap(t);
        if (cause instanceof ApiException api) {
            return api;
        }
        return ApiError.unavailable("node " + node + " did not answer: " + cause.getMessage()).toException();
    }

    private CompletionStage<HttpResponse> rebalance() {
        return fleet.rebalance().thenApply(moves -> {
            ObjectNode body = Json.object();
            ArrayNode out = body.putArray("moves");
            for (Fleet.Move m : moves) {
                ObjectNode o = out.addObject();
                o.put("tenant", m.adapter().tenant().value());
                o.put("name", m.adapter().name());
                o.put("version", m.adapter().version());
                o.put("from", m.from().value());
                o.put("to", m.to().value());
            }
            return Responses.json(200, body);
        });
    }

    // --- pin, unpin, evict ---

    private CompletionStage<HttpResponse> adapterAction(HttpRequest request, String tenantId, String name, String action) {
        if (!Set.of("pin", "unpin", "evict").contains(action)) {
            return CompletableFuture.failedFuture(ApiError.notFoundPath("POST", request.getUri().path()).toException());
        }
        TenantId tenant = AdapterFlow.tenantId(tenantId);
        return Bodies.read(request, settings.maxBodyBytes(), settings.manageTimeout(), system).thenCompose(bytes -> {
            String nodeId = null;
            if (bytes.length > 0) {
                Fields body = new Fields(Json.parseObject(bytes), "");
                body.allowOnly(NODE_FIELDS, Set.of());
                nodeId = body.string("node");
            }
            CompletionStage<NodeView> node = nodeId == null ? CompletableFuture.completedFuture(null) : nodeOrThrow(nodeId);
            return node.thenCompose(n -> resolve(tenant, name).thenCompose(ref -> {
                CompletionStage<Fleet.Outcome> done = switch (action) {
                    case "pin" -> fleet.pin(ref, n, true);
                    case "unpin" -> fleet.pin(ref, n, false);
                    default -> fleet.evict(ref, n);
                };
                return done.thenApply(outcome -> {
                    List<NodeId> nodes = outcome.done();
                    if (action.equals("pin") && nodes.isEmpty()) {
                        throw ApiError.unavailable("No GPU node could pin " + tenantId + "/" + name
                                + (outcome.failed().isEmpty() ? "" : ": " + outcome.failed()) + "; retry later.").toException();
                    }
                    ObjectNode body = Json.object();
                    body.put("tenant", tenant.value());
                    body.put("name", ref.name());
                    body.put("version", ref.version());
                    ArrayNode out = body.putArray("nodes");
                    nodes.forEach(id -> out.add(id.value()));
                    if (!outcome.failed().isEmpty()) {
                        ObjectNode failed = body.putObject("failed");
                        outcome.failed().forEach((id, why) -> failed.put(id.value(), why));
                    }
                    return Responses.json(200, body);
                });
            }));
        });
    }

    /** The tenant's promoted version of {@code name} (404 when the tenant or the name is unknown). */
    private CompletionStage<AdapterRef> resolve(TenantId tenant, String name) {
        return entities.<TenantProtocol.Resolved>tenant(tenant, r -> new TenantProtocol.ResolveModel(name, r)).thenApply(resolved -> {
            if (!resolved.exists()) {
                throw ApiError.modelNotFound(name).toException();
            }
            return resolved.adapter();
        });
    }

    // --- sessions ---

    /**
     * {@code POST /v1/sessions {"model"}}: places a chat session of the caller's tenant and makes its
     * adapter hot on the chosen node before answering, so the session's first request finds it hot.
     */
    private CompletionStage<HttpResponse> createSession(HttpRequest request) {
        return entities.authorize(request, TenantProtocol.Scope.CHAT).thenCompose(caller ->
                Bodies.read(request, settings.maxBodyBytes(), settings.manageTimeout(), system).thenCompose(bytes -> {
                    Fields body = new Fields(Json.parseObject(bytes), "");
                    body.allowOnly(SESSION_FIELDS, Set.of());
                    String model = body.requiredString("model");
                    boolean base = placement.baseModels().contains(model);
                    CompletionStage<AdapterRef> adapter = base ? CompletableFuture.completedFuture(null)
                            : entities.<TenantProtocol.Resolved>tenant(caller.tenant(), r -> new TenantProtocol.ResolveModel(model, r))
                                    .thenApply(resolved -> {
                                        if (!resolved.exists()) {
                                            throw ApiError.modelNotFound(model).toException();
                                        }
                                        return resolved.adapter();
                                    });
                    return adapter.thenCompose(ref -> place(caller.tenant(), model, base ? model : null, ref));
                }));
    }

    private CompletionStage<HttpResponse> place(TenantId tenant, String model, String baseModel, AdapterRef ref) {
        Optional<NodeView> chosen = placement.rank(ref, baseModel, Set.of()).stream().findFirst();
        if (chosen.isEmpty()) {
            throw ApiError.noNodeReady("No GPU node is ready to serve " + model + "; retry later.", settings.noNodeRetryAfter())
                    .toException();
        }
        NodeView node = chosen.get();
        String id = "sess_" + HexFormat.of().formatHex(bytes(12));
        String tier = ref == null ? "" : node.tierOf(ref.contentHash()).apiName();
        CompletionStage<GpuNodeProtocol.Ack> warmed = ref == null ? CompletableFuture.completedFuture(GpuNodeProtocol.Ack.done())
                : AskPattern.<GpuNodeProtocol.Command, GpuNodeProtocol.Ack>ask(node.ref(),
                        r -> new GpuNodeProtocol.LoadAdapter(ref, false, r), loadTimeout, system.scheduler());
        return warmed.handle((ack, failure) -> {
            if (failure != null || !ack.ok()) {
                throw ApiError.unavailable("GPU node " + node.id() + " could not load " + model + ": "
                        + (failure != null ? Responses.unwrap(failure).getMessage() : ack.message()) + "; retry.").toException();
            }
            sessions.bind(tenant, id, ref == null ? model : ref.name(), node.id());
            placement.refresh();
            ObjectNode body = Json.object();
            body.put("id", id);
            body.put("object", "session");
            body.put("model", model);
            body.put("node", node.id().value());
            body.put("adapter_tier", tier);
            return Responses.json(200, body);
        });
    }

    private static byte[] bytes(int n) {
        byte[] b = new byte[n];
        RANDOM.nextBytes(b);
        return b;
    }

    // --- JSON ---

    private ObjectNode node(NodeView n) {
        ObjectNode o = Json.object();
        o.put("id", n.id().value());
        Address address = n.ref().path().address();
        o.put("address", address.hasLocalScope() ? Cluster.get(system).selfMember().address().toString() : address.toString());
        ArrayNode roles = o.putArray("roles");
        rolesOf(address).stream().filter(r -> !r.startsWith("dc-")).forEach(roles::add); // not Pekko's data-center role
        GpuNodeProtocol.NodeStats s = n.stats();
        o.put("base_model", s.baseModel());
        o.put("base_identity", s.baseIdentity());
        o.put("ready", n.answering() && s.ready() && !n.isDraining());
        o.put("draining", n.isDraining());
        o.put("answering", n.answering());
        String drain = fleet.drainStatus(n.id());
        if (!drain.isEmpty()) {
            o.put("drain_status", drain);
        }
        o.put("running", s.running());
        o.put("waiting", s.waiting());
        o.put("capacity", s.capacity());
        ArrayNode hot = o.putArray("hot");
        ArrayNode warm = o.putArray("warm");
        for (HeldAdapter h : s.adapters()) {
            ObjectNode a = (h.tier() == AdapterTier.HOT ? hot : warm).addObject();
            a.put("tenant", h.adapter().tenant().value());
            a.put("name", h.adapter().name());
            a.put("version", h.adapter().version());
            a.put("hash", h.adapter().contentHash().hex());
            a.put("pinned", h.pinned());
        }
        return o;
    }

    private List<String> rolesOf(Address address) {
        Cluster cluster = Cluster.get(system);
        Address resolved = address.hasLocalScope() ? cluster.selfMember().address() : address;
        for (Member m : cluster.state().getMembers()) {
            if (m.address().equals(resolved)) {
                return m.getRoles().stream().sorted().toList();
            }
        }
        return List.of();
    }
}
