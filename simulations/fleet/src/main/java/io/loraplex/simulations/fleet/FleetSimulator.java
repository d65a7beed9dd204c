package io.loraplex.simulations.fleet;

import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import io.loraplex.engine.batch.EvictionPolicy;
import io.loraplex.router.placement.PlacementPolicy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * The discrete-event fleet simulator: one event queue, simulated GPU nodes (continuous batching
 * with a capacity and a waiting queue, prefill then decode, step times from a {@link CostModel}),
 * adapters moving between store, host and device, placed by the router's own
 * {@link PlacementPolicy} and evicted by the engine's own {@link EvictionPolicy}.
 *
 * <p>What placement sees here is exact and current (the router sees stats a poll old, plus its own
 * picks): a node is eligible while alive and not draining; an adapter is "hot" on a node from the
 * moment its transfer there starts (a second request follows the first instead of loading it
 * twice), "warm" while in the node's host tier.
 */
public final class FleetSimulator {

    /** A run's per-request results, its summary and its time series. */
    public record Result(List<RequestResult> requests, Summary summary, TimeSeries series) {
    }

    /** Runs {@code trace} (ordered by at_ms) on the fleet of {@code config}, keeping every request's result. */
    public static Result run(FleetConfig config, List<TraceRequest> trace) {
        List<RequestResult> results = new ArrayList<>();
        Run r = new Run(config, trace.iterator(), results::add);
        Summary s = r.run();
        return new Result(results, s, r.series);
    }

    /**
     * As {@link #run(FleetConfig, List)}, checking every placement against the rule ranked over plain
     * lists of the eligible nodes (as the router ranks): the index answers as a scan would. For tests.
     */
    static Result runCrossChecked(FleetConfig config, List<TraceRequest> trace) {
        List<RequestResult> results = new ArrayList<>();
        Run r = new Run(config, trace.iterator(), results::add);
        r.crossCheck = true;
        Summary s = r.run();
        return new Result(results, s, r.series);
    }

    /** Runs the traffic {@code config} generates, or its trace file, handing each result to {@code sink}. */
    public static Result run(FleetConfig config, Iterator<TraceRequest> trace, Consumer<RequestResult> sink) {
        Run r = new Run(config, trace, sink);
        Summary s = r.run();
        return new Result(List.of(), s, r.series);
    }

    /** Sampled every {@code sample-interval}: for plots. */
    public static final class TimeSeries {
        public final double interval;
        public final List<double[]> rows = new ArrayList<>();
        /** Columns of a row. */
        public static final String[] COLUMNS = {"t_s", "requests_per_s", "hot_hit_rate", "ttft_mean_ms", "cold_loads_per_s",
                "imbalance", "eligible_nodes"};

        TimeSeries(double interval) {
            this.interval = interval;
        }
    }

    /** One base model's nodes and the index placement reads. */
    private static final class Base {
        final List<SimNode> nodes = new ArrayList<>();
        final TreeSet<SimNode> byLoad = new TreeSet<>(PlacementPolicy.BY_LOAD);
        final List<SimNode> eligible = new ArrayList<>();
        long totalLoad;
    }

    private static final class Run {
        final FleetConfig config;
        final CostModel cost;
        final EventQueue queue = new EventQueue();
        final PlacementPolicy policy;
        final Random rnd;
        final SimNode[] nodes;
        final Base[] bases;
        final Map<String, SimAdapter> adapters = new HashMap<>();
        final Map<String, Integer> tenantBase = new HashMap<>();
        final Map<String, SimNode> sessions = new HashMap<>();
        final Set<String> sessionsServed = new HashSet<>();
        final Iterator<TraceRequest> trace;
        final Consumer<RequestResult> sink;
        final TimeSeries series;
        boolean crossCheck;
        long crossChecked;
        long clock;
        // figures
        long requests;
        long ok;
        long failed;
        long retried;
        long outputTokens;
        long hot;
        long warm;
        long cold;
        long loading;
        long coldLoads;
        long networkBytes;
        long sessionFirst;
        long sessionFirstHot;
        FloatList ttft = new FloatList();
        FloatList perToken = new FloatList();
        double imbalanceSum;
        double imbalanceMax;
        int imbalanceSamples;
        // the current sample window
        long winRequests;
        long winHot;
        long winColdLoads;
        double winTtftSum;
        long winTtftCount;
        final List<Double> drainSeconds = new ArrayList<>();
        final List<Double> recoverySeconds = new ArrayList<>();

