package io.loraplex.engine.kv;

import io.loraplex.engine.model.ModelConfig;

/**
 * The shape of a page arena. One page holds one KV block: for each layer, the keys then the values
 * of {@code blockSize} positions, {@code (L, 2, P, NKV·HS)}. Adapter weights fill the same pages
 * row by row.
 *
 * @param pageFloats floats per page: the KV block, or more when an adapter row would not fit
 */
public record ArenaLayout(int blockSize, int numLayers, int kvDim, int pageFloats) {

    public ArenaLayout {
        if (blockSize < 1 || numLayers < 1 || kvDim < 1) {
            throw new IllegalArgumentException("block size, layers and KV width must be positive");
        }
        if (pageFloats < kvBlockFloats(blockSize, numLayers, kvDim)) {
            throw new IllegalArgumentException("a page of " + pageFloats + " floats cannot hold a KV block of "
                    + kvBlockFloats(blockSize, numLayers, kvDim));
        }
    }

    /** The layout for a model: pages sized to a KV block, or to the longest adapter row if longer. */
    public static ArenaLayout of(ModelConfig cfg, int blockSize) {
        int kvBlock = kvBlockFloats(blockSize, cfg.numLayers(), cfg.kvDim());
        int longestRow = Math.max(Math.max(cfg.hiddenSize(), cfg.intermediateSize()), cfg.qDim());
        return new ArenaLayout(blockSize, cfg.numLayers(), cfg.kvDim(), Math.max(kvBlock, longestRow));
    }

    private static int kvBlockFloats(int blockSize, int numLayers, int kvDim) {
        long n = 2L * numLayers * blockSize * kvDim;
        if (n > Integer.MAX_VALUE / 2) {
            throw new IllegalArgumentException("KV block of " + n + " floats is too large; use a smaller block size");
        }
        return (int) n;
    }

    public long pageBytes() {
        return (long) pageFloats * Float.BYTES;
    }

    /** Offset within a page of the keys of one position in one layer. */
    public int keyOffset(int layer, int slot) {
        return (layer * 2 * blockSize + slot) * kvDim;
    }

    /** Offset within a page of the values of one position in one layer. */
    public int valueOffset(int layer, int slot) {
        return ((layer * 2 + 1) * blockSize + slot) * kvDim;
    }

    /** Pages a budget of {@code bytes} buys. */
    public int pagesFor(long bytes) {
        return (int) Math.min(Integer.MAX_VALUE, bytes / pageBytes());
    }
}
