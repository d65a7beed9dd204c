package io.loraplex.simulations.fleet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.loraplex.router.placement.Rendezvous;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Two nodes, three adapters, requests far apart (no load effects): every tier follows from the
 * rendezvous homes, one pool slot per node and the LRU warm tier, worked out by hand below.
 */
class TinyFleetTest {

    /** Two H100 nodes with one pool slot each, no generated events; {@code extra} overrides. */
    static FleetConfig tiny(String extra) {
        return FleetConfig.create(ConfigFactory.parseString("fleet { nodes = 2, duration = 120s, node.max-resident = 1,"
                + " adapter-ranks = [16], failures = [], drains = [], rebalances = [], tenants = 1, adapters-per-tenant = 3,"
                + " traffic.session-open-lead = 0s }\n" + extra)); // extra last: it overrides
    }

    static TraceRequest req(long atMs, String model, boolean stream) {
        return new TraceRequest(atMs, "t", model, "", 100, 8, stream);
    }

    /** The node (0 or 1) an adapter of tenant t goes to when nothing holds it: its rendezvous home. */
    static int home(String model) {
        String hex = SimAdapter.contentHash("t/" + model).hex();
        return Long.compare(Rendezvous.score(hex, "node-0000"), Rendezvous.score(hex, "node-0001")) >= 0 ? 0 : 1;
    }

    /** Adapter names: two whose home is node 0 and one whose home is node 1 (found once, checked here). */
    static final String A;
    static final String B;
    static final String C;

    static {
        String a = null;
        String b = null;
        String c = null;
        for (int i = 0; a == null || b == null || c == null; i++) {
            String name = "m" + i;
            if (home(name) == 0) {
                if (a == null) {
                    a = name;
                } else if (b == null) {
                    b = name;
                }
            } else if (c == null) {
                c = name;
            }
        }
        A = a;
        B = b;
        C = c;
    }

    @Test
    void hotAndColdOutcomesFollowTheHomesTheSlotAndTheWarmTier() {
        List<TraceRequest> trace = List.of(
                req(0, A, true),      // A: hot nowhere, warm nowhere → its home, node 0: cold
                req(10_000, A, true), // A is in node 0's pool → node 0: hot
                req(20_000, C, true), // C → its home, node 1: cold
                req(30_000, B, true), // B → its home, node 0: cold; node 0's one slot goes from idle A to B, A goes warm
                req(40_000, A, true), // A is warm on node 0 (warm comes before rendezvous) → node 0: warm; B goes warm
                req(50_000, C, true), // C still in node 1's pool → hot
                req(60_000, B, true)); // B warm on node 0 → warm
        FleetSimulator.Result r = FleetSimulator.run(tiny(""), trace);
        List<String> tiers = r.requests().stream().map(RequestResult::tier).toList();
        List<String> nodes = r.requests().stream().map(RequestResult::node).toList();
        assertEquals(List.of("cold", "hot", "cold", "cold", "warm", "hot", "warm"), tiers);
        assertEquals(List.of("node-0000", "node-0000", "node-0001", "node-0000", "node-0000", "node-0001", "node-0000"), nodes);
        Summary s = r.summary();
        assertEquals(7, s.ok());
        assertEquals(3, s.coldLoads());
        assertEquals(3 * CostModel.h100().adapterBytes(16), s.networkBytes());
        assertEquals(2.0 / 7, s.hotHitRate(), 1e-12);
    }

    @Test
    void aFirstTokenAfterAColdLoadWaitsForTheLoadThenOnePrefillStep() {
        FleetSimulator.Result r = FleetSimulator.run(tiny(""), List.of(req(0, A, true), req(10_000, A, false)));
        CostModel h = CostModel.h100();
        long bytes = h.adapterBytes(16);
        double cold = h.coldLoadSeconds(bytes) + h.stepSeconds(100, bytes, 100);
        double hot = h.stepSeconds(100, bytes, 100);
        assertEquals(cold * 1000, r.requests().get(0).firstTokenMs(), 1e-6);
        assertEquals(hot * 1000, r.requests().get(1).firstTokenMs(), 1e-6);
        // not streaming: what the client sees as time to first token is the whole answer
        assertEquals(r.requests().get(1).latencyMs(), r.requests().get(1).ttftMs(), 1e-9);
        assertTrue(r.requests().get(1).latencyMs() > r.requests().get(1).firstTokenMs());
    }

