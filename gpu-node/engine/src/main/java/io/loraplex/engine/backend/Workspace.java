package io.loraplex.engine.backend;

import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.PagedAdapter;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * An arena for running a backend directly, without the serving engine: KV pages handed out in
 * order, and the given adapters placed in the pages after them. For commands and tests.
 */
public final class Workspace implements AutoCloseable {

    private final PageArena arena;
    private final int kvPages;
    private final Map<LoraAdapter, PagedAdapter> placed = new IdentityHashMap<>();
    private int nextKvPage;

    private Workspace(PageArena arena, int kvPages) {
        this.arena = arena;
        this.kvPages = kvPages;
    }

    public static Workspace create(Backend backend, int blockSize, int kvPages, Collection<LoraAdapter> adapters) {
        ArenaLayout layout = ArenaLayout.of(backend.config(), blockSize);
        int adapterPages = 0;
        for (LoraAdapter a : adapters) {
            adapterPages += PagedAdapter.pagesNeeded(a, layout);
        }
        Workspace w = new Workspace(backend.allocateArena(layout, Math.max(1, kvPages + adapterPages)), kvPages);
        int next = kvPages;
        for (LoraAdapter a : adapters) {
            if (w.placed.containsKey(a)) {
                continue;
            }
            int[] pages = new int[PagedAdapter.pagesNeeded(a, layout)];
            for (int i = 0; i < pages.length; i++) {
                pages[i] = next++;
            }
            w.placed.put(a, PagedAdapter.place(a, w.arena, pages));
        }
        return w;
    }

    public PageArena arena() {
        return arena;
    }

    /** The placed form of an adapter given to {@link #create}; null for null (the base). */
    public PagedAdapter paged(LoraAdapter adapter) {
        if (adapter == null) {
            return null;
        }
        PagedAdapter p = placed.get(adapter);
        if (p == null) {
            throw new IllegalArgumentException(adapter + " was not placed in this workspace");
        }
        return p;
    }

    /** The next {@code count} KV pages, as a block table. */
    public int[] blocks(int count) {
        if (nextKvPage + count > kvPages) {
            throw new IllegalStateException("workspace has " + kvPages + " KV pages, " + (kvPages - nextKvPage) + " left");
        }
        int[] table = new int[count];
        for (int i = 0; i < count; i++) {
            table[i] = nextKvPage++;
        }
        return table;
    }

    @Override
    public void close() {
        arena.close();
    }
}
