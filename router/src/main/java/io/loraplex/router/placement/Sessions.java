package io.loraplex.router.placement;

import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;
import kamon.Kamon;
import kamon.metric.Counter;
import kamon.metric.Metric;

/**
 * Chat sessions and the GPU node each was placed on. {@code POST /v1/sessions} (or the first request
 * naming an unknown session in {@code X-Session-Id}) binds a session to the node chosen for its
 * adapter and warms the adapter there; later requests of the session go to that node while it is
 * ready. The first request of each session counts as a prefetch hit when it found its adapter hot.
 * Sessions belong to a tenant: another tenant naming the same id gets a session of its own under a
 * separate key. Idle sessions expire; the map is bounded.
 */
public final class Sessions {

    /** What a session id may look like: what clients send in a header, bounded. */
    public static final Pattern ID = Pattern.compile("[A-Za-z0-9_.:\\-]{1,128}");

    private record Key(TenantId tenant, String id) {
    }

    private static final class Session {
        final String model;
        volatile NodeId nodeId;
        volatile long lastUsedNanos = System.nanoTime();
        volatile boolean counted;

        Session(String model, NodeId nodeId) {
            this.model = model;
            this.nodeId = nodeId;
        }
    }

    private final Map<Key, Session> sessions = new ConcurrentHashMap<>();
    private final Duration idle;
    private final int max;
    private final AtomicLong hits = new AtomicLong();
    private final AtomicLong misses = new AtomicLong();
    private final Metric.Counter prefetch = Kamon.counter("loraplex.router.prefetch",
            "first requests of sessions whose adapter was hot (hit) or not (miss) on the session's node");
    private final Counter hitCounter = prefetch.withTag("result", "hit");
    private final Counter missCounter = prefetch.withTag("result", "miss");

    public Sessions(Duration idle, int max) {
        this.idle = idle;
        this.max = max;
    }

    /** The node a live session of {@code tenant} is bound to. */
    public Optional<NodeId> nodeOf(TenantId tenant, String id) {
        Session s = sessions.get(new Key(tenant, id));
        if (s == null || System.nanoTime() - s.lastUsedNanos > idle.toNanos()) {
            return Optional.empty();
        }
        s.lastUsedNanos = System.nanoTime();
        return Optional.of(s.nodeId);
    }

    /** Binds (or re-binds, when its node left) a session to a node. */
    public void bind(TenantId tenant, String id, String model, NodeId nodeId) {
        Key key = new Key(tenant, id);
        Session existing = sessions.get(key);
        if (existing != null && existing.model.equals(model)) {
            existing.nodeId = nodeId;
            existing.lastUsedNanos = System.nanoTime();
            return;
        }
        if (sessions.size() >= max) {
            expire();
        }
        sessions.put(key, new Session(model, nodeId));
    }

    /**
     * A request of the session started with its adapter in {@code tier} (null: the base); the
     * session's first one counts as a prefetch hit (hot) or miss.
     */
    public void served(TenantId tenant, String id, AdapterTier tier) {
        Session s = sessions.get(new Key(tenant, id));
        if (s == null || s.counted) {
            return;
        }
        s.counted = true;
        if (tier == AdapterTier.HOT) {
            hits.incrementAndGet();
            hitCounter.increment();
        } else {
            misses.incrementAndGet();
            missCounter.increment();
        }
    }

    public long hits() {
        return hits.get();
    }

    public long misses() {
        return misses.get();
    }

    /** Drops idle sessions; when still full, the least recently used tenth. */
    private void expire() {
        long now = System.nanoTime();
        sessions.values().removeIf(s -> now - s.lastUsedNanos > idle.toNanos());
        if (sessions.size() >= max) {
            sessions.entrySet().stream()
                    .sorted(Comparator.comparingLong(e -> e.getValue().lastUsedNanos))
                    .limit(Math.max(1, max / 10))
                    .map(Map.Entry::getKey)
                    .toList()
                    .forEach(sessions::remove);
        }
    }
}
