package io.loraplex.router.placement;

import static io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier.HOT;
import static io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier.WARM;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.HeldAdapter;
import io.loraplex.cluster.node.GpuNodeProtocol.NodeStats;
import io.loraplex.router.placement.Placement.NodeView;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The placement rules on hand-made node views: holders first, rendezvous homes, bounded load, drains. */
class PlacementTest {

    private static final ActorTestKit KIT = ActorTestKit.create("placement-test");

    @AfterAll
    static void stop() {
        KIT.shutdownTestKit();
    }

    private static NodeView node(String id, int running, int capacity, List<HeldAdapter> held) {
        return view(id, running, capacity, held, false, "base-1");
    }

    private static NodeView view(String id, int running, int capacity, List<HeldAdapter> held, boolean draining, String identity) {
        List<String> hot = held.stream().filter(h -> h.tier() == HOT).map(h -> h.adapter().contentHash().hex()).toList();
        NodeStats stats = new NodeStats(new NodeId(id), "base", identity, !draining, draining, running, 0, capacity, 100, 100, 0,
                hot, held);
        return new NodeView(KIT.<GpuNodeProtocol.Command>createTestProbe().ref(), stats, true, false);
    }

    private static AdapterRef adapter(String name) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(name.getBytes(StandardCharsets.UTF_8));
            return new AdapterRef(new TenantId("t"), name, 1, new ContentHash(HexFormat.of().formatHex(digest)), "base-1");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private static String chosen(Placement p, AdapterRef a) {
        return p.rank(a, null, Set.of()).getFirst().id().value();
    }

    /** The node of {@code ids} with the highest rendezvous score for the adapter's content hash. */
    private static String home(AdapterRef a, String... ids) {
        return java.util.Arrays.stream(ids).max(java.util.Comparator.comparingLong(id -> Rendezvous.score(a.contentHash().hex(), id)))
                .orElseThrow();
    }

    private static Set<NodeId> ids(String... ids) {
        Set<NodeId> out = new java.util.HashSet<>();
        for (String id : ids) {
            out.add(new NodeId(id));
        }
        return out;
    }

