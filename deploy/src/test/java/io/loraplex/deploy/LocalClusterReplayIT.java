package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import io.loraplex.engine.batch.EngineSettings;
import io.loraplex.router.RouterSettings;
import io.loraplex.simulations.fleet.FleetConfig;
import io.loraplex.simulations.fleet.FleetSimulator;
import io.loraplex.simulations.fleet.replay.ReplaySummary;
import io.loraplex.simulations.fleet.replay.ReplayTarget;
import io.loraplex.simulations.fleet.replay.ReplayedRequest;
import io.loraplex.simulations.fleet.replay.TraceFiles;
import io.loraplex.simulations.fleet.replay.TraceGenerator;
import io.loraplex.simulations.fleet.replay.TraceReplayer;
import io.loraplex.simulations.fleet.replay.TraceSpec;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 20's "validated before it is believed", the real half: the validation trace
 * ({@link TraceSpec#validation}: 3 tenants, 30 adapters, Zipf 1.0, 2 requests/s for 75 s, sessions,
 * half streamed) replayed on {@code deploy/local-cluster.sh} (a router and two GPU nodes on the CPU
 * engine, embedded journal, free ports), then the same trace in the fleet simulator ({@link #localCluster}),
 * and the two agree on hot-hit rate, cold loads and TTFT p50 within the bounds below. The trace, both result
 * files and their summaries are kept in {@code deploy/target/simulations/}. About 3 minutes on 2 cores (docs/benchmarks.md); the {@code simulations} profile runs it:
 * {@code ./mvnw -B -Psimulations -pl deploy -am verify -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false}.
 */
@Tag("simulations")
class LocalClusterReplayIT {

    /** The trace's seed: a fixed one, so the same trace runs every time (and in the simulator). */
    static final long SEED = 20;
    static final int NODES = 2;

    static final double HOT_HIT_RATE_BOUND = 0.10;
    static final int COLD_LOADS_SLACK = 5;
    static final double COLD_LOADS_SHARE = 0.30;
    /**
     * The measured TTFT p50 may be up to this many milliseconds above the simulated one. The simulator adds up what the cost model
     * knows (the router's route overhead, measured by ClusterBench; the prefill and steps measured by loraplex bench,
     * each alone on the machine); the real cluster's TTFT also holds the way back (node to router to client), the
     * client's HTTP and SSE handling, and three JVMs, the client and whatever else runs sharing two cores, none of which
     * the model has. On the shared 2-core VM (load average 5-12) five runs measured 51 to 93 ms against 29 simulated
     * (1.8x to 3.2x; every tier 30 to 60 ms above its simulated figure); ClusterBench on a quieter day measured a hot
     * request end to end at 18.9 ms. What the model lacks is a per-request cost, not a factor, so the bound is a
     * difference: 150 ms is 2.5 times the largest seen, for a CI machine busier than the runs were.
     */
    static final long TTFT_P50_ABOVE_MS = 150;
    /**
     * The measured TTFT p50 may be as low as the simulated one over this: a quiet machine (ClusterBench's 18.9 ms for a
     * request whose adapter a prefetch had loaded) can beat the model's sum, whose route overhead is a p50 taken under
     * load. Below that, the cost model would be overstating the engine or the route.
     */
    static final double TTFT_P50_BELOW = 2.0;

    @TempDir
    Path dir;

    /** What the replay on the real cluster measured, once the test has run. */
    static ReplaySummary measured;

    /**
     * The simulator as the local cluster runs: 2 nodes of one base model, the cpu cost model (cpu-cost-model.conf's
     * measured figures, the router's route overhead), the engine's default pools (the nodes run EngineSettings.defaults()),
     * the router's placement settings (reference.conf's load-factor and load-slack) with session prefetch on, the
     * replay's adapters (rank 8), and no failures, drains or rebalances. A session is opened just before its first turn,
     * as the replayer opens it.
     */
    static FleetConfig localCluster() {
        EngineSettings engine = EngineSettings.defaults();
        RouterSettings router = RouterSettings.create(ConfigFactory.defaultReference());
        return FleetConfig.create(ConfigFactory.parseString("""
                fleet {
                  name = simulated
                  seed = %d
                  nodes = %d
                  duration = 80s
                  base-models = [local]
                  cost-model = cpu
                  node { capacity = %d, max-resident = %d, pool-bytes = %d, warm-bytes = %d }
                  placement { policy = rendezvous-bounded, load-factor = %s, load-slack = %d, session-prefetch = on, session-spill = off }
                  adapter-ranks = [8]
                  traffic.session-open-lead = 1ms
                  failures = [], drains = [], rebalances = []
                }
                """.formatted(SEED, NODES, engine.maxRunning(), engine.maxResidentAdapters(), engine.memoryBudgetBytes(),
                engine.warmBudgetBytes(), router.loadFactor(), router.loadSlack())));
    }

    @Test
    void theValidationTraceOnTheLocalClusterAnswersEveryRequestFromAKnownTierAndTheSimulatorAgreesOnHotHitsColdLoadsAndTtft() throws Exception {
        Path out = Launcher.dist().toAbsolutePath().getParent().resolve("simulations");
        Files.createDirectories(out);
        Path trace = out.resolve("validation-trace.csv");
        Path results = out.resolve("local-cluster-results.csv");
        TraceGenerator.write(TraceSpec.validation(SEED), trace);

        int port = LocalFleet.freePort();
        Path cluster = dir.resolve("cluster");
        String started = LocalClusterScriptIT.run("start", "--dir", cluster.toString(), "--journal", "embedded", "--port",
                String.valueOf(port), "--base-port", String.valueOf(LocalClusterScriptIT.freePortRange()));
        try {
            assertTrue(started.startsWith("0\n"), started);
            String adminKey = Files.readString(cluster.resolve("admin-key")).strip();
            // both nodes generate the same tiny model (seed 0); the adapters are shaped on it
            ReplayTarget target = new ReplayTarget(URI.create("http://127.0.0.1:" + port), adminKey, cluster.resolve("gpu-1/model"));
            measured = new TraceReplayer(target).replay(trace, results, dir.resolve("replay"));
            Files.writeString(out.resolve("local-cluster-results.csv.summary"), measured.describe());
        } finally {
            LocalClusterScriptIT.run("stop", "--dir", cluster.toString());
        }

        List<ReplayedRequest> answers = TraceFiles.readResults(results);
        String summary = measured.describe();
        assertEquals(0, measured.failures(), "no request failed:\n" + summary);
        Set<AdapterTier> known = EnumSet.of(AdapterTier.HOT, AdapterTier.WARM, AdapterTier.COLD, AdapterTier.LOADING);
        Set<NodeId> nodes = Set.of(new NodeId("gpu-1"), new NodeId("gpu-2"));
        for (ReplayedRequest r : answers) {
            assertTrue(r.tier().filter(known::contains).isPresent(), "a known tier for every request: " + r);
            assertTrue(r.node().filter(nodes::contains).isPresent(), "one of the two nodes for every request: " + r);
            assertTrue(r.ttftMs() <= r.latencyMs(), "the first token before the end: " + r);
        }
        assertTrue(measured.count(AdapterTier.HOT) > 0, "hot hits:\n" + summary);
        // each adapter is loaded cold at least once, on one node or both (a session's prefetch may take a first load)
        int distinct = answers.stream().map(r -> r.tenant() + "/" + r.model()).collect(Collectors.toSet()).size();
        assertTrue(measured.coldLoads() >= (distinct + NODES - 1) / NODES, distinct + " distinct adapters:\n" + summary);
        assertEquals(NODES, measured.nodes().size(), "both nodes served:\n" + summary);

        // ---- The comparison with the fleet simulator: the same trace, 2 nodes, the cpu cost model ----
        FleetSimulator.Result simulated = FleetSimulator.run(localCluster(), TraceFiles.readTrace(trace));
        Path simResults = out.resolve("simulator-results.csv");
        TraceFiles.writeSimulated(simResults, simulated.requests());
        ReplaySummary sim = ReplaySummary.of(simResults);
        Files.writeString(out.resolve("simulator-results.csv.summary"), sim.describe());
        String both = "local cluster:\n" + summary + "simulator:\n" + sim.describe();
        System.out.println("LocalClusterReplayIT, the validation trace (seed " + SEED + ")\n" + both);

        assertEquals(measured.requests(), sim.requests(), "the simulator ran every request of the trace:\n" + both);
        assertEquals(0, sim.failures(), "no request failed in the simulator:\n" + both);
        // Hot-hit rate within 0.10 absolute: both place by the same rule (router.placement) over the same adapters and
        // pools far larger than the trace's 30 adapters, so the hits differ only where the real cluster's timing does
        // (a request that arrives while its adapter is still loading is 'loading', not hot, and how many do depends on
        // load times that vary with the machine's load).
        assertEquals(measured.hotHitRate(), sim.hotHitRate(), HOT_HIT_RATE_BOUND, "hot-hit rate:\n" + both);
        // Cold loads within max(5, 30%): each adapter's first request on a node is cold in both; the rest depend on
        // which node the bounded-load rule sends a request to, which depends on the in-flight counts at that moment.
        int coldBound = Math.max(COLD_LOADS_SLACK, (int) Math.ceil(COLD_LOADS_SHARE * measured.coldLoads()));
        assertTrue(Math.abs(measured.coldLoads() - sim.coldLoads()) <= coldBound,
                "cold loads within " + coldBound + ":\n" + both);
        // TTFT p50: the simulator has no contention and no way back, so the measured figure may be further above it
        // than below (TTFT_P50_ABOVE_MS, TTFT_P50_BELOW say why and what the runs measured)
        double ratio = (double) Math.max(measured.ttftP50Ms(), 1) / Math.max(sim.ttftP50Ms(), 1);
        double above = measured.ttftP50Ms() - sim.ttftP50Ms();
        assertTrue(above <= TTFT_P50_ABOVE_MS && ratio >= 1 / TTFT_P50_BELOW, "TTFT p50: measured " + measured.ttftP50Ms()
                + " ms, simulated " + sim.ttftP50Ms() + " ms; expected at most " + TTFT_P50_ABOVE_MS
                + " ms above and at least 1/" + TTFT_P50_BELOW + " of it:\n" + both);
    }
}
