package io.loraplex.engine.kv;

/** A page arena in one host array, for the CPU backends. */
public final class HostArena implements PageArena {

    private final ArenaLayout layout;
    private final int pages;
    public final float[] data; // (pages, pageFloats)

    public HostArena(ArenaLayout layout, int pages) {
        long floats = (long) pages * layout.pageFloats();
        if (floats > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException(pages + " pages of " + layout.pageFloats()
                    + " floats exceed one host array (2^31 floats, 8 GiB); lower the memory budget");
        }
        this.layout = layout;
        this.pages = pages;
        this.data = new float[(int) floats];
    }

    @Override
    public ArenaLayout layout() {
        return layout;
    }

    @Override
    public int pages() {
        return pages;
    }

    /** Offset in {@link #data} of {@code position} of a sequence with block table {@code table}. */
    public int keyOffset(int[] table, int layer, int position) {
        int slot = position % layout.blockSize();
        return table[position / layout.blockSize()] * layout.pageFloats() + layout.keyOffset(layer, slot);
    }

    public int valueOffset(int[] table, int layer, int position) {
        int slot = position % layout.blockSize();
        return table[position / layout.blockSize()] * layout.pageFloats() + layout.valueOffset(layer, slot);
    }

    @Override
    public void write(int page, int offset, float[] src, int srcOff, int len) {
        System.arraycopy(src, srcOff, data, page * layout.pageFloats() + offset, len);
    }

    @Override
    public void read(int page, int offset, float[] dst, int dstOff, int len) {
        System.arraycopy(data, page * layout.pageFloats() + offset, dst, dstOff, len);
    }
}
