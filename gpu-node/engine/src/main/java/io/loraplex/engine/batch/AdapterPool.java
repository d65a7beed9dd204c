package io.loraplex.engine.batch;

import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.kv.BlockManager;
import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.kv.PagePool;
import io.loraplex.engine.lora.AdapterException;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.PagedAdapter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.function.Consumer;

/**
 * The engine's adapters across tiers: hot (placed in arena pages, usable by a step), warm (loaded
 * and validated in host memory) and cold (only a {@link AdapterSpec.Source} away). Cold loads and
 * page placement run on loader threads, never on the step loop; their results come back through
 * {@code post}. Resident adapters with no running request are evicted least recently used first,
 * unless pinned; an adapter a request holds is never evicted. Not thread-safe: the step loop owns it.
 */
final class AdapterPool {

    enum State { LOADING, NEEDS_PAGES, PLACING, RESIDENT, FAILED }

    /** One adapter the engine knows, in whatever tier it is. */
    static final class Entry implements EvictionPolicy.Candidate {
        final ContentHash hash;
        final String name;
        final AdapterSpec spec;
        State state = State.LOADING;
        LoraAdapter adapter;
        PagedAdapter paged;
        int[] pages = new int[0];
        int refs;
        boolean pinned;
        long lastUse;
        String error;
        /** FAILED because the version is quarantined, not because its load failed. */
        boolean quarantined;

        Entry(AdapterSpec spec) {
            this.hash = spec.hash();
            this.name = spec.name();
            this.spec = spec;
        }

        boolean resident() {
            return state == State.RESIDENT;
        }

        @Override
        public boolean idle() {
            return state == State.RESIDENT && refs == 0 && !pinned;
        }

        @Override
        public long lastUse() {
            return lastUse;
        }
    }

    private final PagePool pages;
    private final PageArena arena;
    private final BlockManager blocks;
    private final ExecutorService loader;
    private final AdapterLoader validator;
    private final Consumer<Runnable> post;
    private final int maxResident;
    private final long warmBudgetBytes;
    private final Map<ContentHash, Entry> entries = new HashMap<>();
    private final LinkedHashMap<ContentHash, LoraAdapter> warm = new LinkedHashMap<>(16, 0.75f, true);
    /**
     * Versions that turned a request's logits non-finite, with the reason: never loaded again by
     * this engine. The one field read from other threads. It grows only by poisoned versions,
     * which an operator would delete, so it is not bounded.
     */
    private final Map<ContentHash, String> quarantined = new java.util.concurrent.ConcurrentHashMap<>();
    private long warmBytes;
    private long clock;

    long coldLoads;
    long warmHits;
    long evictions;
    long loadFailures;

    AdapterPool(PagePool pages, PageArena arena, BlockManager blocks, ExecutorService loader, AdapterLoader validator,
            Consumer<Runnable> post, int maxResident, long warmBudgetBytes) {
        this.pages = pages;
        this.arena = arena;
        this.blocks = blocks;
        this.loader = loader;
        this.validator = validator;
        this.post = post;
        this.maxResident = maxResident;
        this.warmBudgetBytes = warmBudgetBytes;
    }

    /** The entry for {@code spec}, starting its load when the engine does not have it yet. */
    Entry request(AdapterSpec spec) {
        Entry e = entries.get(spec.hash());
        if (e == null) {
            e = new Entry(spec);
            entries.put(spec.hash(), e);
            String quarantine = quarantined.get(spec.hash());
            if (quarantine != null) {
                e.state = State.FAILED;
                e.error = quarantine;
                e.quarantined = true;
                e.lastUse = ++clock;
                return e;
            }
            LoraAdapter cached = warm.remove(spec.hash());
            if (cached != null) {
                warmBytes -= cached.byteSize();
                warmHits++;
                e.adapter = cached;
                e.state = State.NEEDS_PAGES;
                place(e);
            } else {
                startLoad(e);
            }
        }
        e.lastUse = ++clock;
        return e;
    }

