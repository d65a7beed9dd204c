package io.loraplex.deploy;

import io.loraplex.router.metrics.RouterMetrics;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpCharsets;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.management.javadsl.ManagementRouteProvider;
import org.apache.pekko.management.javadsl.ManagementRouteProviderSettings;

/**
 * {@code GET /metrics} on Pekko Management's port ({@code pekko.management.http.routes} in
 * {@code embedded.conf}), where Prometheus scrapes without a key: that port is the operators' (loopback by
 * default, the pod network in Kubernetes), not the tenants'. A JVM without a router has none (404).
 */
public final class ManagementMetrics extends AllDirectives implements ManagementRouteProvider {

    /** Pekko Management instantiates route providers with the actor system. */
    public ManagementMetrics(ExtendedActorSystem system) {
    }

    @Override
    public Route routes(ManagementRouteProviderSettings settings) {
        return path("metrics", () -> get(() -> complete(RouterMetrics.scrapeThisJvm()
                .map(text -> HttpResponse.create().withEntity(MediaTypes.TEXT_PLAIN.toContentType(HttpCharsets.UTF_8), text))
                .orElseGet(() -> HttpResponse.create().withStatus(StatusCodes.NOT_FOUND).withEntity(ContentTypes.TEXT_PLAIN_UTF8,
                        "no router runs in this JVM: its metrics are on the routers' management ports\n")))));
    }
}
