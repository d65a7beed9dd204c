package io.loraplex.router.http;

import io.loraplex.router.ConnectionSettings;
import io.loraplex.router.RouterSettings;
import io.loraplex.router.auth.KeyIndex;
import io.loraplex.router.metrics.RouterMetrics;
import io.loraplex.router.placement.Fleet;
import io.loraplex.router.placement.Placement;
import io.loraplex.router.placement.Sessions;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import java.util.function.IntSupplier;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts the router's HTTP API on an actor system of the cluster: key index, placement, metrics,
 * flows and routes, and the graceful stop. On coordinated shutdown, {@code service-unbind} stops
 * accepting connections and turns {@code /ready} to 503; {@code service-requests-done} lets
 * in-flight requests (streams included) finish until the hard deadline, then
 * {@code GuardedServer.Binding.terminate} closes the connections and the system stops.
 */
public final class RouterServer {

    private static final Logger log = LoggerFactory.getLogger(RouterServer.class);

    private RouterServer() {
    }

    /**
     * @param warmedUp true once this process is ready to serve (the launcher's own warm-up); {@code /ready}
     *                 also needs a ready GPU node and no drain
     */
    public static CompletionStage<GuardedServer.Binding> start(ActorSystem<?> system, RouterSettings settings, BooleanSupplier warmedUp) {
        return start(system, settings, Placement.start(system, settings), warmedUp);
    }

    /**
     * As {@link #start(ActorSystem, RouterSettings, BooleanSupplier)} with a placement started before
     * (so the entities could ask it for GPU nodes before the API opened).
     */
    public static CompletionStage<GuardedServer.Binding> start(ActorSystem<?> system, RouterSettings settings, Placement placement,
            BooleanSupplier warmedUp) {
        KeyIndex keys = KeyIndex.start(system);
        RouterMetrics metrics = RouterMetrics.start(system, settings, placement);
        AtomicBoolean draining = new AtomicBoolean();
        Sessions sessions = new Sessions(settings.sessionIdleTimeout(), settings.maxSessions());
        Fleet fleet = new Fleet(system, placement, settings.manageTimeout(), settings.operationTimeout(), settings.drainTimeout());
        FleetRoutes fleetRoutes = new FleetRoutes(system, settings, keys, placement, fleet, sessions, settings.operationTimeout());
        CompletionFlow completions = new CompletionFlow(system, settings, keys, placement, sessions, metrics, draining::get);
        ModelsFlow models = new ModelsFlow(system, settings, keys, placement);
        ManagementRoutes management = new ManagementRoutes(system, settings, keys, placement::baseModels);
        OpenAiRoutes routes = new OpenAiRoutes(settings, completions, models, placement, metrics, warmedUp, draining::get,
                management.route());

        CompletionStage<GuardedServer.Binding> binding = GuardedServer.bind(system, settings,
                ConnectionSettings.create(system.settings().config()),
                fleetRoutes.route().orElse(new FineTuningRoutes(system, settings, keys, placement).route()).orElse(routes.route()));
        binding.whenComplete((b, failure) -> {
            if (failure != null) {
                log.error("the router could not listen on {}:{}", settings.host(), settings.port(), failure);
            } else {
                log.info("router listening on {}", b.localAddress());
            }
        });

        Duration deadline = hardDeadline(system, settings);
        CoordinatedShutdown shutdown = CoordinatedShutdown.get(system);
        shutdown.addTask(CoordinatedShutdown.PhaseServiceUnbind(), "loraplex-router-unbind", () -> {
            draining.set(true);
            return binding.thenCompose(GuardedServer.Binding::unbind).exceptionally(t -> Done.getInstance());
        });
        shutdown.addTask(CoordinatedShutdown.PhaseServiceRequestsDone(), "loraplex-router-requests-done", () -> {
            long end = System.nanoTime() + deadline.toNanos();
            return idle(system, completions::inFlight, end)
                    .thenCompose(done -> binding)
                    .thenCompose(b -> b.terminate(Duration.ofNanos(Math.max(end - System.nanoTime(), SETTLE.toNanos()))))
                    .thenApply(terminated -> Done.getInstance())
                    .exceptionally(t -> Done.getInstance());
        });
        return binding;
    }

    /** Lets the last bytes of a finished stream reach its socket before terminate closes the connection. */
    private static final Duration SETTLE = Duration.ofMillis(200);

    /**
     * Completes when no generation is in flight (and {@link #SETTLE} has passed), or at {@code endNanos}.
     * Besides the connections' own drain in {@code terminate} (each closes once its response has
     * been sent), this waits for generations whose response has not begun.
     */
    private static CompletionStage<Done> idle(ActorSystem<?> system, IntSupplier inFlight, long endNanos) {
        CompletableFuture<Done> idle = new CompletableFuture<>();
        Runnable[] check = new Runnable[1];
        check[0] = () -> {
            if (inFlight.getAsInt() == 0 || System.nanoTime() >= endNanos) {
                system.scheduler().scheduleOnce(inFlight.getAsInt() == 0 ? SETTLE : Duration.ZERO,
                        () -> idle.complete(Done.getInstance()), system.executionContext());
            } else {
                system.scheduler().scheduleOnce(Duration.ofMillis(50), check[0], system.executionContext());
            }
        };
        check[0].run();
        return idle;
    }

    /** The configured deadline, kept inside the phase's own timeout so the phase does not give up first. */
    private static Duration hardDeadline(ActorSystem<?> system, RouterSettings settings) {
        Duration phase = Duration.ofMillis(CoordinatedShutdown.get(system).timeout(CoordinatedShutdown.PhaseServiceRequestsDone()).toMillis());
        Duration limit = phase.minusMillis(Math.min(500, phase.toMillis() / 10));
        if (settings.shutdownHardDeadline().compareTo(limit) > 0) {
            log.warn("loraplex.router.shutdown-hard-deadline {} exceeds the service-requests-done phase timeout {}; using {}",
                    settings.shutdownHardDeadline(), phase, limit);
            return limit;
        }
        return settings.shutdownHardDeadline();
    }
}
