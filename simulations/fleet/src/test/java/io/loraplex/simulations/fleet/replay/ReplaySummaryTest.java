package io.loraplex.simulations.fleet.replay;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReplaySummaryTest {

    @TempDir
    Path dir;

    private static ReplayedRequest answer(String node, AdapterTier tier, long ttft, int status) {
        return new ReplayedRequest(0, "t", "m", Optional.ofNullable(node).map(NodeId::new), Optional.ofNullable(tier), ttft, ttft + 5,
                status);
    }

    @Test
    void theHotHitRateCountsEveryRequestAndTimeToFirstTokenOnlyTheSuccessfulOnes() {
        List<ReplayedRequest> results = new ArrayList<>();
        for (int i = 1; i <= 6; i++) {
            results.add(answer("gpu-1", AdapterTier.HOT, 10 * i, 200));
        }
        results.add(answer("gpu-2", AdapterTier.COLD, 300, 200));
        results.add(answer("gpu-2", AdapterTier.WARM, 70, 200));
        results.add(answer("gpu-2", AdapterTier.COLD, 5, 503));
        results.add(answer(null, null, 1, ReplayedRequest.NO_ANSWER));
        ReplaySummary s = ReplaySummary.of(results);
        assertEquals(10, s.requests());
        assertEquals(0.6, s.hotHitRate(), 1e-12);
        assertEquals(2, s.coldLoads());
        assertEquals(2, s.failures());
        // successful ttft sorted: 10 20 30 40 50 60 70 300: nearest rank 4 and 8
        assertEquals(40, s.ttftP50Ms());
        assertEquals(300, s.ttftP99Ms());
        assertEquals(Map.of("gpu-1", 6, "gpu-2", 3), s.nodes());
        assertEquals(1, s.count(AdapterTier.WARM));
        assertEquals(0, s.count(AdapterTier.LOADING));
    }

    @Test
    void aResultFileGivesTheSameSummaryAsItsLinesAndNoneGivesZeros() throws Exception {
        List<ReplayedRequest> results = List.of(answer("gpu-1", AdapterTier.HOT, 12, 200), answer("gpu-2", AdapterTier.COLD, 80, 200));
        Path file = dir.resolve("results.csv");
        TraceFiles.writeResults(file, results);
        assertEquals(ReplaySummary.of(results), ReplaySummary.of(file));
        ReplaySummary none = ReplaySummary.of(List.of());
        assertEquals(0, none.requests());
        assertEquals(0.0, none.hotHitRate());
        assertEquals(0, none.ttftP50Ms());
        assertEquals("requests: 2\nhot_hit_rate: 0.5000\ncold_loads: 1\nttft_p50_ms: 12\nttft_p99_ms: 80\nfailures: 0\ntier_hot: 1\n"
                + "tier_warm: 0\ntier_cold: 1\ntier_loading: 0\ntier_failed: 0\nnode_gpu-1: 1\nnode_gpu-2: 1\n",
                ReplaySummary.of(file).describe());
        Files.delete(file);
    }
}