        Run(FleetConfig config, Iterator<TraceRequest> trace, Consumer<RequestResult> sink) {
            this.config = config;
            this.cost = config.costModel();
            this.policy = new PlacementPolicy(config.loadFactor(), config.loadSlack());
            this.rnd = new Random(config.seed() ^ 0x5eed);
            this.trace = trace;
            this.sink = sink;
            this.series = new TimeSeries(config.sampleIntervalSeconds());
            bases = new Base[config.baseModels().size()];
            for (int b = 0; b < bases.length; b++) {
                bases[b] = new Base();
            }
            nodes = new SimNode[config.nodes()];
            for (int i = 0; i < nodes.length; i++) {
                SimNode n = new SimNode(i, i % bases.length, config.node().capacity());
                nodes[i] = n;
                Base b = bases[n.base];
                b.nodes.add(n);
                b.byLoad.add(n);
                b.eligible.add(n);
            }
        }

        Summary run() {
            long started = System.nanoTime();
            feed(0);
            for (FleetConfig.NodeEvent f : config.failures()) {
                queue.at(f.atSeconds(), now -> die(nodes[f.node()], now));
            }
            for (FleetConfig.NodeEvent d : config.drains()) {
                queue.at(d.atSeconds(), now -> drain(nodes[d.node()], now));
            }
            for (double at : config.rebalances()) {
                queue.at(at, this::rebalance);
            }
            queue.at(config.sampleIntervalSeconds(), this::sample);
            // past the duration only in-flight work runs (a generous bound: nothing arrives after it)
            queue.runUntil(config.durationSeconds() * 2 + 600);
            double wall = (System.nanoTime() - started) / 1e9;
            return summary(wall);
        }

        // --- arrivals ---

        /**
         * Takes the next trace request at {@code session-open-lead} before its time (the earliest anything
         * about it happens): opens its session then when it is a new one (the client's {@code POST /v1/sessions},
         * which prefetches), schedules its arrival, and takes the one after. Every request is taken that early,
         * so a session's open is never held back behind the requests before it.
         */
        void feed(double now) {
            if (!trace.hasNext()) {
                return;
            }
            TraceRequest t = trace.next();
            double at = t.atMs() / 1000.0;
            double lead = config.traffic().sessionOpenLeadSeconds();
            String sessionKey = t.inSession() ? t.tenant() + "\u0000" + t.session() : null;
            queue.at(Math.max(now, at - lead), o -> {
                if (sessionKey != null && lead > 0 && !sessions.containsKey(sessionKey)) {
                    openSession(sessionKey, adapter(t), o);
                }
                queue.at(Math.max(o, at), a -> arrive(t, sessionKey, a));
                feed(o);
            });
        }

        SimAdapter adapter(TraceRequest t) {
            String key = t.tenant() + "/" + t.model();
            SimAdapter a = adapters.get(key);
            if (a == null) {
                int base = tenantBase.computeIfAbsent(t.tenant(), k -> tenantBase.size() % bases.length);
                List<Integer> ranks = config.adapterRanks();
                // a fixed draw per adapter name: a trace and generated traffic give an adapter the same rank
                int rank = ranks.get(Math.floorMod(SimAdapter.contentHash(key).hex().hashCode(), ranks.size()));
                a = new SimAdapter(t.tenant(), t.model(), cost.adapterBytes(rank), base);
                adapters.put(key, a);
            }
            return a;
        }

        /** {@code POST /v1/sessions}: binds the session to the node placement picks, and warms the adapter there (prefetch). */
        void openSession(String key, SimAdapter a, double now) {
            SimNode n = choose(a, Set.of());
            if (n == null) {
                return;
            }
            sessions.put(key, n);
            if (config.sessionPrefetch()) {
                ensure(n, a, now);
            }
        }

