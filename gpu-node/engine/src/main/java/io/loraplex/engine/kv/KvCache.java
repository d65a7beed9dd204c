package io.loraplex.engine.kv;

/**
 * Storage for keys and values of {@code numBlocks} blocks of {@code blockSize} positions, for every
 * layer. Backends own their storage (host arrays, device memory); the block allocator and the
 * block tables are the same for all of them.
 */
public interface KvCache extends AutoCloseable {

    int numBlocks();

    /** Positions per block, {@code P}. */
    int blockSize();

    /** Bytes one block takes across all layers (K and V). */
    long bytesPerBlock();

    /** Copies block {@code src} to block {@code dst} in every layer (copy-on-write of shared prefixes). */
    void copyBlock(int src, int dst);

    @Override
    default void close() {
    }
}
