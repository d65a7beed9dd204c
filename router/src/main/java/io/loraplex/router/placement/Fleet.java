package io.loraplex.router.placement;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import io.loraplex.cluster.node.GpuNodeProtocol.Ack;
import io.loraplex.cluster.node.GpuNodeProtocol.HeldAdapter;
import io.loraplex.router.placement.Placement.NodeView;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What operators do to the fleet of GPU nodes, and what the router does when a node is lost: drain
 * (no new placements, its hot adapters prefetched on the nodes that take over, in-flight requests
 * finished, then a graceful leave), undrain, rebalance (hot adapters moved from the most to the
 * least loaded nodes), pin/unpin/evict, and re-placement of a lost node's hot adapters.
 */
public final class Fleet {

    private static final Logger log = LoggerFactory.getLogger(Fleet.class);

    /** One adapter moved by a rebalance. */
    public record Move(AdapterRef adapter, NodeId from, NodeId to) {
    }

    private final ActorSystem<?> system;
    private final Placement placement;
    private final Duration askTimeout;
    private final Duration loadTimeout;
    private final Duration drainTimeout;
    /** nodeId → what its drain is doing, for operators. */
    private final Map<NodeId, String> drains = new ConcurrentHashMap<>();

    /**
     * @param askTimeout  how long a node may take to answer a drain, leave, stats or evict
     * @param loadTimeout how long a node may take to load an adapter (fetched from another node, perhaps)
     */
    public Fleet(ActorSystem<?> system, Placement placement, Duration askTimeout, Duration loadTimeout, Duration drainTimeout) {
        this.system = system;
        this.placement = placement;
        this.askTimeout = askTimeout;
        this.loadTimeout = loadTimeout;
        this.drainTimeout = drainTimeout;
        placement.onNodeLost(this::replace);
    }

    /** The drain status of a node this router drains ("" when none). */
    public String drainStatus(NodeId nodeId) {
        return drains.getOrDefault(nodeId, "");
    }

    // --- drain ---

    /**
     * Starts draining {@code node}: it takes no new requests from now on, here at once and on every
     * router once the node's stats say so. The rest runs in the background; the returned stage
     * completes once the node has acknowledged the drain.
     */
    public CompletionStage<Ack> drain(NodeView node) {
        placement.markDraining(node.id(), true);
        drains.put(node.id(), "draining");
        return this.<Ack>ask(node.ref(), r -> new GpuNodeProtocol.SetDraining(true, r)).thenApply(ack -> {
            if (ack.ok()) {
                long start = System.nanoTime();
                prefetchElsewhere(node).thenCompose(n -> waitIdleThenLeave(node, start)).whenComplete((status, failure) -> {
                    String s = failure != null ? "drain failed: " + failure.getMessage() : status;
                    drains.put(node.id(), s);
                    log.info("drain of node {}: {}", node.id(), s);
                });
            } else {
                drains.remove(node.id());
                placement.markDraining(node.id(), false);
            }
            placement.refresh();
            return ack;
        });
    }

    public CompletionStage<Ack> undrain(NodeView node) {
        return this.<Ack>ask(node.ref(), r -> new GpuNodeProtocol.SetDraining(false, r)).thenApply(ack -> {
            if (ack.ok()) {
                drains.remove(node.id());
                placement.markDraining(node.id(), false);
                placement.refresh();
            }
            return ack;
        });
    }

    /** Loads (pinned where they were pinned) each of the node's hot adapters on the node that takes it over. */
    private CompletionStage<Integer> prefetchElsewhere(NodeView node) {
        drains.put(node.id(), "prefetching its hot adapters elsewhere");
        List<CompletableFuture<Boolean>> loads = new ArrayList<>();
        for (HeldAdapter held : hot(node)) {
            Optional<NodeView> target = placement.rank(held.adapter(), node.stats().baseModel(), Set.of(node.id())).stream().findFirst();
            target.ifPresent(t -> loads.add(load(t, held.adapter(), held.pinned()).toCompletableFuture()));
        }
        return CompletableFuture.allOf(loads.toArray(CompletableFuture[]::new))
                .thenApply(d -> (int) loads.stream().filter(CompletableFuture::join).count());
    }