    private void startLoad(Entry e) {
        e.state = State.LOADING;
        loader.execute(() -> {
            try {
                LoraAdapter a = e.spec.source().load(validator);
                if (!a.contentHash().equals(e.hash)) {
                    throw new AdapterException(AdapterException.Reason.MALFORMED, "adapter '" + e.name
                            + "' has content hash " + a.contentHash() + " but was requested as " + e.hash);
                }
                post.accept(() -> loaded(e, a));
            } catch (AdapterException ex) {
                post.accept(() -> failed(e, ex.getMessage()));
            } catch (RuntimeException | Error ex) {
                post.accept(() -> failed(e, "adapter '" + e.name + "' could not be loaded: " + ex));
            }
        });
    }

    private void loaded(Entry e, LoraAdapter a) {
        if (entries.get(e.hash) != e) {
            return; // evicted while loading
        }
        coldLoads++;
        e.adapter = a;
        e.state = State.NEEDS_PAGES;
        place(e);
    }

    private void failed(Entry e, String error) {
        loadFailures++;
        e.state = State.FAILED;
        e.error = error;
    }

    /** Forgets a failed entry once its waiting requests have been told, so a later request retries. */
    void forgetFailed(Entry e) {
        if (e.state == State.FAILED && entries.get(e.hash) == e) {
            entries.remove(e.hash);
        }
    }

    /** Whether an adapter waits for pages: only {@link #tick} retries it, so the loop must not block for good. */
    boolean waitingForPages() {
        for (Entry e : entries.values()) {
            if (e.state == State.NEEDS_PAGES) {
                return true;
            }
        }
        return false;
    }

    /** Retries placements that waited for pages. */
    void tick() {
        for (Entry e : new ArrayList<>(entries.values())) {
            if (e.state == State.NEEDS_PAGES) {
                place(e);
            }
        }
    }

    /** Claims pages for a loaded adapter and places it off the loop; stays NEEDS_PAGES when memory is short. */
    private void place(Entry e) {
        int resident = 0;
        for (Entry other : entries.values()) {
            if (other.state == State.RESIDENT || other.state == State.PLACING) {
                resident++;
            }
        }
        while (resident >= maxResident) {
            if (!evictIdle(e)) {
                return;
            }
            resident--;
        }
        int needed = PagedAdapter.pagesNeeded(e.adapter, arena.layout());
        int[] claimed = new int[needed];
        for (int i = 0; i < needed; i++) {
            int page = pages.allocate(PagePool.Use.ADAPTER);
            while (page < 0 && (blocks.evictIdleCached() || evictIdle(e))) {
                page = pages.allocate(PagePool.Use.ADAPTER);
            }
            if (page < 0) {
                for (int j = 0; j < i; j++) {
                    pages.release(claimed[j], PagePool.Use.ADAPTER);
                }
                return;
            }
            claimed[i] = page;
        }
        e.pages = claimed;
        e.state = State.PLACING;
        LoraAdapter adapter = e.adapter;
        loader.execute(() -> {
            PagedAdapter placed = PagedAdapter.place(adapter, arena, claimed);
            post.accept(() -> {
                if (entries.get(e.hash) == e && e.state == State.PLACING) {
                    e.paged = placed;
                    e.state = State.RESIDENT;
                    if (e.quarantined) {
                        unplace(e);
                        entries.remove(e.hash);
                    }
                }
            });
        });
    }

    void acquire(Entry e) {
        if (!e.resident()) {
            throw new IllegalStateException("adapter " + e.name + " is not resident");
        }
        e.refs++;
        e.lastUse = ++clock;
    }

    void release(Entry e) {
        if (e.refs <= 0) {
            throw new IllegalStateException("adapter " + e.name + " released more often than acquired");
        }
        e.refs--;
        e.lastUse = ++clock;
    }

