package io.loraplex.engine.batch;

import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.ComputeGate;
import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.BlockManager;
import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.kv.PagePool;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The serving engine: one base model, many adapters, continuous batching.
 *
 * <p>Requests arrive at any time ({@link #submit}); one step thread runs the engine. Each step the
 * {@link FairScheduler} decides which requests run and how much of each (the next chunk of every
 * running request, then waiting requests admitted fairly across tenants when their adapter is hot
 * and their KV blocks fit; when blocks run out the latest, lowest-priority requests are preempted
 * and recomputed later, never failed), and the {@link StepRunner} runs that plan as one
 * {@link ForwardBatch} (each token with its own adapter), samples and retires. KV blocks and adapter
 * pages share one budget. This class is the facade: requests, adapters, stats and the step loop.
 */
public final class Engine implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(Engine.class.getName());
    private static final long IDLE_POLL_MS = 20;
    /**
     * An adapter version the engine quarantined: it turned a request's logits non-finite, its
     * requests failed, it left every tier, and loads of it are refused from now on.
     */
    public record Quarantine(ContentHash hash, String name, String reason) {
    }

    /** What the engine knows of one adapter, for operators. */
    public record AdapterInfo(ContentHash hash, String name, String tier, int runningRequests, boolean pinned, int pages) {
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
    private final FairScheduler scheduler;
    private final StepRunner runner;
    private final List<Map.Entry<AdapterSpec, CompletableFuture<Void>>> preloads = new ArrayList<>();
    private final List<CompletableFuture<Void>> drains = new ArrayList<>();

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
        this.scheduler = new FairScheduler(settings, pages, blocks, adapters);
        this.runner = new StepRunner(backend, arena, gate, blocks, adapters, scheduler, settings.blockSize(),
                q -> quarantineListener.accept(q));
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
        post(() -> scheduler.enqueue(seq));
        return handle(seq);
    }

    /** Queues several requests at once: the next step sees all of them (the {@code logits} command's one step). */
    public List<RequestHandle> submitAll(List<EngineRequest> requests, List<? extends GenerationListener> listeners) {
        List<Sequence> seqs = new ArrayList<>();
        for (int i = 0; i < requests.size(); i++) {
            seqs.add(prepare(requests.get(i), listeners.get(i)));
        }
        post(() -> seqs.forEach(scheduler::enqueue));
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
        return call(() -> !scheduler.awaited(hash) && adapters.evict(hash, alsoWarm));
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
                Runnable r;
                if (!idle) {
                    r = inbox.poll();
                } else if (nothingPending()) {
                    r = inbox.take(); // nothing can change without a message (a request, a load's end, close): an idle server sleeps
                } else {
                    r = inbox.poll(IDLE_POLL_MS, TimeUnit.MILLISECONDS); // retry what waits on time or pages
                }
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
                scheduler.failRunning("internal error in the engine step: " + e);
            }
            idle = !worked;
            publishStats();
            settleDrains();
        }
        scheduler.cancelAll("the engine stopped");
        loader.shutdownNow();
        arena.close();
    }

    /** No request, preload, drain or adapter waiting for pages: the loop may block until a message comes. */
    private boolean nothingPending() {
        return scheduler.idle() && preloads.isEmpty() && drains.isEmpty() && !adapters.waitingForPages();
    }

    /** One scheduling round and, when there is work, one forward step. */
    private boolean step() {
        List<FairScheduler.Chunk> plan = scheduler.schedule(System.nanoTime());
        if (plan.isEmpty()) {
            return false;
        }
        runner.run(plan);
        return true;
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
                scheduler.failWaitingOn(e);
                it.remove();
            }
        }
    }

    private void settleDrains() {
        if (drains.isEmpty() || !scheduler.idle()) {
            return;
        }
        drains.forEach(f -> f.complete(null));
        drains.clear();
    }

    private void publishStats() {
        stats = new EngineStats(runner.steps(), runner.promptTokens(), runner.generatedTokens(), scheduler.preemptions(),
                adapters.coldLoads, adapters.warmHits, adapters.evictions, blocks.lookups(), blocks.hits(),
                scheduler.running().size(), scheduler.waitingCount(), pages.total(), pages.free(),
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
