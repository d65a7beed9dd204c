package io.loraplex.simulations.fleet;

import io.loraplex.cluster.NodeId;
import java.util.HashSet;
import java.util.Set;

/** One request in flight in the simulator. */
final class SimRequest {
    final TraceRequest trace;
    final SimAdapter adapter;
    final double arrival;
    SimNode node;
    /** The tier its adapter was in on its node when it arrived there (the x-loraplex-adapter-tier it would get). */
    String tier;
    int generated;
    double firstToken = Double.NaN;
    boolean retried;
    final Set<NodeId> tried = new HashSet<>(2);

    SimRequest(TraceRequest trace, SimAdapter adapter, double arrival) {
        this.trace = trace;
        this.adapter = adapter;
        this.arrival = arrival;
    }
}
