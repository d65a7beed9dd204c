package io.loraplex.simulations.fleet.replay;

import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import io.loraplex.simulations.fleet.TraceRequest;
import java.util.Objects;
import java.util.Optional;

/**
 * One line of a result file: the request traced at {@code atMs}, the node and adapter tier the server
 * named ({@code x-loraplex-node}, {@code x-loraplex-adapter-tier}; empty when it named none), the time to
 * its first token and to its end, and its HTTP status, or {@link #NO_ANSWER} when none came.
 */
public record ReplayedRequest(long atMs, String tenant, String model, Optional<NodeId> node, Optional<AdapterTier> tier,
        long ttftMs, long latencyMs, int status) {

    /** The status of a request that got no HTTP answer (refused connection, timeout): {@code failed} in the file. */
    public static final int NO_ANSWER = 0;

    public ReplayedRequest {
        TraceRequest.requireName("tenant", tenant);
        TraceRequest.requireName("model", model);
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(tier, "tier");
        if (ttftMs < 0 || latencyMs < 0) {
            throw new IllegalArgumentException("ttft_ms and latency_ms must be at least 0, got " + ttftMs + " and " + latencyMs);
        }
        if (status != NO_ANSWER && (status < 100 || status > 599)) {
            throw new IllegalArgumentException("status must be an HTTP status or failed, got " + status);
        }
    }

    /** A 2xx answer: every other status, and no answer, counts as a failure. */
    public boolean succeeded() {
        return status >= 200 && status < 300;
    }
}