        void arrive(TraceRequest t, String sessionKey, double now) {
            requests++;
            winRequests++;
            SimRequest r = new SimRequest(t, adapter(t), now);
            // the router's own time (admission, placement, the hop) comes before the node sees the request
            double route = cost.routeSeconds();
            if (route > 0) {
                queue.at(now + route, p -> place(r, sessionKey, p));
            } else {
                place(r, sessionKey, now);
            }
        }

        void place(SimRequest r, String sessionKey, double now) {
            SimNode n = null;
            if (sessionKey != null) {
                SimNode bound = sessions.get(sessionKey);
                if (bound != null && bound.eligible() && !r.tried.contains(bound.id) && (!config.sessionSpill() || roomy(bound))) {
                    n = bound;
                }
            }
            if (n == null) {
                n = choose(r.adapter, r.tried);
                if (n != null && sessionKey != null) {
                    sessions.put(sessionKey, n);
                }
            }
            if (n == null) {
                finish(r, now, "503");
                return;
            }
            r.node = n;
            r.tried.add(n.id);
            SimNode.Slot slot = n.pool.get(r.adapter);
            r.tier = slot != null ? (slot.resident ? "hot" : "loading") : n.warm.containsKey(r.adapter) ? "warm" : "cold";
            if (sessionKey != null && sessionsServed.add(sessionKey)) {
                sessionFirst++;
                if (r.tier.equals("hot")) {
                    sessionFirstHot++;
                }
            }
            slot = ensure(n, r.adapter, now);
            slot.lastUse = ++clock;
            setLoad(n, n.load + 1);
            n.waiting.add(r);
            if (slot.resident) {
                wake(n, now);
            }
        }

        // --- placement ---

        /** Under the policy's load bound and its capacity: what a session's node must be for its turn under session-spill. */
        boolean roomy(SimNode n) {
            Base b = bases[n.base];
            return n.load < n.capacity && n.load + 1 <= policy.bound(b.totalLoad, b.eligible.size());
        }

        SimNode choose(SimAdapter a, Set<NodeId> excluded) {
            Base b = bases[a.base];
            return switch (config.policy()) {
                case RENDEZVOUS_BOUNDED -> {
                    SimNode chosen = policy.first(new Candidates(b, a, excluded), a.hash).orElse(null);
                    if (crossCheck) {
                        List<SimNode> eligible = b.nodes.stream().filter(n -> n.eligible() && !excluded.contains(n.id)).toList();
                        SimNode scanned = policy.first(PlacementPolicy.listed(eligible, (n, h, tier) -> tier == AdapterTier.HOT
                                ? n.pool.containsKey(a) : tier == AdapterTier.WARM && n.warm.containsKey(a)), a.hash).orElse(null);
                        if (scanned != chosen) {
                            throw new AssertionError("the index chose " + chosen + " for " + a.tenant + "/" + a.model + " where a scan"
                                    + " chooses " + scanned + " at " + queue.now() + " s");
                        }
                        crossChecked++;
                    }
                    yield chosen;
                }
                case LEAST_LOADED -> {
                    for (SimNode n : b.byLoad) {
                        if (!excluded.contains(n.id)) {
                            yield n;
                        }
                    }
                    yield null;
                }
                case RANDOM -> {
                    if (b.eligible.isEmpty()) {
                        yield null;
                    }
                    for (int i = 0; i < 8; i++) {
                        SimNode n = b.eligible.get(rnd.nextInt(b.eligible.size()));
                        if (!excluded.contains(n.id)) {
                            yield n;
                        }
                    }
                    List<SimNode> left = b.eligible.stream().filter(n -> !excluded.contains(n.id)).toList();
                    yield left.isEmpty() ? null : left.get(rnd.nextInt(left.size()));
                }
            };
        }

        /** The policy's view of one base's eligible nodes, from the index (no scan of nodes or adapters). */
        private final class Candidates implements PlacementPolicy.Candidates<SimNode> {
            final Base base;
            final SimAdapter adapter;
            final Set<NodeId> excluded;

            Candidates(Base base, SimAdapter adapter, Set<NodeId> excluded) {
                this.base = base;
                this.adapter = adapter;
                this.excluded = excluded;
            }

