package io.loraplex.router.http;

import static org.apache.pekko.http.javadsl.server.PathMatchers.remaining;
import static org.apache.pekko.http.javadsl.server.PathMatchers.segment;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.router.RouterSettings;
import io.loraplex.router.auth.KeyIndex;
import io.loraplex.router.metrics.RouterMetrics;
import io.loraplex.router.placement.Placement;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.apache.pekko.http.javadsl.model.HttpCharsets;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.ExceptionHandler;
import org.apache.pekko.http.javadsl.server.MethodRejection;
import org.apache.pekko.http.javadsl.server.Rejection;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP surface, kept thin: each route hands the request to a flow. Unknown paths (404), wrong
 * methods (405) and anything unexpected (500) answer in OpenAI's error format too.
 */
public final class OpenAiRoutes extends AllDirectives {

    private static final Logger log = LoggerFactory.getLogger(OpenAiRoutes.class);

    private final RouterSettings settings;
    private final CompletionFlow completions;
    private final ModelsFlow models;
    private final Placement placement;
    private final RouterMetrics metrics;
    private final BooleanSupplier warmedUp;
    private final BooleanSupplier draining;
    private final Route management;
    private final byte[] metricsKeyHash; // null: no /metrics on this port

    /** @param management the adapter and admin routes, answering errors in the same format */
    public OpenAiRoutes(RouterSettings settings, CompletionFlow completions, ModelsFlow models, Placement placement,
            RouterMetrics metrics, BooleanSupplier warmedUp, BooleanSupplier draining, Route management) {
        this.settings = settings;
        this.completions = completions;
        this.models = models;
        this.placement = placement;
        this.metrics = metrics;
        this.warmedUp = warmedUp;
        this.draining = draining;
        this.management = management;
        this.metricsKeyHash = settings.metricsKeySha256().isEmpty() ? null : HexFormat.of().parseHex(settings.metricsKeySha256());
    }

    public Route route() {
        return handleExceptions(exceptions(), () -> handleRejections(rejections(), () -> concat(
                path(segment("v1").slash("chat").slash("completions"), () -> post(() -> generation(CompletionFlow.Endpoint.CHAT))),
                path(segment("v1").slash("completions"), () -> post(() -> generation(CompletionFlow.Endpoint.COMPLETIONS))),
                path(segment("v1").slash("models"), () -> get(() -> extractRequest(r -> completeWithFuture(models.list(r))))),
                // model ids may hold slashes (org/name): the rest of the path is the id
                path(segment("v1").slash("models").slash(remaining()), id -> get(() -> extractRequest(
                        r -> completeWithFuture(models.get(r, decode(id)))))),
                management,
                path("health", () -> get(() -> complete(Responses.json(200, status("ok"))))),
                path("ready", () -> get(() -> complete(ready()))),
                path("metrics", () -> get(() -> extractRequest(r -> complete(metrics(r))))))));
    }

    /**
     * The metrics name tenants and adapters: on the API's port only for the metrics key's bearer
     * (403 where none is configured, 401 for no or another key); the management port serves them to
     * whoever reaches it.
     */
    private HttpResponse metrics(HttpRequest request) {
        if (metricsKeyHash == null) {
            return Responses.error(ApiError.forbidden("The metrics are not served on this port: scrape /metrics on the management "
                    + "port, or set loraplex.router.metrics.key-sha256 to the SHA-256 of a metrics key and send it as a bearer token."));
        }
        Optional<String> key = KeyIndex.bearerKey(request.getHeader("Authorization").map(h -> h.value()));
        if (key.isEmpty()) {
            return Responses.error(ApiError.invalidApiKey("The metrics need the metrics key in an Authorization header (Bearer METRICS_KEY)."));
        }
        if (!MessageDigest.isEqual(HexFormat.of().parseHex(TenantProtocol.hashKey(key.get())), metricsKeyHash)) {
            return Responses.error(ApiError.invalidApiKey("Incorrect metrics key provided."));
        }
        return HttpResponse.create().withEntity(MediaTypes.TEXT_PLAIN.toContentType(HttpCharsets.UTF_8), metrics.scrape());
    }

    /** A generation gets the long request timeout; timing out answers in OpenAI's format. */
    private Route generation(CompletionFlow.Endpoint endpoint) {
        return withRequestTimeout(settings.requestTimeout(),
                request -> Responses.error(new ApiError(504, "The request took longer than " + settings.requestTimeout().toSeconds()
                        + " s", ApiError.SERVER_ERROR, null, "timeout", 0)),
                () -> extractRequest(request -> completeWithFuture(completions.handle(endpoint, request))));
    }

    /** 200 while warmed up, a ready node is known and the router is not draining; 503 and the reasons otherwise. */
    private HttpResponse ready() {
        boolean warm = warmedUp.getAsBoolean();
        boolean nodes = placement.hasReadyNode();
        boolean drain = draining.getAsBoolean();
        boolean ready = warm && nodes && !drain;
        ObjectNode body = status(ready ? "ready" : "not ready");
        body.put("warmed_up", warm);
        body.put("ready_node", nodes);
        body.put("draining", drain);
        return Responses.json(ready ? 200 : 503, body);
    }

    private static ObjectNode status(String status) {
        ObjectNode body = Json.object();
        body.put("status", status);
        return body;
    }

    private RejectionHandler rejections() {
        return RejectionHandler.newBuilder()
                .handleAll(MethodRejection.class, rejected -> extractRequest(r -> {
                    String allow = rejected.stream().map(m -> m.supported().name()).distinct().collect(Collectors.joining(", "));
                    return complete(Responses.error(ApiError.methodNotAllowed(r.method().name(), r.getUri().path()))
                            .addHeader(RawHeader.create("Allow", allow)));
                }))
                .handle(Rejection.class, rejection -> complete(Responses.error(ApiError.invalid(null,
                        "the request was refused: " + rejection))))
                .handleNotFound(extractRequest(r -> complete(Responses.error(ApiError.notFoundPath(r.method().name(),
                        r.getUri().path())))))
                .build();
    }

    private ExceptionHandler exceptions() {
        return ExceptionHandler.newBuilder()
                .match(ApiException.class, e -> complete(Responses.error(e.error())))
                .match(Throwable.class, e -> {
                    log.error("a route failed", e);
                    return complete(Responses.error(Responses.errorOf(e)));
                })
                .build();
    }

    /** Percent-decodes a path (a '+' in a path is a plus, not a space). */
    private static String decode(String encoded) {
        return URLDecoder.decode(encoded.replace("+", "%2B"), StandardCharsets.UTF_8);
    }
}
