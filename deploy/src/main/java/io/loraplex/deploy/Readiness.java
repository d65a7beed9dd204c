package io.loraplex.deploy;

import io.loraplex.cluster.Roles;
import io.loraplex.cluster.node.GpuNodeProtocol;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * The readiness check behind Pekko Management's {@code /ready}: this JVM is a cluster member that is
 * up and not shutting down, its HTTP API is open (on a router), and its GPU node (when it has one)
 * takes new requests — a draining node reads not ready, so an orchestrator stops routing to it while
 * its requests finish.
 */
public final class Readiness implements Supplier<CompletionStage<Boolean>> {

    private static final Duration TIMEOUT = Duration.ofSeconds(2);

    private final ActorSystem<?> system;

    /** Pekko Management constructs health checks with the classic system. */
    public Readiness(org.apache.pekko.actor.ActorSystem classic) {
        this.system = Adapter.toTyped(classic);
    }

    @Override
    public CompletionStage<Boolean> get() {
        Cluster cluster = Cluster.get(system);
        if (cluster.selfMember().status() != MemberStatus.up()
                || CoordinatedShutdown.get(system).getShutdownReason().isPresent()) {
            return CompletableFuture.completedFuture(false);
        }
        if (cluster.selfMember().hasRole(Roles.ROUTER) && !ApiState.get(system).open()) {
            return CompletableFuture.completedFuture(false);
        }
        if (!cluster.selfMember().hasRole(Roles.GPU_NODE)) {
            return CompletableFuture.completedFuture(true);
        }
        return AskPattern.<Receptionist.Command, Receptionist.Listing>ask(system.receptionist(),
                        r -> Receptionist.find(GpuNodeProtocol.SERVICE_KEY, r), TIMEOUT, system.scheduler())
                .thenCompose(listing -> {
                    ActorRef<GpuNodeProtocol.Command> local = listing.getServiceInstances(GpuNodeProtocol.SERVICE_KEY).stream()
                            .filter(ref -> ref.path().address().hasLocalScope()).findFirst().orElse(null);
                    if (local == null) {
                        return CompletableFuture.completedFuture(false);
                    }
                    return AskPattern.<GpuNodeProtocol.Command, GpuNodeProtocol.NodeStats>ask(local, GpuNodeProtocol.GetStats::new,
                            TIMEOUT, system.scheduler()).thenApply(stats -> stats.ready() && !stats.draining());
                })
                .exceptionally(t -> false);
    }
}
