package io.loraplex.deploy;

import com.typesafe.config.Config;
import java.io.PrintStream;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.management.cluster.bootstrap.ClusterBootstrap;
import org.apache.pekko.management.javadsl.PekkoManagement;

/**
 * Pekko Management for orchestrators: {@code /alive}, {@code /ready} (false while this JVM's GPU node
 * drains or the JVM shuts down: {@link Readiness}) and the cluster's membership over HTTP, on
 * {@code loraplex.management.host:port}; and, with {@code loraplex.management.bootstrap = kubernetes},
 * Cluster Bootstrap, which forms the cluster from the pods the Kubernetes API lists.
 */
final class Management {

    private Management() {
    }

    /** Whether this JVM joins through Cluster Bootstrap rather than seed nodes or itself. */
    static boolean bootstraps(Config config) {
        return config.getString("loraplex.management.bootstrap").equals("kubernetes");
    }

    /** Starts what the configuration asks for; nothing when the port is 0 and there is no bootstrap. */
    static void start(ActorSystem<?> system, PrintStream log) throws Exception {
        Config config = system.settings().config();
        String bootstrap = config.getString("loraplex.management.bootstrap");
        if (!bootstrap.equals("none") && !bootstrap.equals("kubernetes")) {
            throw new IllegalArgumentException("loraplex.management.bootstrap must be none or kubernetes; got " + bootstrap);
        }
        int port = config.getInt("loraplex.management.port");
        if (port == 0 && !bootstraps(config)) {
            return;
        }
        var classic = Adapter.toClassic(system);
        var uri = PekkoManagement.get(classic).start().toCompletableFuture().get(30, TimeUnit.SECONDS);
        log.println("loraplex: management on " + uri + " (/alive, /ready, /cluster/members)");
        if (bootstraps(config)) {
            ClusterBootstrap.get(classic).start();
            log.println("loraplex: joining the cluster through Kubernetes API discovery");
        }
    }
}