    /** Polls the node until nothing runs or waits on it, then asks it to leave. */
    private CompletionStage<String> waitIdleThenLeave(NodeView node, long startNanos) {
        CompletableFuture<String> done = new CompletableFuture<>();
        Runnable[] check = new Runnable[1];
        check[0] = () -> this.<GpuNodeProtocol.NodeStats>ask(node.ref(), GpuNodeProtocol.GetStats::new).whenComplete((stats, failure) -> {
            if (failure != null) {
                done.complete("left (the node no longer answers)");
            } else if (stats.running() + stats.waiting() == 0) {
                drains.put(node.id(), "leaving");
                this.<Ack>ask(node.ref(), GpuNodeProtocol.Leave::new).whenComplete((ack, f) -> done.complete(
                        f != null ? "left" : ack.ok() ? "left" : "drained (stays: " + ack.message() + ")"));
            } else if (System.nanoTime() - startNanos > drainTimeout.toNanos()) {
                done.complete("drained, not left: " + (stats.running() + stats.waiting()) + " requests still in flight after "
                        + drainTimeout.toSeconds() + " s");
            } else {
                drains.put(node.id(), "waiting for " + (stats.running() + stats.waiting()) + " requests in flight");
                system.scheduler().scheduleOnce(Duration.ofMillis(200), check[0], system.executionContext());
            }
        });
        check[0].run();
        return done;
    }

    // --- node loss ---

    /** A node left the listing: its hot adapters become hot where placement now sends them. */
    private void replace(NodeView lost) {
        drains.remove(lost.id());
        List<HeldAdapter> held = hot(lost);
        if (held.isEmpty()) {
            return;
        }
        log.info("node {} left; placing its {} hot adapter(s) elsewhere", lost.id(), held.size());
        for (HeldAdapter h : held) {
            placement.rank(h.adapter(), lost.stats().baseModel(), Set.of(lost.id())).stream().findFirst()
                    .ifPresent(target -> load(target, h.adapter(), h.pinned()));
        }
    }

    // --- rebalance ---

    /**
     * Moves hot adapters from the most to the least loaded ready nodes (load: requests running and
     * waiting, then hot adapters) until their hot counts differ by at most one: each is loaded on
     * the target, then evicted from the source (an adapter in use stays there too).
     */
    public CompletionStage<List<Move>> rebalance() {
        List<NodeView> ready = placement.nodes().stream().filter(n -> n.answering() && n.stats().ready() && !n.isDraining()).toList();
        Map<NodeId, List<HeldAdapter>> hot = new HashMap<>();
        Map<NodeId, Integer> load = new HashMap<>();
        Map<NodeId, NodeView> byId = new HashMap<>();
        for (NodeView n : ready) {
            hot.put(n.id(), new ArrayList<>(hot(n)));
            load.put(n.id(), n.stats().running() + n.stats().waiting());
            byId.put(n.id(), n);
        }
        Comparator<NodeId> byLoad = Comparator.<NodeId>comparingInt(load::get).thenComparingInt(id -> hot.get(id).size())
                .thenComparing(NodeId::value);
        List<Move> plan = new ArrayList<>();
        for (int i = 0; i < 256 && ready.size() > 1; i++) {
            NodeId from = byId.keySet().stream().max(byLoad).orElseThrow();
            NodeId to = byId.keySet().stream().min(byLoad).orElseThrow();
            if (from.equals(to) || hot.get(from).size() - hot.get(to).size() <= 1) {
                break;
            }
            Set<String> atTarget = new HashSet<>();
            hot.get(to).forEach(h -> atTarget.add(h.adapter().contentHash().hex()));
            Optional<HeldAdapter> candidate = hot.get(from).stream()
                    .filter(h -> !h.pinned() && !atTarget.contains(h.adapter().contentHash().hex()))
                    .min(Comparator.comparingInt(HeldAdapter::running));
            if (candidate.isEmpty()) {
                break;
            }
            hot.get(from).remove(candidate.get());
            hot.get(to).add(candidate.get());
            plan.add(new Move(candidate.get().adapter(), from, to));
        }
        CompletionStage<List<Move>> done = CompletableFuture.completedFuture(new ArrayList<>());
        for (Move m : plan) {
            done = done.thenCompose(moved -> load(byId.get(m.to()), m.adapter(), false).thenCompose(loaded -> {
                if (!loaded) {
                    return CompletableFuture.completedFuture(moved);
                }
                moved.add(m);
                return this.<Ack>ask(byId.get(m.from()).ref(), r -> new GpuNodeProtocol.EvictAdapter(m.adapter().contentHash(), false, r))
                        .handle((ack, f) -> moved);
            }));
        }
        return done.whenComplete((moved, f) -> placement.refresh());
    }