            boolean ok(SimNode n) {
                return n.eligible() && !excluded.contains(n.id);
            }

            @Override
            public int size() {
                int size = base.eligible.size();
                for (NodeId id : excluded) {
                    SimNode n = byId(id);
                    if (n != null && n.base == adapter.base && n.eligible()) {
                        size--;
                    }
                }
                return size;
            }

            @Override
            public long totalLoad() {
                long total = base.totalLoad;
                for (NodeId id : excluded) {
                    SimNode n = byId(id);
                    if (n != null && n.base == adapter.base && n.eligible()) {
                        total -= n.load;
                    }
                }
                return total;
            }

            @Override
            public Iterable<SimNode> holding(ContentHash hash, AdapterTier tier) {
                List<SimNode> on = tier == AdapterTier.HOT ? adapter.pooledOn : tier == AdapterTier.WARM ? adapter.warmOn : List.of();
                List<SimNode> out = new ArrayList<>(on.size());
                for (SimNode n : on) {
                    if (ok(n)) {
                        out.add(n);
                    }
                }
                return out;
            }

            @Override
            public Iterator<SimNode> rendezvous(ContentHash hash) {
                return new Iterator<>() {
                    int i;
                    SimNode next;

                    @Override
                    public boolean hasNext() {
                        while (next == null) {
                            int at = adapter.rendezvous(base.nodes, i++);
                            if (at < 0) {
                                return false;
                            }
                            SimNode n = base.nodes.get(at);
                            if (ok(n)) {
                                next = n;
                            }
                        }
                        return true;
                    }

                    @Override
                    public SimNode next() {
                        if (!hasNext()) {
                            throw new NoSuchElementException();
                        }
                        SimNode n = next;
                        next = null;
                        return n;
                    }
                };
            }

            @Override
            public Iterator<SimNode> byLoad() {
                if (excluded.isEmpty()) {
                    return base.byLoad.iterator();
                }
                return base.byLoad.stream().filter(n -> !excluded.contains(n.id)).iterator();
            }
        }

        SimNode byId(NodeId id) {
            int i = Integer.parseInt(id.value().substring("node-".length()));
            return i >= 0 && i < nodes.length ? nodes[i] : null;
        }

        void setLoad(SimNode n, int load) {
            Base b = bases[n.base];
            if (n.eligible()) {
                b.byLoad.remove(n);
                b.totalLoad += load - n.load;
                n.load = load;
                b.byLoad.add(n);
            } else {
                n.load = load;
            }
        }

        /** Takes {@code n} out of placement (dead or draining). */
        void retire(SimNode n) {
            Base b = bases[n.base];
            if (b.byLoad.remove(n)) {
                b.totalLoad -= n.load;
                b.eligible.remove(n);
            }
        }

        // --- adapters on a node ---

        /** The slot of {@code a} on {@code n}, starting its transfer (warm: host → device; cold: store → host → device) when new. */
        SimNode.Slot ensure(SimNode n, SimAdapter a, double now) {
            SimNode.Slot slot = n.pool.get(a);
            if (slot != null) {
                return slot;
            }
            boolean fromWarm = n.warm.remove(a) != null;
            if (fromWarm) {
                n.warmBytes -= a.bytes;
                a.warmOn.remove(n);
            }
            slot = new SimNode.Slot(a, !fromWarm);
            slot.lastUse = ++clock; // a prefetched adapter counts as used when its prefetch starts
            n.pool.put(a, slot);
            a.pooledOn.add(n);
            if (!claim(n, slot, now)) {
                slot.needsRoom = true;
                n.needsRoom.add(slot);
            }
            return slot;
        }

