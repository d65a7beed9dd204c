package io.loraplex.engine.batch;

import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.ComputeGate;
import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.BlockManager;
import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.kv.PagePool;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.sample.Finish;
import io.loraplex.engine.sample.FinishReason;
import io.loraplex.engine.sample.SampledToken;
import io.loraplex.engine.tokenizer.Tokenizer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The serving engine: one base model, many adapters, continuous batching.
 *
 * <p>Requests arrive at any time ({@link #submit}); one step thread runs the scheduler and the
 * forward pass. Each step it computes the next chunk of every running request (one token for those
 * decoding, up to {@code prefillChunk} for those still reading their prompt), admits waiting
 * requests fairly across tenants when their adapter is hot and their KV blocks fit, runs all of it
 * as one {@link ForwardBatch} (each token with its own adapter), samples, and retires finished or
 * cancelled requests at once. KV blocks and adapter pages share one budget; when blocks run out
 * the latest, lowest-priority requests are preempted and recomputed later, never failed.
 */
public final class Engine implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(Engine.class.getName());
    private static final long IDLE_POLL_MS = 20;
    private static final Comparator<Sequence> RUN_ORDER =
            Comparator.comparingInt((Sequence s) -> -s.request.priority()).thenComparingLong(s -> s.arrival);

    /**
     * An adapter version the engine quarantined: it turned a request's logits non-finite, its
     * requests failed, it left every tier, and loads of it are refused from now on.
     */
    public record Quarantine(ContentHash hash, String name, String reason) {
    }

    /** What the engine knows of one adapter, for operators. */
    public record AdapterInfo(ContentHash hash, String name, String tier, int runningRequests, boolean pinned, int pages) {
    }

    private record Planned(Sequence seq, int start, int count) {
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

    private final Backend backend;
    private final ModelConfig cfg;
    private final Tokenizer tokenizer;
    private final List<Integer> eosIds;
    private final EngineSettings settings;
    private final ArenaLayout layout;
    private final PageArena arena;
    private final PagePool pages;
    private final BlockManager blocks;
    private final AdapterPool adapters;
    private final ExecutorService loader;
    private final LinkedBlockingQueue<Runnable> inbox = new LinkedBlockingQueue<>();
    private final Thread loop;
    private final AtomicLong arrivals = new AtomicLong();
    private final ComputeGate gate = new ComputeGate();

    // owned by the step thread
    private final Map<TenantId, TenantQueue> tenants = new LinkedHashMap<>();
    private final List<Sequence> running = new ArrayList<>();
    private final List<Map.Entry<AdapterSpec, CompletableFuture<Void>>> preloads = new ArrayList<>();
    private final List<CompletableFuture<Void>> drains = new ArrayList<>();
    private float[] logitBuffer = new float[0];
    private long steps;
    private long promptTokens;
    private long generatedTokens;
    private long preemptions;

    private volatile boolean accepting = true;
    private volatile boolean closed;
    private volatile EngineStats stats;
    private volatile List<AdapterInfo> adapterInfo = List.of();
    private volatile Map<ContentHash, String> adapterTiers = Map.of();
    private volatile java.util.function.Consumer<Quarantine> quarantineListener = q -> { };

    /**
     * @param tokenizer detokenizes outputs and applies stop strings; null runs on token ids alone
     * @param eosIds    tokens that end a generation
     */
    public Engine(Backend backend, Tokenizer tokenizer, List<Integer> eosIds, EngineSettings settings) {
        this.backend = backend;
        this.cfg = backend.config();
        this.tokenizer = tokenizer;
        this.eosIds = List.copyOf(eosIds);
        this.settings = settings;
        this.layout = ArenaLayout.of(cfg, settings.blockSize());
        int totalPages = layout.pagesFor(settings.memoryBudgetBytes());
        if (totalPages < 2) {
            throw new IllegalArgumentException("a memory budget of " + settings.memoryBudgetBytes() + " bytes holds "
                    + totalPages + " pages of " + layout.pageBytes() + " bytes; the engine needs at least 2");
        }
        this.arena = backend.allocateArena(layout, totalPages);
        this.pages = new PagePool(totalPages);
        this.blocks = new BlockManager(pages, settings.blockSize());
        this.loader = Executors.newFixedThreadPool(settings.adapterLoadThreads(),
                Thread.ofPlatform().daemon().name("loraplex-adapter-loader-", 1).factory());
        this.adapters = new AdapterPool(pages, arena, blocks, loader, new AdapterLoader(cfg, settings.maxLoraRank(), settings.adapterBounds()),
                this::post, settings.maxResidentAdapters(), settings.warmBudgetBytes());
        publishStats();
        this.loop = Thread.ofPlatform().name("loraplex-engine").daemon().start(this::run);
    }

    /** The gate every serving step holds; training on this engine's backend takes it between steps. */
    public ComputeGate computeGate() {
        return gate;
    }

    public ModelConfig config() {
        return cfg;
    }

    public EngineSettings settings() {
        return settings;
    }

    public ArenaLayout layout() {
        return layout;
    }

    /** Queues a request; its output goes to {@code listener}. Throws for a request that can never run. */
    public RequestHandle submit(EngineRequest request, GenerationListener listener) {
        Sequence seq = prepare(request, listener);
        post(() -> enqueue(seq));
        return handle(seq);
    }

    /** Queues several requests at once: the next step sees all of them (the {@code logits} command's one step). */
    public List<RequestHandle> submitAll(List<EngineRequest> requests, List<? extends GenerationListener> listeners) {
        List<Sequence> seqs = new ArrayList<>();
        for (int i = 0; i < requests.size(); i++) {
            seqs.add(prepare(requests.get(i), listeners.get(i)));
        }
        post(() -> seqs.forEach(this::enqueue));
        return seqs.stream().map(this::handle).toList();
    }

    private RequestHandle handle(Sequence seq) {
        return new RequestHandle() {
            @Override
            public String id() {
                return seq.request.id();
            }

            @Override
            public void cancel() {
                seq.cancelRequested = true;
                post(() -> { });
            }

            @Override
            public void pause(boolean paused) {
                seq.paused = paused;
                if (!paused) {
                    post(() -> { });
                }
            }
        };
    }

    private Sequence prepare(EngineRequest r, GenerationListener listener) {
        if (!accepting || closed) {
            throw new IllegalStateException("the engine is " + (closed ? "stopped" : "draining") + " and takes no new requests");
        }
        int context = cfg.maxPositionEmbeddings();
        for (int i = 0; i < r.prompt().length; i++) {
            int t = r.prompt()[i];
            if (t < 0 || t >= cfg.vocabSize()) {
                throw new IllegalArgumentException("prompt token " + i + " = " + t + " is outside the vocabulary [0, "
                        + cfg.vocabSize() + ")");
            }
        }
        if (r.prompt().length >= context) {
            throw new IllegalArgumentException("the prompt has " + r.prompt().length + " tokens; the model's context is "
                    + context + " (the prompt must leave room for one generated token)");
        }
        long total = r.kind() == EngineRequest.Kind.SCORE ? r.prompt().length
                : Math.min((long) context, (long) r.prompt().length + r.params().maxTokens());
        int reserved = (int) ((total + settings.blockSize() - 1) / settings.blockSize());
        if (reserved > pages.total()) {
            throw new IllegalArgumentException("the request needs up to " + reserved + " KV blocks of " + settings.blockSize()
                    + " positions (" + total + " tokens); the engine's memory budget holds " + pages.total() + " pages");
        }
        if (reserved > settings.maxKvBlocksPerTenant()) {
            throw new IllegalArgumentException("the request needs up to " + reserved + " KV blocks; a tenant may hold "
                    + settings.maxKvBlocksPerTenant());
        }
        OutputProcessor output = r.kind() == EngineRequest.Kind.SCORE ? null
                : new OutputProcessor(tokenizer, r.params(), cfg.vocabSize(), eosIds, r.prompt());
        return new Sequence(r, listener, output, arrivals.incrementAndGet(), reserved);
    }

    /** Makes an adapter hot ahead of its requests (session start); {@code pin} keeps it hot. */
    public CompletableFuture<Void> preload(AdapterSpec spec, boolean pin) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        post(() -> {
            AdapterPool.Entry e = adapters.request(spec);
            if (pin) {
                adapters.pin(e, true);
            }
            preloads.add(Map.entry(spec, done));
        });
        return done;
    }

    public CompletableFuture<Void> unpin(ContentHash hash) {
        return call(() -> {
            AdapterPool.Entry e = adapters.get(hash);
            if (e != null) {
                adapters.pin(e, false);
            }
            return null;
        });
    }

    /**
     * Drops an adapter from the hot tier, and from host memory when {@code alsoWarm} (deletion).
     * Completes false while requests still use it, running or waiting for it.
     */
    public CompletableFuture<Boolean> evict(ContentHash hash, boolean alsoWarm) {
        return call(() -> !awaited(hash) && adapters.evict(hash, alsoWarm));
    }

    /** Whether a waiting request names the adapter (evicting it would only make the request load it again). */
    private boolean awaited(ContentHash hash) {
        for (TenantQueue t : tenants.values()) {
            for (Sequence s : t.waiting) {
                if (s.request.adapter() != null && s.request.adapter().hash().equals(hash)) {
                    return true;
                }
            }
        }
        return false;
    }

    private <T> CompletableFuture<T> call(java.util.function.Supplier<T> action) {
        CompletableFuture<T> f = new CompletableFuture<>();
        post(() -> {
            try {
                T result = action.get();
                publishStats(); // whoever reads stats after this completes sees its effect
                f.complete(result);
            } catch (RuntimeException e) {
                f.completeExceptionally(e);
            }
        });
        return f;
    }

    public EngineStats stats() {
        return stats;
    }

    /** The adapters in the hot tier (also those loading or failed) and in the warm tier (host memory), as of the last step. */
    public List<AdapterInfo> adapters() {
        return adapterInfo;
    }

    /**
     * Where an adapter is, as of the last step: {@code hot} (placed in the arena), {@code warm} (host
     * memory) or {@code cold} (neither: a request naming it loads it). One map lookup, from any thread.
     */
    public String tierOf(ContentHash hash) {
        return adapterTiers.getOrDefault(hash, "cold");
    }

    /** Who hears of each quarantine (the GPU node reports it to the adapter's owner); called on the step thread. */
    public void onQuarantine(java.util.function.Consumer<Quarantine> listener) {
        this.quarantineListener = java.util.Objects.requireNonNull(listener, "listener");
    }

    /** Why the engine quarantined this adapter version, if it did; from any thread. */
    public java.util.Optional<String> quarantineReason(ContentHash hash) {
        return adapters.quarantineReason(hash);
    }

    /** Stops taking requests; completes when every queued and running request has finished. */
    public CompletableFuture<Void> drain() {
        accepting = false;
        CompletableFuture<Void> f = new CompletableFuture<>();
        post(() -> drains.add(f));
        return f;
    }

    public boolean accepting() {
        return accepting;
    }

    private void post(Runnable r) {
        inbox.add(r);
    }

    // ---- the step thread -------------------------------------------------------------------

    private void run() {
        boolean idle = false;
        while (!closed) {
            try {
                Runnable r = idle ? inbox.poll(IDLE_POLL_MS, TimeUnit.MILLISECONDS) : inbox.poll();
                while (r != null) {
                    r.run();
                    r = inbox.poll();
                }
            } catch (InterruptedException e) {
                break;
            }
            if (closed) {
                break;
            }
            boolean worked = false;
            try {
                adapters.tick();
                settlePreloads();
                worked = step();
            } catch (RuntimeException | Error e) {
                LOG.log(System.Logger.Level.ERROR, "engine step failed; failing the running batch", e);
                for (Sequence s : new ArrayList<>(running)) {
                    finish(s, Finish.of(FinishReason.ERROR), "", "internal error in the engine step: " + e,
                            GenerationListener.Failure.ENGINE);
                }
            }
            idle = !worked;
            publishStats();
            settleDrains();
        }
        for (Sequence s : new ArrayList<>(running)) {
            finish(s, Finish.of(FinishReason.CANCELLED), "", "the engine stopped");
        }
        for (TenantQueue t : tenants.values()) {
            for (Sequence s : new ArrayList<>(t.waiting)) {
                finish(s, Finish.of(FinishReason.CANCELLED), "", "the engine stopped");
            }
        }
        loader.shutdownNow();
        arena.close();
    }

    private void enqueue(Sequence s) {
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

    /** One scheduling round and, when there is work, one forward step. */
    private boolean step() {
        expire(System.nanoTime());
        List<Planned> plan = new ArrayList<>();
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
            plan.add(new Planned(s, s.computed, n));
            budget -= n;
        }
        admit(plan, budget);
        if (plan.isEmpty()) {
            return false;
        }
        execute(plan);
        return true;
    }

    /** Admits waiting requests, fairest tenant first, while tokens, slots and memory last. */
    private void admit(List<Planned> plan, int budget) {
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
            plan.add(new Planned(s, s.computed, n));
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

    private void failWaitingOn(AdapterPool.Entry entry) {
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

    /** Builds the step's batch, runs it, samples and retires. */
    private void execute(List<Planned> plan) {
        // tokens of one adapter side by side, so the LoRA path sees long segments (SGMV)
        Map<AdapterPool.Entry, Integer> adapterIndex = new IdentityHashMap<>();
        List<PagedAdapter> paged = new ArrayList<>();
        for (Planned p : plan) {
            if (p.seq.adapter != null && !adapterIndex.containsKey(p.seq.adapter)) {
                adapterIndex.put(p.seq.adapter, paged.size());
                paged.add(p.seq.adapter.paged);
            }
        }
        List<Planned> ordered = new ArrayList<>(plan);
        ordered.sort(Comparator.comparingInt(p -> p.seq.adapter == null ? -1 : adapterIndex.get(p.seq.adapter)));
        int total = 0;
        for (Planned p : ordered) {
            total += p.count;
        }
        int[] tokens = new int[total];
        int[] positions = new int[total];
        int[] sequence = new int[total];
        int[] adapter = new int[total];
        int[][] tables = new int[ordered.size()][];
        List<Integer> logitRows = new ArrayList<>();
        List<Planned> logitOwners = new ArrayList<>();
        int row = 0;
        for (int k = 0; k < ordered.size(); k++) {
            Planned p = ordered.get(k);
            Sequence s = p.seq;
            tables[k] = s.blockTable();
            int slot = s.adapter == null ? ForwardBatch.NO_ADAPTER : adapterIndex.get(s.adapter);
            for (int j = 0; j < p.count; j++) {
                tokens[row] = s.tokens[p.start + j];
                positions[row] = p.start + j;
                sequence[row] = k;
                adapter[row] = slot;
                row++;
            }
            if (p.start + p.count == s.length) {
                logitRows.add(row - 1);
                logitOwners.add(p);
            }
        }
        int vocab = cfg.vocabSize();
        if (logitBuffer.length < logitRows.size() * vocab) {
            logitBuffer = new float[logitRows.size() * vocab];
        }
        ForwardBatch batch = new ForwardBatch(tokens, positions, sequence, tables, adapter,
                paged.toArray(PagedAdapter[]::new), logitRows.stream().mapToInt(Integer::intValue).toArray());
        gate.serve(() -> backend.forward(batch, arena, logitBuffer));
        steps++;

        for (Planned p : ordered) {
            Sequence s = p.seq;
            TenantQueue t = tenants.get(s.request.tenant());
            int before = s.computed;
            s.computed = p.start + p.count;
            promptTokens += Math.max(0, Math.min(s.computed, s.promptLength) - Math.min(before, s.promptLength));
            t.virtualTokens += p.count / s.request.weight();
            for (int b = p.start / settings.blockSize(); b < s.computed / settings.blockSize(); b++) {
                blocks.register(s.request.tenant().value(), s.adapterKey, s.tokens, s.table, b);
            }
        }
        for (int r = 0; r < logitOwners.size(); r++) {
            Sequence s = logitOwners.get(r).seq;
            if (s.finished) {
                continue;
            }
            // Rows never mix (each is reduced on its own), so a non-finite row is its own request's:
            // a NaN or Inf in the hidden state at its last position, or in the KV its attention read,
            // reaches these logits, and failing here fails that request alone.
            int bad = firstNonFinite(logitBuffer, logitIndex(r, vocab), vocab);
            if (bad >= 0) {
                poisoned(s, logitBuffer[logitIndex(r, vocab) + bad], bad);
                continue;
            }
            try {
                emit(s, r, vocab);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, "sampling request " + s.request.id() + " failed", e);
                finish(s, Finish.of(FinishReason.ERROR), "", "internal error while sampling: " + e.getMessage(),
                        GenerationListener.Failure.ENGINE);
            }
        }
    }

    /** Samples or scores one request's row of logits and tells its listener. */
    private void emit(Sequence s, int r, int vocab) {
        if (s.request.kind() == EngineRequest.Kind.SCORE) {
            float[] copy = Arrays.copyOfRange(logitBuffer, logitIndex(r, vocab), logitIndex(r, vocab) + vocab);
            deliver(s, () -> s.listener.onLogits(copy));
            finish(s, Finish.of(FinishReason.STOP), "", null);
            return;
        }
        OutputProcessor.Step out = s.output.next(logitBuffer, logitIndex(r, vocab));
        SampledToken sampled = out.sampled();
        s.append(sampled.token());
        generatedTokens++;
        tenants.get(s.request.tenant()).virtualTokens += 1 / s.request.weight();
        deliver(s, () -> s.listener.onToken(new GenerationListener.Token(sampled.token(), out.text(), sampled.logprob(),
                sampled.topLogprobs())));
        if (out.finish() != null) {
            finish(s, out.finish(), "", null);
        } else if (s.length >= cfg.maxPositionEmbeddings()) {
            finish(s, Finish.of(FinishReason.LENGTH), s.output.finish(Finish.of(FinishReason.LENGTH)), null);
        }
    }

    private static int logitIndex(int row, int vocab) {
        return row * vocab;
    }

    /** The index of the first NaN or Inf in {@code values[offset, offset + n)}, or -1. */
    private static int firstNonFinite(float[] values, int offset, int n) {
        for (int i = 0; i < n; i++) {
            if (!Float.isFinite(values[offset + i])) {
                return i;
            }
        }
        return -1;
    }

    /**
     * A request's logits came out non-finite. Without an adapter it is the base's doing and the
     * request fails alone; with one, the adapter version is quarantined.
     */
    private void poisoned(Sequence s, float value, int index) {
        String what = Float.isNaN(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf";
        if (s.adapter == null) {
            finish(s, Finish.of(FinishReason.ERROR), "", "the base model produced a non-finite logit (" + what
                    + " at token " + index + ") for this request", GenerationListener.Failure.ENGINE);
            return;
        }
        quarantine(s.adapter, "adapter " + s.adapter.name + " produced a non-finite logit (" + what + " at token " + index
                + "); this adapter version is quarantined and will not be served again");
    }

    /**
     * Fails every request of the adapter (running or waiting: the version is not served again),
     * which frees its references, then drops it from every tier and refuses later loads of it.
     */
    private void quarantine(AdapterPool.Entry entry, String reason) {
        LOG.log(System.Logger.Level.WARNING, reason);
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
        adapters.quarantine(entry.hash, reason);
        Quarantine q = new Quarantine(entry.hash, entry.name, reason);
        try {
            quarantineListener.accept(q);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "the quarantine listener failed for " + entry.name, e);
        }
    }

    private void finish(Sequence s, Finish finish, String text, String error) {
        finish(s, finish, text, error, finish.reason() == FinishReason.ERROR ? GenerationListener.Failure.ENGINE : null);
    }

    private void finish(Sequence s, Finish finish, String text, String error, GenerationListener.Failure failure) {
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
        deliver(s, () -> s.listener.onFinish(done));
    }

    private static void deliver(Sequence s, Runnable callback) {
        try {
            callback.run();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "listener of request " + s.request.id() + " failed", e);
        }
    }

    private void settlePreloads() {
        for (Iterator<Map.Entry<AdapterSpec, CompletableFuture<Void>>> it = preloads.iterator(); it.hasNext(); ) {
            Map.Entry<AdapterSpec, CompletableFuture<Void>> p = it.next();
            AdapterPool.Entry e = adapters.get(p.getKey().hash());
            if (e == null) {
                e = adapters.request(p.getKey()); // evicted meanwhile: load again
            }
            if (e.resident()) {
                publishStats();
                p.getValue().complete(null);
                it.remove();
            } else if (e.state == AdapterPool.State.FAILED) {
                p.getValue().completeExceptionally(new IllegalArgumentException(e.error));
                failWaitingOn(e);
                it.remove();
            }
        }
    }

    private void settleDrains() {
        if (drains.isEmpty() || !running.isEmpty()) {
            return;
        }
        for (TenantQueue t : tenants.values()) {
            if (!t.waiting.isEmpty()) {
                return;
            }
        }
        drains.forEach(f -> f.complete(null));
        drains.clear();
    }

    private void publishStats() {
        int waiting = 0;
        for (TenantQueue t : tenants.values()) {
            waiting += t.waiting.size();
        }
        stats = new EngineStats(steps, promptTokens, generatedTokens, preemptions, adapters.coldLoads, adapters.warmHits,
                adapters.evictions, blocks.lookups(), blocks.hits(), running.size(), waiting, pages.total(), pages.free(),
                pages.used(PagePool.Use.KV), pages.used(PagePool.Use.ADAPTER), blocks.cachedBlocks(), blocks.idleCached(),
                adapters.resident(),
                adapters.loading(), adapters.warmCount());
        List<AdapterInfo> info = new ArrayList<>();
        Map<ContentHash, String> tiers = new HashMap<>();
        for (AdapterPool.Entry e : adapters.entries()) {
            String tier = switch (e.state) {
                case RESIDENT -> "hot";
                case FAILED -> "failed";
                default -> "loading";
            };
            info.add(new AdapterInfo(e.hash, e.name, tier, e.refs, e.pinned, e.pages.length));
            if (e.state == AdapterPool.State.RESIDENT) {
                tiers.put(e.hash, "hot");
            }
        }
        for (LoraAdapter a : adapters.warmAdapters()) {
            info.add(new AdapterInfo(a.contentHash(), a.name(), "warm", 0, false, 0));
            tiers.putIfAbsent(a.contentHash(), "warm");
        }
        adapterInfo = List.copyOf(info);
        adapterTiers = Map.copyOf(tiers);
    }

    /** Stops the step thread; queued and running requests end as cancelled. */
    @Override
    public void close() {
        accepting = false;
        closed = true;
        post(() -> { });
        try {
            loop.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