    @Test
    void coldAdaptersGoToTheirRendezvousHomeAndSpreadOverNodes() {
        Placement p = Placement.detached(1.25, 4);
        p.show(List.of(node("a", 0, 64, List.of()), node("b", 0, 64, List.of()), node("c", 0, 64, List.of())));
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < 300; i++) {
            AdapterRef a = adapter("adapter-" + i);
            String first = chosen(p, a);
            assertEquals(first, chosen(p, a), "the same adapter always has the same home");
            assertEquals(first, home(a, "a", "b", "c"), "an idle fleet puts a cold adapter on its rendezvous home");
            counts.merge(first, 1, Integer::sum);
        }
        // 300 draws over 3 nodes: each gets a third ± a wide margin (binomial sd ≈ 8)
        for (String n : List.of("a", "b", "c")) {
            assertTrue(counts.getOrDefault(n, 0) > 60 && counts.getOrDefault(n, 0) < 140, "uneven spread: " + counts);
        }
    }

    @Test
    void aNodeLeavingMovesOnlyTheAdaptersItWasHomeTo() {
        Placement p = Placement.detached(1.25, 4);
        NodeView a = node("a", 0, 64, List.of());
        NodeView b = node("b", 0, 64, List.of());
        NodeView c = node("c", 0, 64, List.of());
        p.show(List.of(a, b, c));
        Map<String, String> before = new HashMap<>();
        for (int i = 0; i < 100; i++) {
            before.put("x" + i, chosen(p, adapter("x" + i)));
        }
        p.show(List.of(a, b));
        for (int i = 0; i < 100; i++) {
            String was = before.get("x" + i);
            String now = chosen(p, adapter("x" + i));
            if (!was.equals("c")) {
                assertEquals(was, now, "x" + i + " moved though its home stayed");
            } else {
                assertNotEquals("c", now);
            }
        }
    }

    @Test
    void aNodeHoldingTheAdapterHotOrWarmComesFirst() {
        AdapterRef x = adapter("x");
        Placement p = Placement.detached(1.25, 4);
        p.show(List.of(node("a", 0, 64, List.of()), node("b", 0, 64, List.of())));
        String home = chosen(p, x);
        String other = home.equals("a") ? "b" : "a";
        p.show(List.of(node(home, 0, 64, List.of()), node(other, 0, 64, List.of(new HeldAdapter(x, WARM, false, 0)))));
        assertEquals(other, chosen(p, x), "warm beats cold");
        p.show(List.of(node(home, 0, 64, List.of(new HeldAdapter(x, WARM, false, 0))),
                node(other, 0, 64, List.of(new HeldAdapter(x, HOT, false, 0)))));
        assertEquals(other, chosen(p, x), "hot beats warm");
    }

    @Test
    void aLoadedHomeSpillsOverToTheNextNode() {
        AdapterRef x = adapter("x");
        Placement p = Placement.detached(1.25, 4);
        p.show(List.of(node("a", 0, 64, List.of()), node("b", 0, 64, List.of())));
        String home = chosen(p, x);
        String other = home.equals("a") ? "b" : "a";
        // home runs 20, the other 0: the bound is ceil(1.25 * 21 / 2) + 4 = 18, so the home is over it
        p.show(List.of(node(home, 20, 64, List.of(new HeldAdapter(x, HOT, false, 20))), node(other, 0, 64, List.of())));
        assertEquals(other, chosen(p, x));
        // home runs 10: ceil(1.25 * 11 / 2) + 4 = 11, room for one more on the node that holds it hot
        p.show(List.of(node(home, 10, 64, List.of(new HeldAdapter(x, HOT, false, 10))), node(other, 0, 64, List.of())));
        assertEquals(home, chosen(p, x));
        p.show(List.of(node(home, 20, 64, List.of(new HeldAdapter(x, HOT, false, 20))), node(other, 0, 64, List.of())));
        assertEquals(other, chosen(p, x));
        // a full node (at capacity) takes nothing while another has room
        p.show(List.of(node(home, 4, 4, List.of(new HeldAdapter(x, HOT, false, 4))), node(other, 3, 64, List.of())));
        assertEquals(other, chosen(p, x));
    }

    @Test
    void picksCountUntilTheNextStatsSoABurstSpreads() {
        AdapterRef x = adapter("x");
        Placement p = Placement.detached(1.25, 4);
        p.show(List.of(node("a", 0, 64, List.of()), node("b", 0, 64, List.of())));
        List<String> picks = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            picks.add(p.choose(x, null, Set.of()).orElseThrow().id().value());
        }
        // the home takes the first 13; with 13 there, the bound is ceil(1.25 * 14 / 2) + 4 = 13: the 14th spills
        assertEquals(List.of(picks.getFirst()), picks.subList(0, 13).stream().distinct().toList(), picks.toString());
        assertNotEquals(picks.getFirst(), picks.get(13), picks.toString());
        assertTrue(picks.contains("a") && picks.contains("b"), "a burst of one adapter spills over: " + picks);
    }

    @Test
    void drainingExcludedAndOtherBaseNodesAreSkipped() {
        AdapterRef x = adapter("x");
        Placement p = Placement.detached(1.25, 4);
        p.show(List.of(view("a", 0, 64, List.of(new HeldAdapter(x, HOT, false, 0)), true, "base-1"), node("b", 5, 64, List.of())));
        assertEquals("b", chosen(p, x), "a draining node takes nothing");
        p.show(List.of(node("a", 0, 64, List.of()), node("b", 0, 64, List.of())));
        p.markDraining(new NodeId("a"), true);
        assertEquals(List.of(new NodeId("b")), p.rank(x, null, Set.of()).stream().map(NodeView::id).toList());
        assertTrue(p.rank(x, null, ids("b")).isEmpty(), "excluded nodes are skipped");
        p.markDraining(new NodeId("a"), false);
        p.show(List.of(view("a", 0, 64, List.of(), false, "base-2"), node("b", 9, 64, List.of())));
        assertEquals(List.of(new NodeId("b")), p.rank(x, null, Set.of()).stream().map(NodeView::id).toList(),
                "a node serving another base than the adapter's is skipped");
        assertEquals(2, p.rank(null, null, Set.of()).size(), "the base model goes anywhere");
    }
}