        /** Makes room (evicting as the engine would) and starts the transfer; false when every resident adapter is in use. */
        boolean claim(SimNode n, SimNode.Slot slot, double now) {
            FleetConfig.NodeSettings s = config.node();
            while (n.placed >= s.maxResident() || n.poolBytes + slot.adapter.bytes > s.poolBytes()) {
                SimNode.Slot victim = EvictionPolicy.victim(n.pool.values(), slot);
                if (victim == null) {
                    return false;
                }
                evict(n, victim);
            }
            n.placed++;
            n.poolBytes += slot.adapter.bytes;
            double start = Math.max(now, n.linkFreeAt);
            double seconds = slot.cold ? cost.coldLoadSeconds(slot.adapter.bytes) : cost.warmLoadSeconds(slot.adapter.bytes);
            n.linkFreeAt = start + seconds;
            if (slot.cold) {
                coldLoads++;
                winColdLoads++;
                networkBytes += slot.adapter.bytes;
            }
            queue.at(start + seconds, t -> loaded(n, slot, t));
            return true;
        }

        void loaded(SimNode n, SimNode.Slot slot, double now) {
            if (!n.alive || n.pool.get(slot.adapter) != slot) {
                return;
            }
            slot.resident = true;
            List<Runnable> then = slot.onResident;
            slot.onResident = List.of();
            then.forEach(Runnable::run);
            recovered(slot.adapter, now);
            wake(n, now);
        }

        void evict(SimNode n, SimNode.Slot victim) {
            SimAdapter a = victim.adapter;
            n.pool.remove(a);
            a.pooledOn.remove(n);
            n.placed--;
            n.poolBytes -= a.bytes;
            if (a.bytes <= config.node().warmBytes()) { // the engine keeps an evicted adapter warm, LRU by bytes
                n.warm.put(a, Boolean.TRUE);
                n.warmBytes += a.bytes;
                a.warmOn.add(n);
                Iterator<SimAdapter> it = n.warm.keySet().iterator();
                while (n.warmBytes > config.node().warmBytes() && it.hasNext()) {
                    SimAdapter old = it.next();
                    it.remove();
                    n.warmBytes -= old.bytes;
                    old.warmOn.remove(n);
                }
            }
        }

        /** Retries transfers that waited for room (a resident adapter just became idle). */
        void retryRoom(SimNode n, double now) {
            for (Iterator<SimNode.Slot> it = n.needsRoom.iterator(); it.hasNext();) {
                SimNode.Slot s = it.next();
                if (n.pool.get(s.adapter) != s) {
                    it.remove();
                } else if (claim(n, s, now)) {
                    s.needsRoom = false;
                    it.remove();
                } else {
                    return;
                }
            }
        }

        // --- the step loop ---

        /** Something may be admitted: start stepping, or end the current decode chunk at its next step boundary. */
        void wake(SimNode n, double now) {
            if (!n.alive) {
                return;
            }
            if (!n.stepping) {
                n.stepping = true;
                n.chunkSteps = 0;
                long epoch = ++n.epoch;
                queue.at(now, t -> boundary(n, epoch, t));
                return;
            }
            if (n.running.size() >= n.capacity || n.chunkSteps <= 1) {
                return;
            }
            int done = (int) Math.ceil((now - n.chunkStart) / n.stepSeconds - 1e-9);
            done = Math.max(1, done);
            if (done >= n.chunkSteps) {
                return;
            }
            n.chunkSteps = done;
            long epoch = ++n.epoch;
            queue.at(n.chunkStart + done * n.stepSeconds, t -> boundary(n, epoch, t));
        }