    // --- pin, unpin, evict ---

    /**
     * Pins {@code adapter} hot on {@code node} (null: where placement puts it), or unpins it on every
     * node that holds it. Answers the ids of the nodes that did it.
     */
    public CompletionStage<Outcome> pin(AdapterRef adapter, NodeView node, boolean pinned) {
        List<NodeView> targets;
        if (pinned) {
            Optional<NodeView> target = node != null ? Optional.of(node)
                    : placement.rank(adapter, null, Set.of()).stream().findFirst();
            targets = target.map(List::of).orElse(List.of());
        } else {
            targets = node != null ? List.of(node) : List.copyOf(placement.nodes());
        }
        return onEach(targets, n -> this.<Ack>ask(n.ref(), r -> new GpuNodeProtocol.PinAdapter(adapter, pinned, r), loadTimeout));
    }

    /** Evicts {@code adapter} from every tier of {@code node} (null: every node). Answers the nodes it left. */
    public CompletionStage<Outcome> evict(AdapterRef adapter, NodeView node) {
        List<NodeView> targets = node != null ? List.of(node) : List.copyOf(placement.nodes());
        return onEach(targets, n -> this.<Ack>ask(n.ref(), r -> new GpuNodeProtocol.EvictAdapter(adapter.contentHash(), true, r)))
                .whenComplete((outcome, f) -> placement.refresh());
    }

    /** What an operation did on each node: the nodes that did it, and why the others did not. */
    public record Outcome(List<NodeId> done, Map<NodeId, String> failed) {
    }

    private CompletionStage<Outcome> onEach(List<NodeView> nodes, Function<NodeView, CompletionStage<Ack>> action) {
        Map<NodeId, CompletableFuture<String>> results = new java.util.LinkedHashMap<>();
        for (NodeView n : nodes) {
            results.put(n.id(), action.apply(n).handle((ack, f) -> f != null ? "no answer: " + f.getMessage()
                    : ack.ok() ? "" : ack.message()).toCompletableFuture());
        }
        return CompletableFuture.allOf(results.values().toArray(CompletableFuture[]::new)).thenApply(d -> {
            placement.refresh();
            List<NodeId> done = new ArrayList<>();
            Map<NodeId, String> failed = new java.util.LinkedHashMap<>();
            results.forEach((id, r) -> {
                if (r.join().isEmpty()) {
                    done.add(id);
                } else {
                    failed.put(id, r.join());
                }
            });
            return new Outcome(done, failed);
        });
    }

    // --- helpers ---

    private CompletionStage<Boolean> load(NodeView node, AdapterRef adapter, boolean pin) {
        return this.<Ack>ask(node.ref(), r -> new GpuNodeProtocol.LoadAdapter(adapter, pin, r), loadTimeout).handle((ack, f) -> {
            if (f != null || !ack.ok()) {
                log.warn("could not load adapter {}/{} on node {}: {}", adapter.tenant(), adapter.name(), node.id(),
                        f != null ? f.toString() : ack.message());
                return false;
            }
            return true;
        });
    }

    private static List<HeldAdapter> hot(NodeView node) {
        return node.stats().adapters().stream().filter(h -> h.tier() == AdapterTier.HOT).toList();
    }

    private <R> CompletionStage<R> ask(ActorRef<GpuNodeProtocol.Command> node, Function<ActorRef<R>, GpuNodeProtocol.Command> message) {
        return ask(node, message, askTimeout);
    }

    private <R> CompletionStage<R> ask(ActorRef<GpuNodeProtocol.Command> node, Function<ActorRef<R>, GpuNodeProtocol.Command> message,
            Duration timeout) {
        return AskPattern.ask(node, message::apply, timeout, system.scheduler());
    }
}
