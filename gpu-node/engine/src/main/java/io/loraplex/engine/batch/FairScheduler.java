package io.loraplex.engine.batch;

import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.engine.kv.BlockManager;
import io.loraplex.engine.kv.PagePool;
import io.loraplex.engine.sample.Finish;
import io.loraplex.engine.sample.FinishReason;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Which requests run in the next step, and how much of each. Running requests go first (higher
 * priority, then earlier arrival), one token each when decoding and up to {@code prefillChunk} when
 * reading their prompt; then waiting requests are admitted, the tenant with the fewest weighted
 * tokens served first, once their adapter is hot and their KV blocks fit. When blocks run out the
 * latest, lowest-priority requests are preempted and recomputed later, never failed. It also owns a
 * request's end: {@link #finish} frees its blocks and adapter and tells its listener.
 *
 * <p>Used on the engine's step thread only.
 */
final class FairScheduler {

    private static final Comparator<Sequence> RUN_ORDER =
            Comparator.comparingInt((Sequence s) -> -s.request.priority()).thenComparingLong(s -> s.arrival);

    /** The next {@code count} tokens of {@code seq}, from position {@code start}, to compute in this step. */
    record Chunk(Sequence seq, int start, int count) {
    }

    /** One tenant's queue and its share of the engine. */
    private static final class TenantQueue {
        final TenantId id;
        final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
        int running;
        int reservedBlocks;
        double virtualTokens;

        TenantQueue(TenantId id) {
            this.id = id;
        }

        boolean active() {
            return running > 0 || !waiting.isEmpty();
        }
    }

    private final EngineSettings settings;
    private final PagePool pages;
    private final BlockManager blocks;
    private final AdapterPool adapters;
    private final Map<TenantId, TenantQueue> tenants = new LinkedHashMap<>();
    private final List<Sequence> running = new ArrayList<>();
    private long preemptions;

    FairScheduler(EngineSettings settings, PagePool pages, BlockManager blocks, AdapterPool adapters) {
        this.settings = settings;
        this.pages = pages;
        this.blocks = blocks;
        this.adapters = adapters;
    }

    /** The running requests, in run order as of the last step. */
    List<Sequence> running() {
        return running;
    }

    int waitingCount() {
        int waiting = 0;
        for (TenantQueue t : tenants.values()) {
            waiting += t.waiting.size();
        }
        return waiting;
    }

    /** Whether no request runs or waits (a drain may complete). */
    boolean idle() {
        return running.isEmpty() && waitingCount() == 0;
    }

    long preemptions() {
        return preemptions;
    }

    /** Counts {@code tokens} computed or generated for the request against its tenant's fair share. */
    void charge(Sequence s, double tokens) {
        tenants.get(s.request.tenant()).virtualTokens += tokens / s.request.weight();
    }

    void enqueue(Sequence s) {
        TenantQueue t = tenants.computeIfAbsent(s.request.tenant(), TenantQueue::new);
        if (!t.active()) {
            // a tenant back from idle starts level with the others: no credit for time away
            double floor = Double.MAX_VALUE;
            for (TenantQueue other : tenants.values()) {
                if (other != t && other.active()) {
                    floor = Math.min(floor, other.virtualTokens);
                }
            }
            if (floor != Double.MAX_VALUE) {
                t.virtualTokens = Math.max(t.virtualTokens, floor);
            }
        }
        // within a tenant: higher priority first, then arrival
        int prio = s.request.priority();
        if (t.waiting.isEmpty() || t.waiting.peekLast().request.priority() >= prio) {
            t.waiting.addLast(s);
        } else {
            List<Sequence> all = new ArrayList<>(t.waiting);
            all.add(s);
            all.sort(RUN_ORDER);
            t.waiting.clear();
            t.waiting.addAll(all);
        }
    }

