package io.loraplex.engine.kv;

/**
 * A KV cache in host arrays, for the CPU backends. Per layer, K and V are laid out as
 * {@code (block, P, NKV, HS)} so one position's heads are contiguous.
 */
public final class HostKvCache implements KvCache {

    private final int numLayers;
    private final int numBlocks;
    private final int blockSize;  // P
    private final int kvDim;      // NKV·HS
    public final float[][] keys;   // (L) (numBlocks·P·NKV·HS)
    public final float[][] values; // (L) (numBlocks·P·NKV·HS)

    public HostKvCache(int numLayers, int numBlocks, int blockSize, int numKvHeads, int headDim) {
        long perLayer = (long) numBlocks * blockSize * numKvHeads * headDim;
        if (perLayer > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("KV cache of " + numBlocks + " blocks of " + blockSize
                    + " positions is too large for host arrays; use fewer blocks");
        }
        this.numLayers = numLayers;
        this.numBlocks = numBlocks;
        this.blockSize = blockSize;
        this.kvDim = numKvHeads * headDim;
        this.keys = new float[numLayers][(int) perLayer];
        this.values = new float[numLayers][(int) perLayer];
    }

    @Override
    public int numBlocks() {
        return numBlocks;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public long bytesPerBlock() {
        return 2L * numLayers * blockSize * kvDim * Float.BYTES;
    }

    /** Offset of {@code position} of a sequence with block table {@code table} in a layer's array. */
    public int offset(int[] table, int position) {
        return (table[position / blockSize] * blockSize + position % blockSize) * kvDim;
    }

    @Override
    public void copyBlock(int src, int dst) {
        int len = blockSize * kvDim;
        for (int l = 0; l < numLayers; l++) {
            System.arraycopy(keys[l], src * len, keys[l], dst * len, len);
            System.arraycopy(values[l], src * len, values[l], dst * len, len);
        }
    }

    /** Bytes a cache of these dimensions takes per block, for budgeting before allocating. */
    public static long bytesPerBlock(int numLayers, int blockSize, int numKvHeads, int headDim) {
        return 2L * numLayers * blockSize * numKvHeads * headDim * Float.BYTES;
    }
}