    /** Evicts the least recently used resident adapter no request holds and nobody pinned, other than {@code keep}. */
    boolean evictIdle(Entry keep) {
        Entry victim = EvictionPolicy.victim(entries.values(), keep);
        if (victim == null) {
            return false;
        }
        unplace(victim);
        entries.remove(victim.hash);
        keepWarm(victim.adapter);
        evictions++;
        return true;
    }

    /** Pages resident adapters hold that eviction could free now. */
    int idlePages() {
        int n = 0;
        for (Entry e : entries.values()) {
            if (e.state == State.RESIDENT && e.refs == 0 && !e.pinned) {
                n += e.pages.length;
            }
        }
        return n;
    }

    private void unplace(Entry e) {
        for (int page : e.pages) {
            pages.release(page, PagePool.Use.ADAPTER);
        }
        e.pages = new int[0];
        e.paged = null;
    }

    private void keepWarm(LoraAdapter a) {
        if (a == null || a.byteSize() > warmBudgetBytes) {
            return;
        }
        warm.put(a.contentHash(), a);
        warmBytes += a.byteSize();
        var it = warm.entrySet().iterator();
        while (warmBytes > warmBudgetBytes && it.hasNext()) {
            warmBytes -= it.next().getValue().byteSize();
            it.remove();
        }
    }

    /**
     * Drops an adapter from the hot tier (and the warm one when {@code alsoWarm}). Refused while a
     * request holds it; returns whether it is gone.
     */
    boolean evict(ContentHash hash, boolean alsoWarm) {
        Entry e = entries.get(hash);
        if (e != null) {
            if (e.refs > 0 || e.state == State.PLACING) {
                return false;
            }
            if (e.state == State.RESIDENT) {
                unplace(e);
                evictions++;
            } else if (e.state == State.NEEDS_PAGES) {
                e.adapter = null;
            }
            entries.remove(hash);
            if (!alsoWarm && e.adapter != null) {
                keepWarm(e.adapter);
            }
        }
        if (alsoWarm) {
            LoraAdapter w = warm.remove(hash);
            if (w != null) {
                warmBytes -= w.byteSize();
            }
        }
        return true;
    }

    /**
     * Quarantines a version: drops it from the hot and warm tiers (its requests must have released
     * it, pinned or not) and refuses every later {@link #request} of it with {@code reason}.
     */
    void quarantine(ContentHash hash, String reason) {
        quarantined.put(hash, reason);
        Entry e = entries.get(hash);
        if (e != null) {
            if (e.refs > 0) {
                throw new IllegalStateException("adapter " + e.name + " is quarantined while " + e.refs + " requests hold it");
            }
            if (e.state == State.PLACING) {
                // a loader thread still writes its pages: they are freed when it is done (see place)
                e.quarantined = true;
            } else {
                if (e.state == State.RESIDENT) {
                    unplace(e);
                    evictions++;
                }
                entries.remove(hash);
            }
        }
        LoraAdapter w = warm.remove(hash);
        if (w != null) {
            warmBytes -= w.byteSize();
        }
    }

    java.util.Optional<String> quarantineReason(ContentHash hash) {
        return java.util.Optional.ofNullable(quarantined.get(hash));
    }

    void pin(Entry e, boolean pinned) {
        e.pinned = pinned;
    }

    Entry get(ContentHash hash) {
        return entries.get(hash);
    }

    List<Entry> entries() {
        return new ArrayList<>(entries.values());
    }

    int resident() {
        int n = 0;
        for (Entry e : entries.values()) {
            if (e.state == State.RESIDENT) {
                n++;
            }
        }
        return n;
    }

    int loading() {
        int n = 0;
        for (Entry e : entries.values()) {
            if (e.state == State.LOADING || e.state == State.NEEDS_PAGES || e.state == State.PLACING) {
                n++;
            }
        }
        return n;
    }

    int warmCount() {
        return warm.size();
    }

    /** The adapters in host memory, least recently used first. */
    List<LoraAdapter> warmAdapters() {
        return new ArrayList<>(warm.values());
    }

    boolean isWarm(ContentHash hash) {
        return warm.containsKey(hash);
    }
}
