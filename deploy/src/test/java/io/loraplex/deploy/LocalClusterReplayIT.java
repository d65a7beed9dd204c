package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
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
 * engine, embedded journal, free ports). The trace, the result file and its summary are kept in
 * {@code deploy/target/simulations/}; the summary is {@link #measured} for the comparison with the
 * simulator. About 3 minutes on 2 cores (docs/benchmarks.md); the {@code simulations} profile runs it:
 * {@code ./mvnw -B -Psimulations -pl deploy -am verify -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false}.
 */
@Tag("simulations")
class LocalClusterReplayIT {

    /** The trace's seed: a fixed one, so the same trace runs every time (and in the simulator). */
    static final long SEED = 20;
    static final int NODES = 2;

    @TempDir
    Path dir;

    /** What the replay on the real cluster measured, once the test has run. */
    static ReplaySummary measured;

    @Test
    void theValidationTraceOnTheLocalClusterAnswersEveryRequestFromAKnownTierWithHotHitsAndColdLoads() throws Exception {
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

        // ---- The comparison with the fleet simulator (issue 20: added at the merge with simulations/fleet) ----
        // Replay the same trace (validation-trace.csv, TraceSpec.validation(SEED)) in the simulator with 2 nodes and
        // the CPU cost model (simulations/fleet/src/main/resources/cpu-cost-model.conf), read its result file with
        // ReplaySummary.of(path), and assert agreement with `measured` within the stated bounds: hot-hit rate, cold
        // loads and TTFT p50.
    }
}
