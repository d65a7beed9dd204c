package io.loraplex.router.placement;

import static io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier.HOT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.HeldAdapter;
import io.loraplex.cluster.node.GpuNodeProtocol.NodeStats;
import io.loraplex.cluster.placement.PlacementProtocol;
import io.loraplex.cluster.placement.PlacementProtocol.Chosen;
import io.loraplex.cluster.placement.PlacementProtocol.NoNode;
import io.loraplex.cluster.placement.PlacementProtocol.NoNodeReason;
import io.loraplex.cluster.placement.PlacementProtocol.Work;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The rules by which validation and training get a node ({@link Placement#chooseFor}), on hand-made
 * views, and the actor that answers {@link PlacementProtocol} with them through the receptionist.
 */
class PlacementServiceTest {

    private static final ActorTestKit KIT = ActorTestKit.create("placement-service-test");

    @AfterAll
    static void stop() {
        KIT.shutdownTestKit();
    }

    /** A node serving {@code base} (identity {@code base + "-id"}), ready unless draining. */
    private static Placement.NodeView node(String id, String base, int running, boolean draining, List<HeldAdapter> held) {
        List<String> hot = held.stream().filter(h -> h.tier() == HOT).map(h -> h.adapter().contentHash().hex()).toList();
        NodeStats stats = new NodeStats(new NodeId(id), base, base + "-id", !draining, draining, running, 0, 64, 100, 100, 0, hot,
                held);
        return new Placement.NodeView(KIT.<GpuNodeProtocol.Command>createTestProbe().ref(), stats, true, false);
    }

    private static Placement.NodeView node(String id, String base) {
        return node(id, base, 0, false, List.of());
    }

    private static AdapterRef adapter(String name) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(name.getBytes(StandardCharsets.UTF_8));
            return new AdapterRef(new TenantId("t"), name, 1, new ContentHash(HexFormat.of().formatHex(digest)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private static String chosenId(PlacementProtocol.NodeChoice choice) {
        return assertInstanceOf(Chosen.class, choice, choice.toString()).node().value();
    }

    @Test
    void validationGoesToAReadyNodeOfTheNamedBaseAndSaysWhichBaseItServes() {
        Placement p = Placement.detached(1.25, 4);
        p.show(List.of(node("a1", "base-a"), node("b1", "base-b")));
        for (int i = 0; i < 20; i++) {
            Chosen b = assertInstanceOf(Chosen.class, p.chooseFor(Work.VALIDATION, "base-b", adapter("x" + i), Set.of()));
            assertEquals("b1", b.node().value());
            assertEquals("base-b", b.baseModel());
            assertEquals("base-b-id", b.baseIdentity());
            assertEquals("a1", chosenId(p.chooseFor(Work.TRAINING, "base-a", null, Set.of())));
        }
    }

    @Test
    void withoutABaseModelTheFleetsOnlyBaseIsUsed() {
        Placement p = Placement.detached(1.25, 4);
        p.show(List.of(node("a1", "base-a"), node("a2", "base-a")));
        Chosen c = assertInstanceOf(Chosen.class, p.chooseFor(Work.VALIDATION, null, adapter("x"), Set.of()));
        assertEquals("base-a", c.baseModel());
    }

    @Test
    void withoutABaseModelAFleetOfSeveralBasesRefusesNamingThem() {
        Placement p = Placement.detached(1.25, 4);
        p.show(List.of(node("a1", "base-a"), node("b1", "base-b")));
        NoNode no = assertInstanceOf(NoNode.class, p.chooseFor(Work.TRAINING, null, null, Set.of()));
        assertEquals(NoNodeReason.BASE_MODEL_REQUIRED, no.reason());
        assertEquals("the fleet serves 2 base models (base-a, base-b): name the one the training is for", no.message());
    }

    @Test
    void aBaseModelNeitherReportedNorConfiguredIsUnknown() {
        Placement p = Placement.detached(1.25, 4, List.of("base-c"));
        p.show(List.of(node("a1", "base-a")));
        NoNode no = assertInstanceOf(NoNode.class, p.chooseFor(Work.VALIDATION, "base-z", adapter("x"), Set.of()));
        assertEquals(NoNodeReason.UNKNOWN_BASE_MODEL, no.reason());
        assertEquals("no GPU node serves the base model 'base-z' and none is configured for it; the fleet serves base-a, base-c",
                no.message());
    }

    @Test
    void aKnownBaseWithNoReadyNodeIsRetriedLater() {
        // configured but never reported, and reported but draining: both known, neither ready
        Placement p = Placement.detached(1.25, 4, List.of("base-c"));
        p.show(List.of(node("a1", "base-a", 0, true, List.of()), node("b1", "base-b")));
        NoNode draining = assertInstanceOf(NoNode.class, p.chooseFor(Work.TRAINING, "base-a", null, Set.of()));
        assertEquals(NoNodeReason.NO_READY_NODE, draining.reason());
        assertEquals("no GPU node serving the base model 'base-a' is ready now (the fleet serves base-a, base-b, base-c); retry later",
                draining.message());
        NoNode configured = assertInstanceOf(NoNode.class, p.chooseFor(Work.VALIDATION, "base-c", adapter("x"), Set.of()));
        assertEquals(NoNodeReason.NO_READY_NODE, configured.reason());
        assertTrue(configured.message().contains("'base-c'"), configured.message());
    }

    @Test
    void anEmptyFleetWithoutABaseModelIsRetriedLater() {
        Placement p = Placement.detached(1.25, 4);
        p.show(List.of());
        NoNode no = assertInstanceOf(NoNode.class, p.chooseFor(Work.VALIDATION, null, adapter("x"), Set.of()));
        assertEquals(NoNodeReason.NO_READY_NODE, no.reason());
        assertEquals("no GPU node has reported its base model yet, and none is configured; retry later", no.message());
    }

    @Test
    void drainingNodesAndNodesThisRouterDrainsAreNeverChosen() {
        Placement p = Placement.detached(1.25, 4);
        p.show(List.of(node("a1", "base-a", 0, true, List.of()), node("a2", "base-a"), node("a3", "base-a")));
        p.markDraining(new NodeId("a3"), true);
        for (int i = 0; i < 30; i++) {
            assertEquals("a2", chosenId(p.chooseFor(Work.VALIDATION, "base-a", adapter("x" + i), Set.of())));
        }
    }

    @Test
    void theAdapterSteersToItsRendezvousHomeAndAHolderComesFirst() {
        Placement p = Placement.detached(1.25, 4);
        p.show(List.of(node("a1", "base-a"), node("a2", "base-a"), node("a3", "base-a")));
        AdapterRef x = adapter("x");
        String home = chosenId(p.chooseFor(Work.VALIDATION, "base-a", x, Set.of()));
        assertEquals(home, p.rank(x, "base-a", Set.of()).getFirst().id().value(), "the same order as chat placement");
        String other = home.equals("a1") ? "a2" : "a1";
        String third = List.of("a1", "a2", "a3").stream().filter(n -> !n.equals(home) && !n.equals(other)).findFirst().orElseThrow();
        p.show(List.of(node(home, "base-a"), node(other, "base-a", 0, false, List.of(new HeldAdapter(x, HOT, false, 0))),
                node(third, "base-a")));
        assertEquals(other, chosenId(p.chooseFor(Work.VALIDATION, "base-a", x, Set.of())), "the node holding it hot");
    }

    @Test
    void withoutAnAdapterTheLeastLoadedNodeIsChosen() {
        Placement p = Placement.detached(1.25, 4);
        p.show(List.of(node("a1", "base-a", 9, false, List.of()), node("a2", "base-a", 2, false, List.of()),
                node("a3", "base-a", 5, false, List.of())));
        assertEquals("a2", chosenId(p.chooseFor(Work.TRAINING, "base-a", null, Set.of())));
        // asking is not a generation: it is not counted as load
        assertEquals("a2", chosenId(p.chooseFor(Work.TRAINING, "base-a", null, Set.of())));
    }

    @Test
    void avoidedNodesAreChosenOnlyAsTheLastResort() {
        Placement p = Placement.detached(1.25, 4);
        p.show(List.of(node("a1", "base-a"), node("a2", "base-a", 7, false, List.of())));
        assertEquals("a2", chosenId(p.chooseFor(Work.TRAINING, "base-a", null, Set.of(new NodeId("a1")))));
        assertEquals("a1", chosenId(p.chooseFor(Work.TRAINING, "base-a", null, Set.of(new NodeId("a1"), new NodeId("a2")))),
                "every ready node avoided: the least loaded of them");
    }

    @Test
    void theServiceAnswersThroughTheReceptionist() {
        Placement p = Placement.detached(1.25, 4);
        p.show(List.of(node("a1", "base-a"), node("b1", "base-b")));
        KIT.spawn(PlacementService.create(p), "placement-service");
        TestProbe<Receptionist.Listing> listings = KIT.createTestProbe();
        ActorRef<PlacementProtocol.Command> service = null;
        for (int i = 0; i < 50 && service == null; i++) {
            KIT.system().receptionist().tell(Receptionist.find(PlacementProtocol.SERVICE_KEY, listings.getRef()));
            Set<ActorRef<PlacementProtocol.Command>> found = listings.receiveMessage().getServiceInstances(PlacementProtocol.SERVICE_KEY);
            service = found.isEmpty() ? null : found.iterator().next();
            if (service == null) {
                listings.expectNoMessage(Duration.ofMillis(100));
            }
        }
        assertTrue(service != null, "the service registered under " + PlacementProtocol.SERVICE_KEY.id());
        TestProbe<PlacementProtocol.NodeChoice> replies = KIT.createTestProbe();
        service.tell(new PlacementProtocol.ChooseNode(Work.VALIDATION, "base-b", adapter("x"), Set.of(), replies.getRef()));
        assertEquals("b1", assertInstanceOf(Chosen.class, replies.receiveMessage()).node().value());
        service.tell(new PlacementProtocol.ChooseNode(Work.TRAINING, null, null, Set.of(), replies.getRef()));
        assertEquals(NoNodeReason.BASE_MODEL_REQUIRED, assertInstanceOf(NoNode.class, replies.receiveMessage()).reason());
    }
}