    @Test
    void aNodeDeathReplacesItsRequestsAndItsAdaptersOnTheOtherNode() {
        // A's home is node 0; node 0 dies at 10.5 s, while two long requests of A run there
        FleetConfig c = tiny("fleet.failures = [{ node = 0, at = 10500ms }]");
        List<TraceRequest> trace = List.of(
                new TraceRequest(0, "t", A, "", 100, 8, true),
                new TraceRequest(10_000, "t", A, "", 100, 4000, true),   // streaming, under way: fails
                new TraceRequest(10_000, "t", A, "", 100, 4000, false),  // not streaming: starts again on node 1
                new TraceRequest(20_000, "t", A, "", 100, 8, true));     // after: node 1, where A now is
        FleetSimulator.Result r = FleetSimulator.run(c, trace);
        List<RequestResult> byTime = r.requests().stream().sorted(java.util.Comparator.comparingLong(RequestResult::atMs)
                .thenComparing(RequestResult::status)).toList();
        assertEquals("node-0000", byTime.get(0).node());
        RequestResult retried = r.requests().stream().filter(RequestResult::retried).findFirst().orElseThrow();
        assertEquals("node-0001", retried.node());
        assertEquals("200", retried.status());
        assertEquals("cold", retried.tier());
        RequestResult failed = r.requests().stream().filter(x -> x.status().equals("failed")).findFirst().orElseThrow();
        assertEquals("node-0000", failed.node());
        RequestResult after = r.requests().stream().filter(x -> x.atMs() == 20_000).findFirst().orElseThrow();
        assertEquals("node-0001", after.node());
        assertEquals("hot", after.tier());
        Summary s = r.summary();
        assertEquals(1, s.failed());
        assertEquals(1, s.retried());
        // A was hot on node 0; it is hot again on node 1 one cold load after the death
        assertEquals(1, s.recoverySeconds().size());
        assertEquals(CostModel.h100().coldLoadSeconds(CostModel.h100().adapterBytes(16)), s.recoverySeconds().getFirst(), 1e-9);
    }

    @Test
    void aDrainedNodeTakesNothingNewAndItsHotAdaptersArePrefetchedOnTheOther() {
        FleetConfig c = tiny("fleet.drains = [{ node = 0, at = 5s }]");
        FleetSimulator.Result r = FleetSimulator.run(c, List.of(req(0, A, true), req(10_000, A, true)));
        assertEquals("node-0000", r.requests().get(0).node());
        assertEquals("node-0001", r.requests().get(1).node());
        assertEquals("hot", r.requests().get(1).tier(), "the drain prefetched A on node 1");
        assertEquals(1, r.summary().drainSeconds().size());
        assertEquals(CostModel.h100().coldLoadSeconds(CostModel.h100().adapterBytes(16)), r.summary().drainSeconds().getFirst(), 1e-9);
    }

    @Test
    void aSessionsOpenPrefetchesItsAdapterSoItsFirstTurnIsHotAndWithoutPrefetchCold() {
        String lead = "fleet.traffic.session-open-lead = 2s\n";
        List<TraceRequest> trace = List.of(new TraceRequest(5_000, "t", A, "s1", 100, 8, true),
                new TraceRequest(15_000, "t", A, "s1", 100, 8, true));
        FleetSimulator.Result on = FleetSimulator.run(tiny(lead + "fleet.placement.session-prefetch = on"), trace);
        FleetSimulator.Result off = FleetSimulator.run(tiny(lead + "fleet.placement.session-prefetch = off"), trace);
        assertEquals(List.of("hot", "hot"), on.requests().stream().map(RequestResult::tier).toList());
        assertEquals(List.of("cold", "hot"), off.requests().stream().map(RequestResult::tier).toList());
        assertEquals(1.0, on.summary().sessionPrefetchHitRate());
        assertEquals(0.0, off.summary().sessionPrefetchHitRate());
    }

    @Test
    void aSessionOpensItsLeadBeforeItsFirstTurnEvenWhenAnotherRequestComesBetween() {
        // a 1 s cold load; the session opens at 3 s, so its adapter is hot at 5 s, though a request at 4.9 s comes first
        String slow = "fleet.traffic.session-open-lead = 2s\nfleet.cost-models.h100.network-latency = 1s";
        List<TraceRequest> trace = List.of(new TraceRequest(4_900, "t", C, "", 100, 8, true),
                new TraceRequest(5_000, "t", A, "s1", 100, 8, true));
        FleetSimulator.Result r = FleetSimulator.run(tiny(slow), trace);
        RequestResult first = r.requests().stream().filter(x -> x.model().equals(A)).findFirst().orElseThrow();
        assertEquals("hot", first.tier());
    }

    @Test
    void withSessionSpillATurnLeavesItsSessionsNodeWhenThatIsOverTheLoadBound() {
        // load-factor 1, slack 0: with one request running on node 0, the bound for the next is ceil(2 / 2) = 1
        String bound = "fleet.placement { load-factor = 1.0, load-slack = 0 }\n";
        List<TraceRequest> trace = List.of(new TraceRequest(0, "t", A, "s1", 100, 4000, true),
                new TraceRequest(1_000, "t", A, "s1", 100, 8, true));
        FleetSimulator.Result spill = FleetSimulator.run(tiny(bound + "fleet.placement.session-spill = on"), trace);
        FleetSimulator.Result sticky = FleetSimulator.run(tiny(bound + "fleet.placement.session-spill = off"), trace);
        java.util.Comparator<RequestResult> byTime = java.util.Comparator.comparingLong(RequestResult::atMs);
        assertEquals(List.of("node-0000", "node-0001"), spill.requests().stream().sorted(byTime).map(RequestResult::node).toList());
        assertEquals(List.of("node-0000", "node-0000"), sticky.requests().stream().sorted(byTime).map(RequestResult::node).toList());
    }

    @Test
    void theNamesPickedHaveTheHomesTheTestsAssume() {
        assertEquals(0, home(A));
        assertEquals(0, home(B));
        assertEquals(1, home(C));
        assertNotEquals(A, B);
        assertFalse(A.equals(C) || B.equals(C));
    }
}
