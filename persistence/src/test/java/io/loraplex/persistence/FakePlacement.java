package io.loraplex.persistence;

import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.placement.PlacementProtocol;
import io.loraplex.cluster.placement.PlacementProtocol.ChooseNode;
import io.loraplex.cluster.placement.PlacementProtocol.Chosen;
import io.loraplex.cluster.placement.PlacementProtocol.NoNode;
import io.loraplex.cluster.placement.PlacementProtocol.NoNodeReason;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * A stand-in for the router's placement, answering {@link ChooseNode} as the one node-choice
 * policy does, from the GPU nodes the receptionist lists now (so a stopped or deregistered node is
 * not ready) and what the test told it about each: its base model and identity, and whether it
 * drains. A listed node the test said nothing about serves {@link #DEFAULT_BASE}. Among the ready
 * nodes of the base it picks the first by actor path that is not to be avoided.
 */
public final class FakePlacement {

    /** The base model of a listed node the test said nothing about (what fine-tuning tests name as {@code model}). */
    public static final String DEFAULT_BASE = "loraplex-tiny";

    /** What placement knows of one GPU node. */
    public record Node(NodeId id, String baseModel, String baseIdentity, boolean draining) {
    }

    private final ActorSystem<?> system;
    private final String defaultIdentity;
    private final Map<ActorRef<GpuNodeProtocol.Command>, Node> nodes = new ConcurrentHashMap<>();
    /** Every base a node was ever described with: such a base is known even while none of its nodes is up. */
    private final Set<String> knownBases = ConcurrentHashMap.newKeySet();
    /** Every request, in order. */
    public final Queue<ChooseNode> asked = new ConcurrentLinkedQueue<>();

    /** @param defaultIdentity the base identity of a node the test said nothing about */
    public FakePlacement(ActorSystem<?> system, String defaultIdentity) {
        this.system = system;
        this.defaultIdentity = defaultIdentity;
        knownBases.add(DEFAULT_BASE);
    }

    /** Describes {@code ref}: it serves {@code baseModel} ({@code baseIdentity}), draining or not. */
    public void describe(ActorRef<GpuNodeProtocol.Command> ref, String baseModel, String baseIdentity, boolean draining) {
        nodes.put(ref, new Node(idOf(ref), baseModel, baseIdentity, draining));
        knownBases.add(baseModel);
    }

    /** Forgets what it was told about {@code ref} (it serves the default base again, if listed). */
    public void forget(ActorRef<GpuNodeProtocol.Command> ref) {
        nodes.remove(ref);
    }

    /** The id placement gives the node at {@code ref}. */
    public static NodeId idOf(ActorRef<?> ref) {
        return new NodeId(ref.path().name());
    }

    public Behavior<PlacementProtocol.Command> behavior() {
        return Behaviors.receiveMessage(command -> {
            switch (command) {
                case ChooseNode choose -> {
                    asked.add(choose);
                    AskPattern.<Receptionist.Command, Receptionist.Listing>ask(system.receptionist(),
                                    r -> Receptionist.find(GpuNodeProtocol.SERVICE_KEY, r), Duration.ofSeconds(3), system.scheduler())
                            .thenAccept(listing -> choose.replyTo().tell(
                                    choose(choose, listing.getServiceInstances(GpuNodeProtocol.SERVICE_KEY))));
                }
            }
            return Behaviors.same();
        });
    }

    private PlacementProtocol.NodeChoice choose(ChooseNode choose, Set<ActorRef<GpuNodeProtocol.Command>> listed) {
        List<Map.Entry<ActorRef<GpuNodeProtocol.Command>, Node>> up = listed.stream()
                .map(ref -> Map.entry(ref, nodes.getOrDefault(ref, new Node(idOf(ref), DEFAULT_BASE, defaultIdentity, false))))
                .sorted(Comparator.comparing(e -> e.getKey().path().toString()))
                .toList();
        Set<String> served = new TreeSet<>(knownBases);
        up.forEach(e -> served.add(e.getValue().baseModel()));
        String base = choose.baseModel();
        if (base == null) {
            Set<String> listedBases = new TreeSet<>();
            up.forEach(e -> listedBases.add(e.getValue().baseModel()));
            if (listedBases.size() > 1) {
                return new NoNode(NoNodeReason.BASE_MODEL_REQUIRED, "the fleet serves several base models " + listedBases
                        + ": name one");
            }
            base = listedBases.isEmpty() ? DEFAULT_BASE : listedBases.iterator().next();
        } else if (!served.contains(base)) {
            return new NoNode(NoNodeReason.UNKNOWN_BASE_MODEL, "no GPU node serves the base model '" + base
                    + "'; the fleet serves " + served);
        }
        String wanted = base;
        List<Map.Entry<ActorRef<GpuNodeProtocol.Command>, Node>> ready = up.stream()
                .filter(e -> e.getValue().baseModel().equals(wanted) && !e.getValue().draining())
                .toList();
        if (ready.isEmpty()) {
            return new NoNode(NoNodeReason.NO_READY_NODE, "no GPU node serving '" + wanted + "' is ready");
        }
        Map.Entry<ActorRef<GpuNodeProtocol.Command>, Node> pick = ready.stream()
                .filter(e -> !choose.avoid().contains(e.getValue().id()))
                .findFirst().orElse(ready.getFirst());
        Node node = pick.getValue();
        return new Chosen(node.id(), pick.getKey(), node.baseModel(), node.baseIdentity());
    }
}
