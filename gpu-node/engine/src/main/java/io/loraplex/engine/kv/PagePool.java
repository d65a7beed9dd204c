package io.loraplex.engine.kv;

/**
 * Hands out the page ids of an arena. One pool serves the KV cache and the adapter pool, so both
 * draw on one budget; it counts what each holds. Not thread-safe: the engine's step loop owns it.
 */
public final class PagePool {

    /** What a page is used for. */
    public enum Use { KV, ADAPTER }

    private final int total;
    private final int[] free; // stack of free page ids
    private int freeCount;
    private final int[] used = new int[Use.values().length];

    public PagePool(int total) {
        if (total < 1) {
            throw new IllegalArgumentException("a page pool needs at least one page");
        }
        this.total = total;
        this.free = new int[total];
        for (int i = 0; i < total; i++) {
            free[i] = total - 1 - i; // page 0 first
        }
        this.freeCount = total;
    }

    public int total() {
        return total;
    }

    public int free() {
        return freeCount;
    }

    public int used(Use use) {
        return used[use.ordinal()];
    }

    /** A free page, or -1 when none is left. */
    public int allocate(Use use) {
        if (freeCount == 0) {
            return -1;
        }
        used[use.ordinal()]++;
        return free[--freeCount];
    }

    public void release(int page, Use use) {
        if (page < 0 || page >= total) {
            throw new IllegalArgumentException("page " + page + " is not in this pool of " + total);
        }
        if (used[use.ordinal()] == 0 || freeCount == total) {
            throw new IllegalStateException("releasing page " + page + " as " + use + " but none is in use");
        }
        used[use.ordinal()]--;
        free[freeCount++] = page;
    }
}
