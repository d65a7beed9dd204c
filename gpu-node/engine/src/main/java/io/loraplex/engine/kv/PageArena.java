package io.loraplex.engine.kv;

/**
 * The storage of {@code pages} pages of one {@link ArenaLayout}, owned by a backend (host arrays,
 * device memory). Page ids are handed out by a {@link PagePool}; the arena only stores.
 */
public interface PageArena extends AutoCloseable {

    ArenaLayout layout();

    int pages();

    /** Copies {@code len} floats from {@code src[srcOff…]} to page {@code page} at {@code offset}. */
    void write(int page, int offset, float[] src, int srcOff, int len);

    /** Reads {@code len} floats of page {@code page} at {@code offset} into {@code dst[dstOff…]}. */
    void read(int page, int offset, float[] dst, int dstOff, int len);

    @Override
    default void close() {
    }
}