        /** The end of a chunk of steps: tokens out, finished requests out, waiting requests in, the next chunk scheduled. */
        void boundary(SimNode n, long epoch, double now) {
            if (epoch != n.epoch || !n.alive) {
                return;
            }
            int steps = n.chunkSteps;
            if (steps > 0) {
                List<SimRequest> finished = new ArrayList<>();
                for (SimRequest r : n.running) {
                    if (r.generated == 0) {
                        r.firstToken = n.chunkStart + n.stepSeconds;
                    }
                    r.generated += steps;
                    n.contextTokens += steps;
                    if (r.generated >= r.trace.maxTokens()) {
                        finished.add(r);
                    }
                }
                for (SimRequest r : finished) {
                    n.running.remove(r);
                    release(n, r, now);
                    finish(r, now, "200");
                }
            }
            long prefill = 0;
            int admitted = 0;
            if (n.running.size() < n.capacity) {
                for (Iterator<SimRequest> it = n.waiting.iterator(); it.hasNext() && n.running.size() < n.capacity;) {
                    SimRequest r = it.next();
                    SimNode.Slot slot = n.pool.get(r.adapter);
                    if (slot == null) { // evicted while the request waited (idle: nothing ran on it): load it again
                        slot = ensure(n, r.adapter, now);
                    }
                    if (slot.resident) {
                        it.remove();
                        n.running.add(r);
                        if (slot.refs++ == 0) {
                            n.activeAdapterBytes += r.adapter.bytes;
                        }
                        slot.lastUse = ++clock;
                        prefill += r.trace.promptTokens();
                        n.contextTokens += r.trace.promptTokens();
                        admitted++;
                    }
                }
            }
            if (n.running.isEmpty()) {
                n.stepping = false;
                n.chunkSteps = 0;
                drained(n, now);
                return;
            }
            if (admitted > 0) { // one step: the new requests' prompts, the others' next token
                n.chunkSteps = 1;
                n.stepSeconds = cost.stepSeconds(prefill + n.running.size() - admitted, n.activeAdapterBytes, n.contextTokens);
            } else {
                int k = Integer.MAX_VALUE;
                for (SimRequest r : n.running) {
                    k = Math.min(k, r.trace.maxTokens() - r.generated);
                }
                n.chunkSteps = Math.max(1, k);
                n.stepSeconds = cost.stepSeconds(n.running.size(), n.activeAdapterBytes, n.contextTokens);
            }
            n.chunkStart = now;
            long next = ++n.epoch;
            queue.at(now + n.chunkSteps * n.stepSeconds, t -> boundary(n, next, t));
        }

        void release(SimNode n, SimRequest r, double now) {
            SimNode.Slot slot = n.pool.get(r.adapter);
            n.contextTokens -= r.trace.promptTokens() + r.generated;
            if (slot != null && --slot.refs == 0) {
                n.activeAdapterBytes -= r.adapter.bytes;
                slot.lastUse = ++clock;
                if (!n.needsRoom.isEmpty()) {
                    retryRoom(n, now);
                }
            }
            setLoad(n, n.load - 1);
        }

        void finish(SimRequest r, double now, String status) {
            double latency = (now - r.arrival) * 1000;
            double first = Double.isNaN(r.firstToken) ? Double.NaN : (r.firstToken - r.arrival) * 1000;
            boolean success = status.equals("200");
            if (success) {
                ok++;
                outputTokens += r.generated;
                ttft.add((float) first);
                winTtftSum += first;
                winTtftCount++;
                if (r.generated > 1) {
                    perToken.add((float) ((now - r.firstToken) * 1000 / (r.generated - 1)));
                }
            } else {
                failed++;
            }
            if (r.retried) {
                retried++;
            }
            String tier = r.tier == null ? "" : r.tier;
            switch (tier) {
                case "hot" -> {
                    hot++;
                    winHot++;
                }
                case "warm" -> warm++;
                case "cold" -> cold++;
                case "loading" -> loading++;
                default -> {
                }
            }
            double clientTtft = success ? (r.trace.stream() ? first : latency) : Double.NaN;
            sink.accept(new RequestResult(r.trace.atMs(), r.trace.tenant(), r.trace.model(), r.node == null ? "" : r.node.id.value(),
                    tier, clientTtft, success ? latency : Double.NaN, first, r.generated, r.retried, success ? "200"
                            : status.equals("503") ? "503" : "failed"));
        }

        // --- operations and failures ---

        /** Per node death: the adapters hot there that were not hot again elsewhere yet, when it died, and each one's delay to hot again. */
        final List<Set<SimAdapter>> lost = new ArrayList<>();
        final List<double[]> lostAt = new ArrayList<>();
        final List<FloatList> rehot = new ArrayList<>();