    /** Ends cancelled and expired requests, then plans the next step: empty when there is nothing to run. */
    List<Chunk> schedule(long now) {
        expire(now);
        List<Chunk> plan = new ArrayList<>();
        int budget = settings.maxTokensPerStep();
        running.sort(RUN_ORDER);
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Sequence s = running.get(i);
            if (s.paused) {
                continue; // its reader is behind: it keeps its blocks and waits
            }
            int n = Math.min(s.remaining() > 1 ? Math.min(s.remaining(), settings.prefillChunk()) : 1, budget);
            boolean placed = true;
            while (!ensureBlocks(s, s.computed + n)) {
                if (running.size() - 1 > i) {
                    preempt(running.getLast());
                } else {
                    placed = false;
                    break;
                }
            }
            if (!placed) {
                if (!plan.isEmpty()) {
                    preempt(s); // the others go ahead; this one recomputes when memory frees
                } else {
                    finish(s, Finish.of(FinishReason.ERROR), "", "out of memory: the request needs " + blocksFor(s.computed + n)
                            + " KV blocks and adapters in use leave fewer");
                }
                break;
            }
            plan.add(new Chunk(s, s.computed, n));
            budget -= n;
        }
        admit(plan, budget);
        return plan;
    }

    /** Admits waiting requests, fairest tenant first, while tokens, slots and memory last. */
    private void admit(List<Chunk> plan, int budget) {
        Set<TenantQueue> blocked = new HashSet<>();
        while (budget > 0 && running.size() < settings.maxRunning()) {
            TenantQueue t = nextTenant(blocked);
            if (t == null) {
                return;
            }
            Sequence s = t.waiting.peekFirst();
            if (s.paused) {
                blocked.add(t);
                continue;
            }
            AdapterPool.Entry entry = null;
            if (s.request.adapter() != null) {
                entry = adapters.request(s.request.adapter());
                if (entry.state == AdapterPool.State.FAILED) {
                    failWaitingOn(entry);
                    continue;
                }
                if (!entry.resident()) {
                    blocked.add(t); // its adapter loads off the loop; other tenants go ahead
                    continue;
                }
            }
            if (t.running > 0 && t.reservedBlocks + s.reservedBlocks > settings.maxKvBlocksPerTenant()) {
                blocked.add(t);
                continue;
            }
            int[] hits = blocks.lookup(s.request.tenant().value(), s.adapterKey, s.tokens, s.length - 1);
            int needed = blocksFor(s.length) - hits.length;
            int available = pages.free() + blocks.idleCached() + adapters.idlePages()
                    - (entry != null && entry.refs == 0 && !entry.pinned ? entry.pages.length : 0);
            if (needed > available) {
                for (int page : hits) {
                    blocks.release(page);
                }
                return; // memory is short: admit nobody until running requests free some
            }
            t.waiting.pollFirst();
            running.add(s);
            t.running++;
            t.reservedBlocks += s.reservedBlocks;
            if (entry != null) {
                adapters.acquire(entry);
                s.adapter = entry;
            }
            for (int page : hits) {
                s.addBlock(page);
            }
            s.computed = hits.length * settings.blockSize();
            if (!s.everAdmitted) {
                s.cachedPromptTokens = Math.min(s.computed, s.promptLength);
                s.everAdmitted = true;
            }
            int n = Math.min(Math.min(s.remaining(), settings.prefillChunk()), budget);
            if (!ensureBlocks(s, s.computed + n)) {
                preempt(s);
                return;
            }
            plan.add(new Chunk(s, s.computed, n));
            budget -= n;
        }
    }

    /** The tenant with the fewest (weighted) tokens served that has a request to admit. */
    private TenantQueue nextTenant(Set<TenantQueue> blocked) {
        TenantQueue best = null;
        for (TenantQueue t : tenants.values()) {
            if (t.waiting.isEmpty() || blocked.contains(t) || t.running >= settings.maxRunningPerTenant()) {
                continue;
            }
            if (best == null || t.virtualTokens < best.virtualTokens
                    || (t.virtualTokens == best.virtualTokens && t.waiting.peekFirst().arrival < best.waiting.peekFirst().arrival)) {
                best = t;
            }
        }
        return best;
    }

    /** Whether a waiting request names the adapter (evicting it would only make the request load it again). */
    boolean awaited(ContentHash hash) {
        for (TenantQueue t : tenants.values()) {
            for (Sequence s : t.waiting) {
                if (s.request.adapter() != null && s.request.adapter().hash().equals(hash)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Fails the waiting requests of an adapter that failed to load, and forgets the failure. */
    void failWaitingOn(AdapterPool.Entry entry) {
        for (TenantQueue t : tenants.values()) {
            for (Sequence s : new ArrayList<>(t.waiting)) {
                if (s.request.adapter() != null && s.request.adapter().hash().equals(entry.hash)) {
                    finish(s, Finish.of(FinishReason.ERROR), "", entry.error, entry.quarantined
                            ? GenerationListener.Failure.ADAPTER_QUARANTINED : GenerationListener.Failure.ENGINE);
                }
            }
        }
        adapters.forgetFailed(entry);
    }

    /** Fails every request of a quarantined adapter, running or waiting, which frees its references. */
    void failAllOf(AdapterPool.Entry entry, String reason) {
        for (Sequence other : new ArrayList<>(running)) {
            if (other.adapter == entry) {
                finish(other, Finish.of(FinishReason.ERROR), "", reason, GenerationListener.Failure.ADAPTER_QUARANTINED);
            }
        }
        for (TenantQueue t : tenants.values()) {
            for (Sequence w : new ArrayList<>(t.waiting)) {
                if (w.request.adapter() != null && w.request.adapter().hash().equals(entry.hash)) {
                    finish(w, Finish.of(FinishReason.ERROR), "", reason, GenerationListener.Failure.ADAPTER_QUARANTINED);
                }
            }
        }
    }

    /** Ends every running request (the step failed) with an error. */
    void failRunning(String error) {
        for (Sequence s : new ArrayList<>(running)) {
            finish(s, Finish.of(FinishReason.ERROR), "", error, GenerationListener.Failure.ENGINE);
        }
    }

    /** Ends every running and waiting request as cancelled (the engine stops). */
    void cancelAll(String reason) {
        for (Sequence s : new ArrayList<>(running)) {
            finish(s, Finish.of(FinishReason.CANCELLED), "", reason);
        }
        for (TenantQueue t : tenants.values()) {
            for (Sequence s : new ArrayList<>(t.waiting)) {
                finish(s, Finish.of(FinishReason.CANCELLED), "", reason);
            }
        }
    }

    private int blocksFor(int positions) {
        return (positions + settings.blockSize() - 1) / settings.blockSize();
    }

    /** Gives {@code s} blocks for its first {@code positions} positions; false when memory is out. */
    private boolean ensureBlocks(Sequence s, int positions) {
        int needed = blocksFor(positions);
        while (s.tableSize < needed) {
            int page = blocks.allocate();
            while (page < 0 && adapters.evictIdle(null)) {
                page = blocks.allocate();
            }
            if (page < 0) {
                return false;
            }
            s.addBlock(page);
        }
        return true;
    }

    /** Frees a running request's blocks and queues it first again: it recomputes when readmitted. */
    private void preempt(Sequence s) {
        releaseResources(s);
        s.computed = 0;
        TenantQueue t = tenants.get(s.request.tenant());
        t.waiting.addFirst(s);
        preemptions++;
    }

    private void releaseResources(Sequence s) {
        for (int i = 0; i < s.tableSize; i++) {
            blocks.release(s.table[i]);
        }
        s.tableSize = 0;
        if (s.adapter != null) {
            adapters.release(s.adapter);
            s.adapter = null;
        }
        if (running.remove(s)) {
            TenantQueue t = tenants.get(s.request.tenant());
            t.running--;
            t.reservedBlocks -= s.reservedBlocks;
        }
    }

    private void expire(long now) {
        for (Sequence s : new ArrayList<>(running)) {
            expire(s, now);
        }
        for (TenantQueue t : tenants.values()) {
            if (t.waiting.isEmpty()) {
                continue;
            }
            for (Sequence s : new ArrayList<>(t.waiting)) {
                expire(s, now);
            }
        }
    }

    private void expire(Sequence s, long now) {
        if (s.cancelRequested) {
            finish(s, Finish.of(FinishReason.CANCELLED), heldBack(s, FinishReason.CANCELLED), "cancelled");
        } else if (s.request.deadlineNanos() != 0 && now - s.request.deadlineNanos() > 0) {
            finish(s, Finish.of(FinishReason.DEADLINE), heldBack(s, FinishReason.DEADLINE), "the request passed its deadline");
        }
    }

    private static String heldBack(Sequence s, FinishReason reason) {
        return s.output == null ? "" : s.output.finish(Finish.of(reason));
    }

    void finish(Sequence s, Finish finish, String text, String error) {
        finish(s, finish, text, error, finish.reason() == FinishReason.ERROR ? GenerationListener.Failure.ENGINE : null);
    }

    /** Ends a request once: frees its blocks and adapter, drops it from its queue, and tells its listener. */
    void finish(Sequence s, Finish finish, String text, String error, GenerationListener.Failure failure) {
        if (s.finished) {
            return;
        }
        s.finished = true;
        releaseResources(s);
        TenantQueue t = tenants.get(s.request.tenant());
        if (t != null) {
            t.waiting.remove(s);
        }
        GenerationListener.Usage usage = new GenerationListener.Usage(s.promptLength, s.generated(), s.cachedPromptTokens);
        GenerationListener.Completion done = new GenerationListener.Completion(finish, text, usage, error, failure);
        s.deliver(() -> s.listener.onFinish(done));
    }
}
