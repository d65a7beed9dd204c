package io.loraplex.router.placement;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import io.loraplex.cluster.node.GpuNodeProtocol.NodeStats;
import io.loraplex.cluster.placement.PlacementProtocol;
import io.loraplex.router.RouterSettings;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.apache.pekko.Done;
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
 * {@link GpuNodeProtocol#SERVICE_KEY} (reachable nodes only: a node turning unreachable leaves it)
 * and asks every node for its {@link NodeStats} each {@code stats-interval}. {@link #choose} reads
 * the latest snapshot: among ready nodes serving the base, a node already holding the adapter hot,
 * then warm, then the nodes in rendezvous order on the adapter's content hash; each only while its
 * load stays under the bound ({@code load-factor} times the mean, and below its capacity), so a
 * popular adapter spills over to the next node and becomes hot there too. Draining nodes are
 * skipped. Listeners hear of every node that left the listing, with its last view, so its adapters
 * can be placed again. A listed node is known by its {@link NodeId} from its first stats on, and
 * shown only from then: before, it could take nothing anyway, and its id never changes.
 */
public final class Placement {

    /**
     * One node as last seen: {@code stats} its last answer (a node is shown once it has answered);
     * {@code answering} false when its last poll failed (it gets no requests until it answers again);
     * {@code draining} set by this router's drain before the node's own stats say so.
     */
    public record NodeView(ActorRef<GpuNodeProtocol.Command> ref, NodeStats stats, boolean answering, boolean draining) {

        public NodeView {
            java.util.Objects.requireNonNull(ref, "ref");
            java.util.Objects.requireNonNull(stats, "stats");
        }

        /** The node's id, as it names itself in its stats (a node's id is fixed when it starts). */
        public NodeId id() {
            return stats.node();
        }

        public boolean isDraining() {
            return draining || stats.draining();
        }

        boolean serves(String baseModel) {
            return answering && stats.ready() && !isDraining() && (baseModel == null || baseModel.equals(stats.baseModel()));
        }

        /** Whether the node's last stats list the adapter of {@code hash} in {@code tier}. */
        public boolean holds(ContentHash hash, AdapterTier tier) {
            if (tier == AdapterTier.HOT && stats.hotAdapters().contains(hash.hex())) {
                return true;
            }
            return stats.adapters().stream().anyMatch(a -> a.tier() == tier && a.adapter().contentHash().equals(hash));
        }

        /** Where the node held the adapter of {@code hash} at its last stats: hot, warm, else cold. */
        public AdapterTier tierOf(ContentHash hash) {
            return holds(hash, AdapterTier.HOT) ? AdapterTier.HOT : holds(hash, AdapterTier.WARM) ? AdapterTier.WARM : AdapterTier.COLD;
        }
    }

    private volatile Map<ActorRef<GpuNodeProtocol.Command>, NodeView> nodes = Map.of();
    /** Every node the receptionist lists, answered or not (polled until it answers). */
    private volatile Set<ActorRef<GpuNodeProtocol.Command>> listed = Set.of();
    /** Base model ids configured or ever reported: a request for one while its nodes are down gets 503, not 404. */
    private final Set<String> knownBaseModels = ConcurrentHashMap.newKeySet();
    /**
     * Requests this router sent to a node and that have not ended: the load the node's last stats may
     * not show yet. A node's load is the larger of the two (its stats also count other routers').
     */
    private final Map<ActorRef<GpuNodeProtocol.Command>, AtomicInteger> outstanding = new ConcurrentHashMap<>();
    /** Completed when the node leaves the listing (unreachable, left, stopped). */
    private final Map<ActorRef<GpuNodeProtocol.Command>, CompletableFuture<Done>> gone = new ConcurrentHashMap<>();
    /** Node ids this router drains: skipped at once, before the node's stats say so. */
    private final Set<NodeId> drainingIds = ConcurrentHashMap.newKeySet();
    private final List<Consumer<NodeView>> lostListeners = new CopyOnWriteArrayList<>();
    /** The ranking rule (shared with the fleet simulator). */
    private final PlacementPolicy policy;

    private Placement(List<String> baseModels, double loadFactor, int loadSlack) {
        knownBaseModels.addAll(baseModels);
        this.policy = new PlacementPolicy(loadFactor, loadSlack);
    }

    public static Placement start(ActorSystem<?> system, RouterSettings settings) {
        Placement placement = new Placement(settings.baseModels(), settings.loadFactor(), settings.loadSlack());
        system.systemActorOf(Behaviors.<Msg>setup(ctx -> placement.poller(ctx, settings)), "loraplex-placement", Props.empty());
        // the entities (validation, training) ask the same policy through the receptionist
        system.systemActorOf(PlacementService.create(placement), "loraplex-placement-service", Props.empty());
        return placement;
    }

    /** A placement without a poller, fed by {@link #show} (tests of the placement rules). */
    static Placement detached(double loadFactor, int loadSlack) {
        return detached(loadFactor, loadSlack, List.of());
    }

    /** As {@link #detached(double, int)}, with base models configured before any node reports. */
    static Placement detached(double loadFactor, int loadSlack, List<String> configuredBaseModels) {
        return new Placement(configuredBaseModels, loadFactor, loadSlack);
    }

    /** Replaces the views (what the poller does from the receptionist and the stats). */
    void show(List<NodeView> views) {
        Map<ActorRef<GpuNodeProtocol.Command>, NodeView> next = new HashMap<>();
        views.forEach(v -> next.put(v.ref(), v));
        nodes = Map.copyOf(next);
        listed = Set.copyOf(next.keySet());
        views.forEach(v -> knownBaseModels.add(v.stats().baseModel()));
        outstanding.clear();
    }


    /**
     * The best ready node serving {@code baseModel} (null: any) for {@code adapter} (null: the base),
     * for work that is not a generation (a training file's validation): not counted as load.
     */
    public Optional<ActorRef<GpuNodeProtocol.Command>> pick(AdapterRef adapter, String baseModel) {
        return rank(adapter, baseModel, Set.of()).stream().findFirst().map(NodeView::ref);
    }

    /**
     * The node for one generation, counted as picked (its load rises until its next stats), or empty
     * when no ready node serves the base outside {@code excluded} (node ids already tried).
     *
     * @param adapter the adapter version, or null for the base model
     */
    public Optional<NodeView> choose(AdapterRef adapter, String baseModel, Set<NodeId> excluded) {
        Optional<NodeView> best = rank(adapter, baseModel, excluded).stream().findFirst();
        best.ifPresent(n -> outstanding.computeIfAbsent(n.ref(), r -> new AtomicInteger()).incrementAndGet());
        return best;
    }

    /**
     * The node for work that is not a generation (validating or training an adapter), as
     * {@link PlacementProtocol.ChooseNode} asks: a ready, answering, not draining node serving the base
     * model (null: the fleet's only one), steered by the adapter's content hash when given, outside
     * {@code avoid} unless no other node is ready. Nothing is counted as load.
     */
    public PlacementProtocol.NodeChoice chooseFor(PlacementProtocol.Work work, String baseModel, AdapterRef adapter,
            Set<NodeId> avoid) {
        Set<String> known = baseModels();
        String base = baseModel;
        if (base == null) {
            if (known.size() > 1) {
                return new PlacementProtocol.NoNode(PlacementProtocol.NoNodeReason.BASE_MODEL_REQUIRED, "the fleet serves "
                        + known.size() + " base models (" + String.join(", ", known) + "): name the one the "
                        + workName(work) + " is for");
            }
            if (known.isEmpty()) {
                return new PlacementProtocol.NoNode(PlacementProtocol.NoNodeReason.NO_READY_NODE,
                        "no GPU node has reported its base model yet, and none is configured; retry later");
            }
            base = known.iterator().next();
        } else if (!known.contains(base)) {
            return new PlacementProtocol.NoNode(PlacementProtocol.NoNodeReason.UNKNOWN_BASE_MODEL, "no GPU node serves the base model '"
                    + base + "' and none is configured for it; the fleet serves " + served(known));
        }
        List<NodeView> ranked = rank(adapter, base, avoid);
        if (ranked.isEmpty() && !avoid.isEmpty()) {
            ranked = rank(adapter, base, Set.of()); // an avoided node, as the last resort
        }
        if (ranked.isEmpty()) {
            return new PlacementProtocol.NoNode(PlacementProtocol.NoNodeReason.NO_READY_NODE, "no GPU node serving the base model '"
                    + base + "' is ready now (the fleet serves " + served(known) + "); retry later");
        }
        NodeView chosen = ranked.getFirst();
        return new PlacementProtocol.Chosen(chosen.id(), chosen.ref(), chosen.stats().baseModel(), chosen.stats().baseIdentity());
    }

    private static String workName(PlacementProtocol.Work work) {
        return switch (work) {
            case VALIDATION -> "validation";
            case TRAINING -> "training";
        };
    }

    private static String served(Set<String> known) {
        return known.isEmpty() ? "none" : String.join(", ", known);
    }

    /** Counts a request sent to {@code node} outside {@link #choose} (a session's node), until {@link #release}. */
    public void acquire(ActorRef<GpuNodeProtocol.Command> node) {
        outstanding.computeIfAbsent(node, r -> new AtomicInteger()).incrementAndGet();
    }

    /** A request counted by {@link #choose} or {@link #acquire} ended (or never started there). */
    public void release(ActorRef<GpuNodeProtocol.Command> node) {
        AtomicInteger n = outstanding.get(node);
        if (n != null) {
            n.updateAndGet(v -> Math.max(0, v - 1));
        }
    }

    /** Every eligible node, best first (nothing counted): what {@link #choose} takes the head of. */
    public List<NodeView> rank(AdapterRef adapter, String baseModel, Set<NodeId> excluded) {
        List<NodeView> candidates = nodes.values().stream()
                .filter(n -> n.serves(baseModel) && !drainingIds.contains(n.id()) && !excluded.contains(n.id()))
                .filter(n -> adapter == null || sameBase(adapter, n))
                .sorted(BY_ID)
                .toList();
        if (candidates.isEmpty()) {
            return List.of();
        }
        List<Ranked> ranked = candidates.stream().map(n -> new Ranked(n, load(n))).toList();
        PlacementPolicy.Candidates<Ranked> listed = PlacementPolicy.listed(ranked, (r, hash, tier) -> r.view().holds(hash, tier));
        return policy.rank(listed, adapter == null ? null : adapter.contentHash()).stream().map(Ranked::view).toList();
    }

    /** A view with its load as this router counts it, as the policy ranks it. */
    private record Ranked(NodeView view, int load) implements PlacementPolicy.Node {
        @Override
        public NodeId id() {
            return view.id();
        }

        @Override
        public int capacity() {
            return view.stats().capacity();
        }
    }

    /** Nodes in the order of their ids: every router ranks the same views the same way. */
    private static final Comparator<NodeView> BY_ID = Comparator.comparing(n -> n.id().value());

    /** A node serving another base than the one the adapter was validated against would refuse it. */
    private static boolean sameBase(AdapterRef adapter, NodeView n) {
        String wanted = adapter.baseIdentity();
        String served = n.stats().baseIdentity();
        return wanted == null || wanted.isEmpty() || served == null || served.isEmpty() || wanted.equals(served);
    }

    /** A node's load: its running and waiting requests, or what this router sent it since, whichever is larger. */
    int load(NodeView n) {
        AtomicInteger mine = outstanding.get(n.ref());
        return Math.max(n.stats().running() + n.stats().waiting(), mine == null ? 0 : mine.get());
    }

    /** Completes when {@code node} leaves the listing (unreachable, left or stopped); at once if it is not listed. */
    public CompletionStage<Done> gone(ActorRef<GpuNodeProtocol.Command> node) {
        CompletableFuture<Done> f = gone.computeIfAbsent(node, r -> new CompletableFuture<>());
        if (!listed.contains(node)) {
            f.complete(Done.getInstance());
        }
        return f;
    }

    /** Marks a node as draining on this router at once (or no longer), before its stats say so. */
    public void markDraining(NodeId nodeId, boolean draining) {
        if (draining) {
            drainingIds.add(nodeId);
        } else {
            drainingIds.remove(nodeId);
        }
    }

    /** Calls {@code listener} with the last view of every node that leaves the listing. */
    public void onNodeLost(Consumer<NodeView> listener) {
        lostListeners.add(listener);
    }

    /** The node of this id, as last seen. */
    public Optional<NodeView> node(NodeId id) {
        return nodes().stream().filter(n -> n.id().equals(id)).findFirst();
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

    /** Every node that has answered, with its last stats. */
    public Collection<NodeView> nodes() {
        return nodes.values().stream().map(n -> drainingIds.contains(n.id()) && !n.draining()
                ? new NodeView(n.ref(), n.stats(), n.answering(), true) : n).sorted(BY_ID).toList();
    }

    /** Asks every node for its stats now (after an operation that changed them). */
    public void refresh() {
        ActorRef<Msg> p = poller;
        if (p != null) {
            p.tell(Poll.INSTANCE);
        }
    }

    // --- the poller ---

    private volatile ActorRef<Msg> poller;

    private sealed interface Msg extends NoSerializationVerificationNeeded {
    }

    private record ListingChanged(Receptionist.Listing listing) implements Msg {
    }

    private enum Poll implements Msg { INSTANCE }

    private record StatsArrived(ActorRef<GpuNodeProtocol.Command> node, NodeStats stats) implements Msg {
    }

    private Behavior<Msg> poller(ActorContext<Msg> ctx, RouterSettings settings) {
        poller = ctx.getSelf();
        ActorRef<Receptionist.Listing> listings = ctx.messageAdapter(Receptionist.Listing.class, ListingChanged::new);
        ctx.getSystem().receptionist().tell(Receptionist.subscribe(GpuNodeProtocol.SERVICE_KEY, listings));
        return Behaviors.withTimers(timers -> {
            timers.startTimerWithFixedDelay(Poll.INSTANCE, settings.statsInterval());
            return Behaviors.receive(Msg.class)
                    .onMessage(ListingChanged.class, m -> {
                        Set<ActorRef<GpuNodeProtocol.Command>> now = Set.copyOf(m.listing().getServiceInstances(GpuNodeProtocol.SERVICE_KEY));
                        Map<ActorRef<GpuNodeProtocol.Command>, NodeView> next = new HashMap<>();
                        for (ActorRef<GpuNodeProtocol.Command> ref : now) {
                            NodeView known = nodes.get(ref);
                            if (known != null) {
                                next.put(ref, known);
                            } else if (!listed.contains(ref)) {
                                poll(ctx, ref, settings); // a new node is usable as soon as it answers
                            }
                        }
                        outstanding.keySet().retainAll(now);
                        List<NodeView> lost = nodes.values().stream().filter(n -> !now.contains(n.ref())).toList();
                        // listed first: a node that answers is never shown without being listed
                        listed = now;
                        nodes = Map.copyOf(next);
                        for (ActorRef<GpuNodeProtocol.Command> ref : gone.keySet()) {
                            if (!now.contains(ref)) {
                                CompletableFuture<Done> f = gone.remove(ref);
                                if (f != null) {
                                    f.complete(Done.getInstance()); // a node that left before it ever answered
                                }
                            }
                        }
                        for (NodeView n : lost) {
                            CompletableFuture<Done> f = gone.remove(n.ref());
                            if (f != null) {
                                f.complete(Done.getInstance());
                            }
                            drainingIds.remove(n.id());
                            for (Consumer<NodeView> listener : lostListeners) {
                                try {
                                    listener.accept(n);
                                } catch (RuntimeException e) {
                                    ctx.getLog().warn("a node-lost listener failed for {}", n.id(), e);
                                }
                            }
                        }
                        return Behaviors.same();
                    })
                    .onMessage(Poll.class, p -> {
                        for (ActorRef<GpuNodeProtocol.Command> ref : listed) {
                            poll(ctx, ref, settings);
                        }
                        return Behaviors.same();
                    })
                    .onMessage(StatsArrived.class, m -> {
                        NodeView known = nodes.get(m.node());
                        if (listed.contains(m.node()) && (known != null || m.stats() != null)) { // not a node that left meanwhile
                            Map<ActorRef<GpuNodeProtocol.Command>, NodeView> next = new HashMap<>(nodes);
                            next.put(m.node(), m.stats() != null ? new NodeView(m.node(), m.stats(), true, false)
                                    : new NodeView(m.node(), known.stats(), false, false));
                            if (m.stats() != null) {
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