        void die(SimNode n, double now) {
            if (!n.alive) {
                return;
            }
            retire(n);
            n.alive = false;
            Set<SimAdapter> hotThere = new HashSet<>();
            for (SimNode.Slot s : n.pool.values()) {
                s.adapter.pooledOn.remove(n);
                if (s.resident) {
                    hotThere.add(s.adapter);
                }
            }
            for (SimAdapter a : n.warm.keySet()) {
                a.warmOn.remove(n);
            }
            n.pool.clear();
            n.warm.clear();
            lost.add(hotThere);
            lostAt.add(new double[] {now, now});
            rehot.add(new FloatList());
            List<SimRequest> inFlight = new ArrayList<>(n.running);
            inFlight.addAll(n.waiting);
            n.running.clear();
            n.waiting.clear();
            n.load = 0;
            for (SimRequest r : inFlight) {
                if (r.trace.stream() && !Double.isNaN(r.firstToken)) {
                    finish(r, now, "failed"); // a stream already under way cannot start again
                } else { // the router tries another node (a non-streaming request starts again)
                    r.retried = true;
                    r.generated = 0;
                    r.firstToken = Double.NaN;
                    String key = r.trace.inSession() ? r.trace.tenant() + "\u0000" + r.trace.session() : null;
                    place(r, key, now);
                }
            }
        }

        void recovered(SimAdapter a, double now) {
            for (int i = 0; i < lost.size(); i++) {
                if (lost.get(i).remove(a)) {
                    lostAt.get(i)[1] = now;
                    rehot.get(i).add((float) (now - lostAt.get(i)[0]));
                }
            }
        }

        /** Per draining node: when it started, and the prefetches it still waits for. */
        final Map<SimNode, double[]> drainStarted = new HashMap<>();
        final Map<SimNode, int[]> drainPending = new HashMap<>();

        void drain(SimNode n, double now) {
            if (!n.eligible()) {
                return;
            }
            retire(n);
            n.draining = true;
            drainStarted.put(n, new double[] {now});
            int[] pending = {0};
            drainPending.put(n, pending);
            for (SimNode.Slot s : List.copyOf(n.pool.values())) {
                if (!s.resident) {
                    continue;
                }
                SimNode target = choose(s.adapter, Set.of(n.id));
                if (target == null) {
                    continue;
                }
                SimNode.Slot there = ensure(target, s.adapter, now);
                if (!there.resident) {
                    pending[0]++;
                    there.onResident = append(there.onResident, () -> {
                        pending[0]--;
                        drained(n, queue.now());
                    });
                }
            }
            drained(n, now);
        }

        /** A draining node with nothing in flight and its prefetches done leaves. */
        void drained(SimNode n, double now) {
            int[] pending = drainPending.get(n);
            if (!n.draining || pending == null || pending[0] > 0 || n.load > 0 || !n.alive) {
                return;
            }
            drainSeconds.add(now - drainStarted.get(n)[0]);
            drainPending.remove(n);
            n.alive = false;
            for (SimNode.Slot s : n.pool.values()) {
                s.adapter.pooledOn.remove(n);
            }
            for (SimAdapter a : n.warm.keySet()) {
                a.warmOn.remove(n);
            }
            n.pool.clear();
            n.warm.clear();
        }

        static List<Runnable> append(List<Runnable> list, Runnable r) {
            List<Runnable> out = new ArrayList<>(list);
            out.add(r);
            return out;
        }

        /**
         * The rule of {@code router.placement.Fleet#rebalance}, on the simulator's nodes: hot adapters move
         * from the most to the least loaded eligible node (load, then hot count) until their hot counts
         * differ by at most one, at most 256 moves; the source evicts once the target has it.
         */
        void rebalance(double now) {
            for (Base b : bases) {
                List<SimNode> ready = new ArrayList<>(b.eligible);
                if (ready.size() < 2) {
                    continue;
                }
                Map<SimNode, List<SimAdapter>> hotOn = new HashMap<>();
                for (SimNode n : ready) {
                    List<SimAdapter> h = new ArrayList<>();
                    n.pool.values().stream().filter(s -> s.resident).forEach(s -> h.add(s.adapter));
                    hotOn.put(n, h);
                }
                java.util.Comparator<SimNode> byLoad = java.util.Comparator.<SimNode>comparingInt(n -> n.load)
                        .thenComparingInt(n -> hotOn.get(n).size()).thenComparing(n -> n.id.value());
                for (int i = 0; i < 256; i++) {
                    SimNode from = Collections.max(ready, byLoad);
                    SimNode to = Collections.min(ready, byLoad);
                    if (from == to || hotOn.get(from).size() - hotOn.get(to).size() <= 1) {
                        break;
                    }
                    Set<SimAdapter> atTarget = new HashSet<>(hotOn.get(to));
                    SimAdapter move = hotOn.get(from).stream().filter(a -> !atTarget.contains(a))
                            .min(java.util.Comparator.comparingInt(a -> from.pool.get(a) == null ? 0 : from.pool.get(a).refs))
                            .orElse(null);
                    if (move == null) {
                        break;
                    }
                    hotOn.get(from).remove(move);
                    hotOn.get(to).add(move);
                    SimNode.Slot there = ensure(to, move, now);
                    Runnable evictSource = () -> {
                        SimNode.Slot s = from.pool.get(move);
                        if (s != null && s.idle()) {
                            evict(from, s);
                        }
                    };
                    if (there.resident) {
                        evictSource.run();
                    } else {
                        there.onResident = append(there.onResident, evictSource);
                    }
                }
            }
        }

