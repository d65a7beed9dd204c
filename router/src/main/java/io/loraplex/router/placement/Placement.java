package io.loraplex.router.placement;

import com.typesafe.config.Config;
import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.NodeStats;
import io.loraplex.router.RouterSettings;
import java.util.ArrayList;
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
import java.util.function.Predicate;
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
 * can be placed again.
 */
public final class Placement {

    /**
     * One node as last seen. {@code stats} null until it first answers; {@code answering} false when
     * its last poll failed (it gets no requests until it answers again); {@code draining} set by this
     * router's drain before the node's own stats say so.
     */
    public record NodeView(ActorRef<GpuNodeProtocol.Command> ref, NodeStats stats, boolean answering, boolean draining) {

        /** The node's id (its address until it first answers). */
        public String id() {
            return stats != null ? stats.node().value() : ref.path().address().toString();
        }

        public boolean isDraining() {
            return draining || (stats != null && stats.draining());
        }

        boolean serves(String baseModel) {
            return stats != null && answering && stats.ready() && !isDraining()
                    && (baseModel == null || baseModel.equals(stats.baseModel()));
        }

        /** Whether the node's last stats list the adapter of {@code hash} in {@code tier} (hot or warm). */
        public boolean holds(String hash, String tier) {
            if (stats == null) {
                return false;
            }
            if (tier.equals("hot") && stats.hotAdapters().contains(hash)) {
                return true;
            }
            return stats.adapters().stream().anyMatch(a -> a.tier().equals(tier) && a.adapter().contentHash().hex().equals(hash));
        }
    }

    private volatile Map<ActorRef<GpuNodeProtocol.Command>, NodeView> nodes = Map.of();
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
    private final Set<String> drainingIds = ConcurrentHashMap.newKeySet();
    private final List<Consumer<NodeView>> lostListeners = new CopyOnWriteArrayList<>();
    private final double loadFactor;
    private final int loadSlack;

    private Placement(List<String> baseModels, double loadFactor, int loadSlack) {
        knownBaseModels.addAll(baseModels);
        this.loadFactor = loadFactor;
        this.loadSlack = loadSlack;
    }

    public static Placement start(ActorSystem<?> system, RouterSettings settings) {
        Config config = system.settings().config();
        String factorPath = "loraplex.router.placement.load-factor";
        double factor = config.hasPath(factorPath) ? config.getDouble(factorPath) : 1.25;
        if (!(factor >= 1.0)) {
            throw new IllegalArgumentException(factorPath + " must be at least 1.0, got " + factor);
        }
        String slackPath = "loraplex.router.placement.load-slack";
        int slack = config.hasPath(slackPath) ? config.getInt(slackPath) : 4;
        if (slack < 0) {
            throw new IllegalArgumentException(slackPath + " must not be negative, got " + slack);
        }
        Placement placement = new Placement(settings.baseModels(), factor, slack);
        system.systemActorOf(Behaviors.<Msg>setup(ctx -> placement.poller(ctx, settings)), "loraplex-placement", Props.empty());
        return placement;
    }

    /** A placement without a poller, fed by {@link #show} (tests of the placement rules). */
    static Placement detached(double loadFactor, int loadSlack) {
        return new Placement(List.of(), loadFactor, loadSlack);
    }

