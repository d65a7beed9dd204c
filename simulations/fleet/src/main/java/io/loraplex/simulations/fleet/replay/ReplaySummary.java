package io.loraplex.simulations.fleet.replay;

import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The figures a replay and a simulation are compared by, from one result file: the hot-hit rate (share
 * of all requests whose tier was {@code hot}), cold loads (requests whose tier was {@code cold}: the
 * adapter came from the store or another node), time to first token p50/p99 over the requests that
 * succeeded (nearest rank), and failures (no answer or a non-2xx status); with the count of each tier and
 * the requests each node served, to read the figures by.
 */
public record ReplaySummary(int requests, double hotHitRate, int coldLoads, long ttftP50Ms, long ttftP99Ms, int failures,
        Map<AdapterTier, Integer> tiers, Map<String, Integer> nodes) {

    public ReplaySummary {
        tiers = Collections.unmodifiableMap(new EnumMap<>(tiers.isEmpty() ? new EnumMap<>(AdapterTier.class) : tiers));
        nodes = Collections.unmodifiableMap(new TreeMap<>(nodes));
    }

    /** The summary of a result file, the replay's or the simulator's. */
    public static ReplaySummary of(Path resultFile) throws IOException {
        return of(TraceFiles.readResults(resultFile));
    }

    public static ReplaySummary of(List<ReplayedRequest> results) {
        Map<AdapterTier, Integer> tiers = new EnumMap<>(AdapterTier.class);
        Map<String, Integer> nodes = new TreeMap<>();
        int failures = 0;
        for (ReplayedRequest r : results) {
            r.tier().ifPresent(t -> tiers.merge(t, 1, Integer::sum));
            r.node().map(NodeId::value).ifPresent(n -> nodes.merge(n, 1, Integer::sum));
            if (!r.succeeded()) {
                failures++;
            }
        }
        long[] ttft = results.stream().filter(ReplayedRequest::succeeded).mapToLong(ReplayedRequest::ttftMs).sorted().toArray();
        int hot = tiers.getOrDefault(AdapterTier.HOT, 0);
        return new ReplaySummary(results.size(), results.isEmpty() ? 0 : (double) hot / results.size(),
                tiers.getOrDefault(AdapterTier.COLD, 0), percentile(ttft, 50), percentile(ttft, 99), failures, tiers, nodes);
    }

    /** The nearest-rank percentile {@code p} of sorted values; 0 for none. */
    static long percentile(long[] sorted, int p) {
        if (sorted.length == 0) {
            return 0;
        }
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, rank - 1)];
    }

    /** The count of requests whose tier was {@code tier}. */
    public int count(AdapterTier tier) {
        return Optional.ofNullable(tiers.get(tier)).orElse(0);
    }

    /** The summary as lines of {@code name: value}, for a summary file and a test's message. */
    public String describe() {
        StringBuilder s = new StringBuilder();
        s.append("requests: ").append(requests).append('\n');
        s.append(String.format(java.util.Locale.ROOT, "hot_hit_rate: %.4f", hotHitRate)).append('\n');
        s.append("cold_loads: ").append(coldLoads).append('\n');
        s.append("ttft_p50_ms: ").append(ttftP50Ms).append('\n');
        s.append("ttft_p99_ms: ").append(ttftP99Ms).append('\n');
        s.append("failures: ").append(failures).append('\n');
        for (AdapterTier t : AdapterTier.values()) {
            s.append("tier_").append(t.apiName()).append(": ").append(count(t)).append('\n');
        }
        nodes.forEach((node, n) -> s.append("node_").append(node).append(": ").append(n).append('\n'));
        return s.toString();
    }
}
