package io.loraplex.router.placement;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.NodeStats;
import io.loraplex.router.RouterSettings;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * Which GPU node serves a request. A poller actor follows the receptionist's listing of
 * {@link GpuNodeProtocol#SERVICE_KEY} and asks every node for its {@link NodeStats} each
 * {@code stats-interval}; {@link #pick} reads the latest snapshot and takes the least-loaded ready
 * node. Deliberately small: rendezvous hashing on the adapter's content hash replaces
 * {@link #pick} later without touching its callers.
 */
public final class Placement {

    /**
     * One node as last seen. {@code stats} null until it first answers; {@code answering} false when
     * its last poll failed (it gets no requests until it answers again).
     */
    public record NodeView(ActorRef<GpuNodeProtocol.Command> ref, NodeStats stats, boolean answering) {

        boolean serves(String baseModel) {
            return stats != null && answering && stats.ready() && (baseModel == null || baseModel.equals(stats.baseModel()));
        }
    }

    private volatile Map<ActorRef<GpuNodeProtocol.Command>, NodeView> nodes = Map.of();
    /** Base model ids configured or ever reported: a request for one while its nodes are down gets 503, not 404. */
    private final Set<String> knownBaseModels = ConcurrentHashMap.newKeySet();
    /** Requests sent to a node since its stats were last polled: the load the stats cannot know yet. */
    private final Map<ActorRef<GpuNodeProtocol.Command>, AtomicInteger> pickedSincePoll = new ConcurrentHashMap<>();

    private Placement(List<String> baseModels) {
        knownBaseModels.addAll(baseModels);
    }

    public static Placement start(ActorSystem<?> system, RouterSettings settings) {
        Placement placement = new Placement(settings.baseModels());
        system.systemActorOf(Behaviors.<Msg>setup(ctx -> placement.poller(ctx, settings)), "loraplex-placement", Props.empty());
        return placement;
    }

    /**
     * The node for one generation: among ready nodes serving {@code baseModel} (null: any), the one
     * with the fewest running and waiting requests, counting those sent since its last poll; an
     * adapter already hot there breaks ties. Empty when no node is ready.
     *
     * @param adapter the adapter version, or null for the base model
     */
    public Optional<ActorRef<GpuNodeProtocol.Command>> pick(AdapterRef adapter, String baseModel) {
        String hash = adapter == null ? null : adapter.contentHash().hex();
        Optional<NodeView> best = nodes.values().stream()
                .filter(n -> n.serves(baseModel))
                .min(Comparator.<NodeView>comparingInt(this::load)
                        .thenComparing(n -> hash != null && n.stats().hotAdapters().contains(hash) ? 0 : 1)
                        .thenComparing(n -> n.stats().node().value()));
        best.ifPresent(n -> pickedSincePoll.computeIfAbsent(n.ref(), r -> new AtomicInteger()).incrementAndGet());
        return best.map(NodeView::ref);
    }

    private int load(NodeView n) {
        AtomicInteger picked = pickedSincePoll.get(n.ref());
        return n.stats().running() + n.stats().waiting() + (picked == null ? 0 : picked.get());
    }

    /**
     * The base model ids clients may name as {@code model} for the base: configured ones and every one
     * a node has reported (ready or not, up or gone).
     */
    public Set<String> baseModels() {
        return new TreeSet<>(knownBaseModels);
    }

    public boolean hasReadyNode() {
        return nodes.values().stream().anyMatch(n -> n.serves(null));
    }

    /** Every node known, with its last stats. */
    public Collection<NodeView> nodes() {
        return List.copyOf(nodes.values());
    }

    // --- the poller ---

    private sealed interface Msg extends NoSerializationVerificationNeeded {
    }

    private record ListingChanged(Receptionist.Listing listing) implements Msg {
    }

    private enum Poll implements Msg { INSTANCE }

    private record StatsArrived(ActorRef<GpuNodeProtocol.Command> node, NodeStats stats) implements Msg {
    }

    private Behavior<Msg> poller(ActorContext<Msg> ctx, RouterSettings settings) {
        ActorRef<Receptionist.Listing> listings = ctx.messageAdapter(Receptionist.Listing.class, ListingChanged::new);
        ctx.getSystem().receptionist().tell(Receptionist.subscribe(GpuNodeProtocol.SERVICE_KEY, listings));
        return Behaviors.withTimers(timers -> {
            timers.startTimerWithFixedDelay(Poll.INSTANCE, settings.statsInterval());
            return Behaviors.receive(Msg.class)
                    .onMessage(ListingChanged.class, m -> {
                        Set<ActorRef<GpuNodeProtocol.Command>> listed = m.listing().getServiceInstances(GpuNodeProtocol.SERVICE_KEY);
                        Map<ActorRef<GpuNodeProtocol.Command>, NodeView> next = new HashMap<>();
                        for (ActorRef<GpuNodeProtocol.Command> ref : listed) {
                            NodeView known = nodes.get(ref);
                            next.put(ref, known != null ? known : new NodeView(ref, null, false));
                            if (known == null) {
                                poll(ctx, ref, settings); // a new node is usable as soon as it answers
                            }
                        }
                        pickedSincePoll.keySet().retainAll(listed);
                        nodes = Map.copyOf(next);
                        return Behaviors.same();
                    })
                    .onMessage(Poll.class, p -> {
                        for (ActorRef<GpuNodeProtocol.Command> ref : nodes.keySet()) {
                            poll(ctx, ref, settings);
                        }
                        return Behaviors.same();
                    })
                    .onMessage(StatsArrived.class, m -> {
                        NodeView known = nodes.get(m.node());
                        if (known != null) { // not a node that left meanwhile
                            Map<ActorRef<GpuNodeProtocol.Command>, NodeView> next = new HashMap<>(nodes);
                            next.put(m.node(), m.stats() != null ? new NodeView(m.node(), m.stats(), true)
                                    : new NodeView(m.node(), known.stats(), false));
                            if (m.stats() != null) {
                                pickedSincePoll.remove(m.node());
                                if (!m.stats().baseModel().isBlank()) {
                                    knownBaseModels.add(m.stats().baseModel());
                                }
                            }
                            nodes = Map.copyOf(next);
                        }
                        return Behaviors.same();
                    })
                    .build();
        });
    }

    private static void poll(ActorContext<Msg> ctx, ActorRef<GpuNodeProtocol.Command> node, RouterSettings settings) {
        ctx.ask(NodeStats.class, node, settings.statsTimeout(), GpuNodeProtocol.GetStats::new,
                (stats, failure) -> new StatsArrived(node, failure == null ? stats : null));
    }
}
