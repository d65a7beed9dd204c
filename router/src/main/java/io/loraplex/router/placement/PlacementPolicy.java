package io.loraplex.router.placement;

import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;

/**
 * The ranking rule of placement, apart from actors and stats: among the eligible nodes for an
 * adapter, those holding it hot, then warm, then the nodes in rendezvous order on its content hash,
 * each only while its load stays under the bound ({@code load-factor} times the mean load, plus
 * {@code load-slack}, and below its capacity); then the not-full nodes by load, then every node by
 * load. {@link Placement#rank} ranks the router's views with it; the fleet simulator ranks its
 * simulated nodes with it, through an index that answers the same questions without scanning.
 */
public final class PlacementPolicy {

    /** A node as the rule sees it. */
    public interface Node {
        NodeId id();

        /** Requests running and waiting there (as far as the ranker knows). */
        int load();

        /** How many requests it runs at once. */
        int capacity();
    }

    /**
     * The eligible nodes for one request (ready, not draining, serving the adapter's base, not
     * excluded), with the lookups the rule needs.
     */
    public interface Candidates<N extends Node> {
        int size();

        /** The sum of the candidates' loads. */
        long totalLoad();

        /** The candidates holding the adapter of {@code hash} in {@code tier}, in any order. */
        Iterable<N> holding(ContentHash hash, AdapterTier tier);

        /** Every candidate, highest rendezvous score for {@code hash} first (ties by id). */
        Iterator<N> rendezvous(ContentHash hash);

        /** Every candidate, least loaded first (ties by id). */
        Iterator<N> byLoad();
    }

    /** Least loaded first, ties by id: every router ranks the same views the same way. */
    public static final Comparator<Node> BY_LOAD = Comparator.comparingInt(Node::load).thenComparing(n -> n.id().value());

    private final double loadFactor;
    private final int loadSlack;

    public PlacementPolicy(double loadFactor, int loadSlack) {
        this.loadFactor = loadFactor;
        this.loadSlack = loadSlack;
    }

    public double loadFactor() {
        return loadFactor;
    }

    public int loadSlack() {
        return loadSlack;
    }

    /** Every candidate, best first, for the adapter of {@code hash} (null: the base model, by load alone). */
    public <N extends Node> List<N> rank(Candidates<N> candidates, ContentHash hash) {
        List<N> out = new ArrayList<>(candidates.size());
        ranking(candidates, hash).forEachRemaining(out::add);
        return out;
    }

    /** The head of {@link #rank}, computed without ranking the rest. */
    public <N extends Node> Optional<N> first(Candidates<N> candidates, ContentHash hash) {
        Iterator<N> it = ranking(candidates, hash);
        return it.hasNext() ? Optional.of(it.next()) : Optional.empty();
    }

    /** The load bound a node must stay under to take one more request of an adapter. */
    public double bound(long totalLoad, int candidates) {
        return Math.ceil(loadFactor * (totalLoad + 1) / candidates) + loadSlack;
    }

    /** The ranking, stage by stage and lazily, each node once. */
    private <N extends Node> Iterator<N> ranking(Candidates<N> candidates, ContentHash hash) {
        if (candidates.size() == 0) {
            return Collections.emptyIterator();
        }
        if (hash == null) {
            return candidates.byLoad();
        }
        double bound = bound(candidates.totalLoad(), candidates.size());
        java.util.function.Predicate<N> roomy = n -> n.load() < n.capacity() && n.load() + 1 <= bound;
        java.util.function.Predicate<N> notFull = n -> n.load() < n.capacity();
        List<java.util.function.Supplier<Iterator<N>>> stages = List.of(
                () -> holders(candidates, hash, AdapterTier.HOT, roomy),
                () -> holders(candidates, hash, AdapterTier.WARM, roomy),
                () -> filter(candidates.rendezvous(hash), roomy),
                () -> filter(candidates.byLoad(), notFull),
                candidates::byLoad);
        return new Iterator<>() {
            private final Set<NodeId> seen = new HashSet<>();
            private int stage = -1;
            private Iterator<N> current = Collections.emptyIterator();
            private N next;

            @Override
            public boolean hasNext() {
                while (next == null) {
                    while (!current.hasNext()) {
                        if (++stage == stages.size()) {
                            return false;
                        }
                        current = stages.get(stage).get();
                    }
                    N n = current.next();
                    if (seen.add(n.id())) {
                        next = n;
                    }
                }
                return true;
            }

            @Override
            public N next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                N n = next;
                next = null;
                return n;
            }
        };
    }

    private static <N extends Node> Iterator<N> holders(Candidates<N> candidates, ContentHash hash, AdapterTier tier,
            java.util.function.Predicate<N> roomy) {
        List<N> out = new ArrayList<>();
        for (N n : candidates.holding(hash, tier)) {
            if (roomy.test(n)) {
                out.add(n);
            }
        }
        out.sort(BY_LOAD);
        return out.iterator();
    }

    private static <N> Iterator<N> filter(Iterator<N> it, java.util.function.Predicate<N> keep) {
        return new Iterator<>() {
            private N next;

            @Override
            public boolean hasNext() {
                while (next == null && it.hasNext()) {
                    N n = it.next();
                    if (keep.test(n)) {
                        next = n;
                    }
                }
                return next != null;
            }

            @Override
            public N next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                N n = next;
                next = null;
                return n;
            }
        };
    }

    /**
     * Candidates given as a list (the router's few views): lookups scan it, which at router scale
     * costs less than keeping an index.
     *
     * @param holds whether a node holds the adapter of a content hash in a tier
     */
    public static <N extends Node> Candidates<N> listed(List<N> nodes, HoldsLookup<N> holds) {
        List<N> byLoad = new ArrayList<>(nodes);
        byLoad.sort(BY_LOAD);
        long total = 0;
        for (N n : nodes) {
            total += n.load();
        }
        long totalLoad = total;
        return new Candidates<>() {
            @Override
            public int size() {
                return nodes.size();
            }

            @Override
            public long totalLoad() {
                return totalLoad;
            }

            @Override
            public Iterable<N> holding(ContentHash hash, AdapterTier tier) {
                return nodes.stream().filter(n -> holds.holds(n, hash, tier)).toList();
            }

            @Override
            public Iterator<N> rendezvous(ContentHash hash) {
                long key = Rendezvous.keyState(hash.hex());
                List<N> order = new ArrayList<>(nodes);
                order.sort(rendezvousOrder(key));
                return order.iterator();
            }

            @Override
            public Iterator<N> byLoad() {
                return byLoad.iterator();
            }
        };
    }

    /** Highest rendezvous score first for the key of {@code keyState}, ties by id. */
    public static Comparator<Node> rendezvousOrder(long keyState) {
        return Comparator.comparingLong((Node n) -> Rendezvous.score(keyState, n.id().value())).reversed()
                .thenComparing(n -> n.id().value());
    }

    /** Whether a node holds an adapter in a tier. */
    @FunctionalInterface
    public interface HoldsLookup<N> {
        boolean holds(N node, ContentHash hash, AdapterTier tier);
    }
}