        // --- figures ---

        void sample(double now) {
            int eligible = 0;
            long total = 0;
            int max = 0;
            for (SimNode n : nodes) {
                if (n.eligible()) {
                    eligible++;
                    total += n.load;
                    max = Math.max(max, n.load);
                }
            }
            double imbalance = Double.NaN;
            if (eligible > 0 && total > 0) {
                imbalance = max / ((double) total / eligible);
                imbalanceSum += imbalance;
                imbalanceMax = Math.max(imbalanceMax, imbalance);
                imbalanceSamples++;
            }
            double dt = config.sampleIntervalSeconds();
            series.rows.add(new double[] {now, winRequests / dt, winRequests == 0 ? Double.NaN : (double) winHot / winRequests,
                    winTtftCount == 0 ? Double.NaN : winTtftSum / winTtftCount, winColdLoads / dt, imbalance, eligible});
            winRequests = 0;
            winHot = 0;
            winColdLoads = 0;
            winTtftSum = 0;
            winTtftCount = 0;
            if (now + dt <= config.durationSeconds() + 1e-9) {
                queue.at(now + dt, this::sample);
            }
        }

        Summary summary(double wall) {
            List<Double> recoveryMedian = new ArrayList<>();
            for (int i = 0; i < lostAt.size(); i++) {
                recoverySeconds.add(lostAt.get(i)[1] - lostAt.get(i)[0]);
                recoveryMedian.add(rehot.get(i).percentile(50));
            }
            double seconds = config.durationSeconds();
            return new Summary(config.name(), config.policy().configName(), config.loadFactor(), config.loadSlack(),
                    config.sessionPrefetch(), config.nodes(), config.tenants(), config.tenants() * config.adaptersPerTenant(), seconds,
                    requests, ok, failed, retried, outputTokens / seconds, ttft.percentile(50), ttft.percentile(99),
                    perToken.percentile(50), perToken.percentile(99), rate(hot), rate(warm), rate(cold), rate(loading), coldLoads,
                    coldLoads / seconds, networkBytes, imbalanceSamples == 0 ? Double.NaN : imbalanceSum / imbalanceSamples,
                    imbalanceMax, sessionFirst == 0 ? Double.NaN : (double) sessionFirstHot / sessionFirst, drainSeconds,
                    recoverySeconds, recoveryMedian, queue.ran(), wall);
        }

        double rate(long n) {
            return requests == 0 ? Double.NaN : (double) n / requests;
        }
    }

    /** A growable float array: millions of latencies without boxing. */
    static final class FloatList {
        private float[] a = new float[1024];
        private int n;

        void add(float v) {
            if (n == a.length) {
                a = Arrays.copyOf(a, n * 2);
            }
            a[n++] = v;
        }

        /** The nearest-rank percentile, NaN when empty. */
        double percentile(double p) {
            if (n == 0) {
                return Double.NaN;
            }
            float[] sorted = Arrays.copyOf(a, n);
            Arrays.sort(sorted);
            int rank = (int) Math.ceil(p / 100 * n);
            return sorted[Math.max(0, Math.min(n - 1, rank - 1))];
        }
    }
}
