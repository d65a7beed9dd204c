package io.loraplex.simulations.fleet;

import io.loraplex.cluster.NodeId;
import io.loraplex.engine.batch.EvictionPolicy;
import io.loraplex.router.placement.PlacementPolicy;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

/** One simulated GPU node: an engine's continuous batch and adapter tiers, no actor. Owned by the simulator's loop. */
final class SimNode implements PlacementPolicy.Node {

    /** An adapter in this node's pool: being transferred ({@code resident} false) or usable by a step. */
    static final class Slot implements EvictionPolicy.Candidate {
        final SimAdapter adapter;
        /** Loaded from the store (not from this node's warm tier). */
        final boolean cold;
        /** Waiting for room in the pool (every resident adapter was in use): no bytes claimed yet. */
        boolean needsRoom;
        boolean resident;
        int refs;
        long lastUse;
        /** Runs once the adapter is resident (a rebalance evicting its source, a drain counting its prefetches). */
        List<Runnable> onResident = List.of();

        Slot(SimAdapter adapter, boolean cold) {
            this.adapter = adapter;
            this.cold = cold;
        }

        @Override
        public boolean idle() {
            return resident && refs == 0;
        }

        @Override
        public long lastUse() {
            return lastUse;
        }
    }

    final int index;
    final NodeId id;
    final int base;
    final int capacity;
    boolean alive = true;
    boolean draining;
    /** Requests running and waiting here: what placement reads. */
    int load;
    final ArrayDeque<SimRequest> waiting = new ArrayDeque<>();
    final ArrayList<SimRequest> running = new ArrayList<>();
    /** Insertion-ordered: eviction ties and rebalances iterate it, and a run must not depend on identity hash codes. */
    final LinkedHashMap<SimAdapter, Slot> pool = new LinkedHashMap<>();
    /** Slots holding pool memory (transferring or resident), as the engine counts them against max-resident. */
    int placed;
    long poolBytes;
    final ArrayList<Slot> needsRoom = new ArrayList<>();
    /** The host tier, least recently used first. */
    final LinkedHashMap<SimAdapter, Boolean> warm = new LinkedHashMap<>(16, 0.75f, true);
    long warmBytes;
    /** When the node's adapter link (store → host → device) is free: transfers queue on it. */
    double linkFreeAt;
    /** Bytes of distinct adapters the running requests use, read by every step. */
    long activeAdapterBytes;
    /** KV tokens of the running requests, read by every decode step. */
    long contextTokens;
    // the step loop: a chunk of equal steps from chunkStart, ended by a boundary event of this epoch
    boolean stepping;
    double chunkStart;
    double stepSeconds;
    int chunkSteps;
    long epoch;

    SimNode(int index, int base, int capacity) {
        this.index = index;
        this.id = new NodeId(String.format("node-%04d", index));
        this.base = base;
        this.capacity = capacity;
    }

    boolean eligible() {
        return alive && !draining;
    }

    @Override
    public NodeId id() {
        return id;
    }

    @Override
    public int load() {
        return load;
    }

    @Override
    public int capacity() {
        return capacity;
    }

    @Override
    public String toString() {
        return id.value();
    }
}