    /** Replaces the views (what the poller does from the receptionist and the stats). */
    void show(List<NodeView> views) {
        Map<ActorRef<GpuNodeProtocol.Command>, NodeView> next = new HashMap<>();
        views.forEach(v -> next.put(v.ref(), v));
        nodes = Map.copyOf(next);
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
    public Optional<NodeView> choose(AdapterRef adapter, String baseModel, Set<String> excluded) {
        Optional<NodeView> best = rank(adapter, baseModel, excluded).stream().findFirst();
        best.ifPresent(n -> outstanding.computeIfAbsent(n.ref(), r -> new AtomicInteger()).incrementAndGet());
        return best;
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
    public List<NodeView> rank(AdapterRef adapter, String baseModel, Set<String> excluded) {
        List<NodeView> candidates = nodes.values().stream()
                .filter(n -> n.serves(baseModel) && !drainingIds.contains(n.id()) && !excluded.contains(n.id()))
                .filter(n -> adapter == null || sameBase(adapter, n))
                .sorted(Comparator.comparing(NodeView::id))
                .toList();
        if (candidates.isEmpty()) {
            return List.of();
        }
        Comparator<NodeView> byLoad = Comparator.<NodeView>comparingInt(this::load).thenComparing(NodeView::id);
        if (adapter == null) {
            return candidates.stream().sorted(byLoad).toList();
        }
        String hash = adapter.contentHash().hex();
        long total = candidates.stream().mapToLong(this::load).sum();
        double bound = Math.ceil(loadFactor * (total + 1) / candidates.size()) + loadSlack;
        Predicate<NodeView> roomy = n -> load(n) < n.stats().capacity() && load(n) + 1 <= bound;
        Predicate<NodeView> notFull = n -> load(n) < n.stats().capacity();
        List<NodeView> order = new ArrayList<>();
        candidates.stream().filter(n -> n.holds(hash, "hot") && roomy.test(n)).sorted(byLoad).forEach(order::add);
        candidates.stream().filter(n -> n.holds(hash, "warm") && roomy.test(n)).sorted(byLoad).forEach(order::add);
        List<NodeView> rendezvous = candidates.stream()
                .sorted(Comparator.comparingLong((NodeView n) -> Rendezvous.score(hash, n.id())).reversed())
                .toList();
        rendezvous.stream().filter(roomy).forEach(order::add);
        candidates.stream().filter(notFull).sorted(byLoad).forEach(order::add);
        candidates.stream().sorted(byLoad).forEach(order::add);
        return order.stream().distinct().toList();
    }

    /** The rendezvous home of {@code adapter} among ready nodes (load ignored), outside {@code excluded}. */
    public Optional<NodeView> home(AdapterRef adapter, String baseModel, Set<String> excluded) {
        String hash = adapter.contentHash().hex();
        return nodes.values().stream()
                .filter(n -> n.serves(baseModel) && !drainingIds.contains(n.id()) && !excluded.contains(n.id()))
                .max(Comparator.comparingLong((NodeView n) -> Rendezvous.score(hash, n.id())).thenComparing(NodeView::id));
    }

    /** A node serving another base than the one the adapter was validated against would refuse it. */
    private static boolean sameBase(AdapterRef adapter, NodeView n) {
        String wanted = adapter.baseIdentity();
        String served = n.stats().baseIdentity();
        return wanted == null || wanted.isEmpty() || served == null || served.isEmpty() || wanted.equals(served);
    }

    private int load(NodeView n) {
        AtomicInteger mine = outstanding.get(n.ref());
        return Math.max(n.stats().running() + n.stats().waiting(), mine == null ? 0 : mine.get());
    }

    /** Completes when {@code node} leaves the listing (unreachable, left or stopped); at once if it is not listed. */
    public CompletionStage<Done> gone(ActorRef<GpuNodeProtocol.Command> node) {
        CompletableFuture<Done> f = gone.computeIfAbsent(node, r -> new CompletableFuture<>());
        if (!nodes.containsKey(node)) {
            f.complete(Done.getInstance());
        }
        return f;
    }

    /** Marks a node as draining on this router at once (or no longer), before its stats say so. */
    public void markDraining(String nodeId, boolean draining) {
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
    public Optional<NodeView> node(String id) {
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

    /** Every node known, with its last stats. */
    public Collection<NodeView> nodes() {
        return nodes.values().stream().map(n -> drainingIds.contains(n.id()) && !n.draining()
                ? new NodeView(n.ref(), n.stats(), n.answering(), true) : n).sorted(Comparator.comparing(NodeView::id)).toList();
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
                        Set<ActorRef<GpuNodeProtocol.Command>> listed = m.listing().getServiceInstances(GpuNodeProtocol.SERVICE_KEY);
                        Map<ActorRef<GpuNodeProtocol.Command>, NodeView> next = new HashMap<>();
                        for (ActorRef<GpuNodeProtocol.Command> ref : listed) {
                            NodeView known = nodes.get(ref);
                            next.put(ref, known != null ? known : new NodeView(ref, null, false, false));
                            if (known == null) {
                                poll(ctx, ref, settings); // a new node is usable as soon as it answers
                            }
                        }
                        outstanding.keySet().retainAll(listed);
                        List<NodeView> lost = nodes.values().stream().filter(n -> !listed.contains(n.ref())).toList();
                        nodes = Map.copyOf(next);
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
                        for (ActorRef<GpuNodeProtocol.Command> ref : nodes.keySet()) {
                            poll(ctx, ref, settings);
                        }
                        return Behaviors.same();
                    })
                    .onMessage(StatsArrived.class, m -> {
                        NodeView known = nodes.get(m.node());
                        if (known != null) { // not a node that left meanwhile
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
