package io.loraplex.router.placement;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/**
 * The extracted rule ranks as {@code Placement.rank} did before it was extracted: the old code is
 * kept below as the reference, and both rank random fleets (loads, capacities, holders).
 */
class PlacementPolicyTest {

    private record N(NodeId id, int load, int capacity, Set<ContentHash> hot, Set<ContentHash> warm) implements PlacementPolicy.Node {
    }

    private static boolean holds(N n, ContentHash h, AdapterTier tier) {
        return tier == AdapterTier.HOT ? n.hot().contains(h) : tier == AdapterTier.WARM && n.warm().contains(h);
    }

    /** {@code Placement.rank} as it was before the rule moved to {@link PlacementPolicy} (candidates already filtered). */
    private static List<N> reference(List<N> nodes, ContentHash hash, double loadFactor, int loadSlack) {
        Comparator<N> byId = Comparator.comparing(n -> n.id().value());
        List<N> candidates = nodes.stream().sorted(byId).toList();
        if (candidates.isEmpty()) {
            return List.of();
        }
        Comparator<N> byLoad = Comparator.<N>comparingInt(N::load).thenComparing(byId);
        if (hash == null) {
            return candidates.stream().sorted(byLoad).toList();
        }
        long total = candidates.stream().mapToLong(N::load).sum();
        double bound = Math.ceil(loadFactor * (total + 1) / candidates.size()) + loadSlack;
        Predicate<N> roomy = n -> n.load() < n.capacity() && n.load() + 1 <= bound;
        Predicate<N> notFull = n -> n.load() < n.capacity();
        List<N> order = new ArrayList<>();
        candidates.stream().filter(n -> holds(n, hash, AdapterTier.HOT) && roomy.test(n)).sorted(byLoad).forEach(order::add);
        candidates.stream().filter(n -> holds(n, hash, AdapterTier.WARM) && roomy.test(n)).sorted(byLoad).forEach(order::add);
        candidates.stream().sorted(Comparator.comparingLong((N n) -> Rendezvous.score(hash.hex(), n.id().value())).reversed())
                .filter(roomy).forEach(order::add);
        candidates.stream().filter(notFull).sorted(byLoad).forEach(order::add);
        candidates.stream().sorted(byLoad).forEach(order::add);
        return order.stream().distinct().toList();
    }

    private static ContentHash hash(Random rnd) {
        byte[] b = new byte[32];
        rnd.nextBytes(b);
        return new ContentHash(HexFormat.of().formatHex(b));
    }

    @Test
    void theExtractedRuleRanksRandomFleetsAsTheOldRankDid() {
        Random rnd = new Random(7);
        List<ContentHash> hashes = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            hashes.add(hash(rnd));
        }
        double[][] bounds = {{1.25, 4}, {1.0, 0}, {2.0, 16}};
        for (int trial = 0; trial < 2000; trial++) {
            int size = rnd.nextInt(12);
            List<N> nodes = new ArrayList<>();
            for (int i = 0; i < size; i++) {
                Set<ContentHash> hot = new java.util.HashSet<>();
                Set<ContentHash> warm = new java.util.HashSet<>();
                for (ContentHash h : hashes) {
                    int r = rnd.nextInt(6);
                    if (r == 0) {
                        hot.add(h);
                    } else if (r == 1) {
                        warm.add(h);
                    }
                }
                int capacity = 1 + rnd.nextInt(8);
                nodes.add(new N(new NodeId("n" + rnd.nextInt(1000) + "-" + i), rnd.nextInt(capacity + 3), capacity, hot, warm));
            }
            double[] b = bounds[trial % bounds.length];
            PlacementPolicy policy = new PlacementPolicy(b[0], (int) b[1]);
            ContentHash h = rnd.nextInt(6) == 0 ? null : hashes.get(rnd.nextInt(hashes.size()));
            PlacementPolicy.Candidates<N> listed = PlacementPolicy.listed(nodes, PlacementPolicyTest::holds);
            List<N> expected = reference(nodes, h, b[0], (int) b[1]);
            assertEquals(expected, policy.rank(listed, h), "trial " + trial);
            assertEquals(expected.stream().findFirst(), policy.first(listed, h), "trial " + trial);
        }
    }

    @Test
    void theBoundIsTheLoadFactorTimesTheMeanWithOneMoreRequestPlusTheSlack() {
        // 10 requests on 4 nodes, one more: ceil(1.25 * 11 / 4) + 4 = ceil(3.4375) + 4 = 8
        assertEquals(8.0, new PlacementPolicy(1.25, 4).bound(10, 4));
    }

    @Test
    void scoringFromTheKeysStateEqualsScoringTheKeyAndNode() {
        String key = "ab".repeat(32);
        long state = Rendezvous.keyState(key);
        for (String node : List.of("a", "node-0001", "gpu-7.local")) {
            assertEquals(Rendezvous.score(key, node), Rendezvous.score(state, node));
        }
    }
}
