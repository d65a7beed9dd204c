package io.loraplex.engine.kv;

import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * KV blocks over a {@link PagePool}: reference counts, and the prefix cache. A full block can be
 * registered under a {@link PrefixKey} (tenant, adapter content hash or base, the hash of its chain
 * of tokens); later requests of the same tenant and adapter with the same token prefix reuse it.
 * Each cached block keeps its tokens and its parent, and a lookup checks both, so a hash collision
 * can never hand out another prefix's keys and values. Cached blocks no request holds stay until
 * their pages are needed (LRU). Not thread-safe: the engine's step loop owns it.
 */
public final class BlockManager {

    /**
     * Whose prefix a block belongs to: nothing is shared across tenants, adapters or adapter versions.
     *
     * @param adapter the adapter's content hash, or {@link #BASE} for the base model
     */
    public record PrefixKey(String tenant, String adapter, long chainHash) {
        public static final String BASE = "base";
    }

    private static final class Cached {
        final PrefixKey key;
        final int[] tokens;
        final Cached parent; // null for the first block; compared by identity, so an evicted parent never matches
        final int page;

        Cached(PrefixKey key, int[] tokens, Cached parent, int page) {
            this.key = key;
            this.tokens = tokens;
            this.parent = parent;
            this.page = page;
        }
    }

    private final PagePool pool;
    private final int blockSize;
    private final int[] refs;                      // per page, KV holders
    private final Cached[] cachedByPage;           // per page, its prefix entry or null
    private final Map<PrefixKey, Cached> cache = new HashMap<>();
    private final LinkedHashMap<Integer, Cached> idle = new LinkedHashMap<>(); // cached, unreferenced, LRU first
    private long lookups;
    private long hits;

    public BlockManager(PagePool pool, int blockSize) {
        this.pool = pool;
        this.blockSize = blockSize;
        this.refs = new int[pool.total()];
        this.cachedByPage = new Cached[pool.total()];
    }

    public int blockSize() {
        return blockSize;
    }

    /** A new block for one holder, or -1 when no page is free and no idle cached block can go. */
    public int allocate() {
        int page = pool.allocate(PagePool.Use.KV);
        if (page < 0 && evictIdleCached()) {
            page = pool.allocate(PagePool.Use.KV);
        }
        if (page >= 0) {
            refs[page] = 1;
        }
        return page;
    }

    /** Drops one holder of a block; a cached block stays (idle), an uncached one is freed. */
    public void release(int page) {
        if (refs[page] <= 0) {
            throw new IllegalStateException("block " + page + " released more often than held");
        }
        if (--refs[page] == 0) {
            Cached c = cachedByPage[page];
            if (c != null) {
                idle.put(page, c);
            } else {
                pool.release(page, PagePool.Use.KV);
            }
        }
    }

    /** Frees the least recently used idle cached block; false when there is none. */
    public boolean evictIdleCached() {
        var it = idle.entrySet().iterator();
        if (!it.hasNext()) {
            return false;
        }
        Cached c = it.next().getValue();
        it.remove();
        cache.remove(c.key);
        cachedByPage[c.page] = null;
        pool.release(c.page, PagePool.Use.KV);
        return true;
    }

    /** Blocks that are cached but held by nobody: pages that can be had at once. */
    public int idleCached() {
        return idle.size();
    }

    public int cachedBlocks() {
        return cache.size();
    }

    public int holders(int page) {
        return refs[page];
    }

    public boolean isCached(int page) {
        return cachedByPage[page] != null;
    }

    /** The chain hash of a block given its parent's chain hash (0 for the first block). */
    public static long chainHash(long parent, int[] tokens, int from, int to) {
        long h = parent * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L;
        for (int i = from; i < to; i++) {
            h = (h ^ tokens[i]) * 0xBF58476D1CE4E5B9L;
            h ^= h >>> 31;
        }
        return h;
    }

    /**
     * The longest run of cached full blocks at the start of {@code tokens[0…limit)}, each taken
     * for the caller (its holder count raised). Returns their pages in order.
     */
    public int[] lookup(String tenant, String adapter, int[] tokens, int limit) {
        int full = limit / blockSize;
        int[] pages = new int[full];
        int found = 0;
        long hash = 0;
        Cached parent = null;
        for (int b = 0; b < full; b++) {
            lookups++;
            hash = chainHash(hash, tokens, b * blockSize, (b + 1) * blockSize);
            Cached c = cache.get(new PrefixKey(tenant, adapter, hash));
            if (c == null || c.parent != parent
                    || !Arrays.equals(c.tokens, 0, blockSize, tokens, b * blockSize, (b + 1) * blockSize)) {
                break;
            }
            hits++;
            pages[found++] = c.page;
            parent = c;
        }
        for (int i = 0; i < found; i++) {
            int page = pages[i];
            if (refs[page]++ == 0) {
                idle.remove(page);
            }
        }
        return Arrays.copyOf(pages, found);
    }

    /**
     * Registers a full block the caller holds, {@code tokens[b·P…(b+1)·P)} of a sequence whose
     * block table is {@code table}, unless an equal block is cached already.
     */
    public void register(String tenant, String adapter, int[] tokens, int[] table, int block) {
        int page = table[block];
        if (cachedByPage[page] != null) {
            return;
        }
        long hash = 0;
        for (int b = 0; b <= block; b++) {
            hash = chainHash(hash, tokens, b * blockSize, (b + 1) * blockSize);
        }
        Cached parent = block == 0 ? null : cachedByPage[table[block - 1]];
        if (block > 0 && parent == null) {
            return; // only chains cached from their first block can be found again
        }
        PrefixKey key = new PrefixKey(Objects.requireNonNull(tenant), Objects.requireNonNull(adapter), hash);
        if (cache.containsKey(key)) {
            return;
        }
        Cached c = new Cached(key, Arrays.copyOfRange(tokens, block * blockSize, (block + 1) * blockSize), parent, page);
        cache.put(key, c);
        cachedByPage[page] = c;
    }

    public long lookups() {
        return lookups;
    }

    public long hits() {
        return hits;
    }
}
