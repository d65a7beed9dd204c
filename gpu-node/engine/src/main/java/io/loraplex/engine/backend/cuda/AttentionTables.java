package io.loraplex.engine.backend.cuda;

import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.kernels.Kernels;

/**
 * The paged-attention tables of one step, as {@code paged_attention.cu} takes them. Every token is
 * one query row of the kernel: a decode token is its sequence's only row, and the tokens of a
 * prefill chunk are rows of the same block table with context lengths {@code position + 1}, which
 * is causal attention without a second kernel (the step writes all its keys before it attends).
 *
 * @param blockTables (T, maxBlocks) row stride {@code maxBlocks}: the page of each KV block of the
 *                    row's sequence that the row reads, {@link #NO_PAGE} after the last one
 * @param contextLens (T) positions the row attends to: its position + 1
 * @param maxBlocks   the row stride of {@code blockTables}, at least 1
 * @param pageElems   elements per arena page (the kernel's {@code page_elems})
 * @param blockSize   P, positions per KV block
 */
public record AttentionTables(int[] blockTables, int[] contextLens, int maxBlocks, int pageElems, int blockSize) {

    /** Padding after a row's last block; never read, and a bug that reads it fails loudly on the host. */
    public static final int NO_PAGE = -1;

    public int numRows() {
        return contextLens.length;
    }

    /**
     * {@code tile_starts} of {@code paged_attention.cu}'s prefill form for these rows: (tiles + 1) row
     * indices, tile i being rows {@code [starts[i], starts[i + 1])}. A tile is a run of at most
     * {@code maxRows} rows of one sequence at consecutive positions (what lets the kernel read every
     * row's keys through the last row's block table); a decode token is a tile of its own.
     *
     * @param batch   the step these tables were built from
     * @param maxRows rows per tile at most, 1..{@link Kernels#PREFILL_TILE_ROWS}
     */
    public int[] prefillTiles(ForwardBatch batch, int maxRows) {
        if (maxRows < 1 || maxRows > Kernels.PREFILL_TILE_ROWS) {
            throw new IllegalArgumentException("maxRows " + maxRows + " outside 1.." + Kernels.PREFILL_TILE_ROWS
                    + " (the prefill kernel's TILE_ROWS)");
        }
        int t = numRows();
        if (batch.numTokens() != t) {
            throw new IllegalArgumentException("batch has " + batch.numTokens() + " tokens, these tables " + t + " rows");
        }
        int[] starts = new int[t + 1];
        int tiles = 0;
        for (int i = 0; i < t; i++) {
            boolean continues = i > 0 && i - starts[tiles - 1] < maxRows
                    && batch.sequence()[i] == batch.sequence()[i - 1]
                    && batch.positions()[i] == batch.positions()[i - 1] + 1;
            if (!continues) {
                starts[tiles++] = i;
            }
        }
        starts[tiles] = t;
        return java.util.Arrays.copyOf(starts, tiles + 1);
    }

    /** The tables of {@code batch} over an arena of {@code layout}. */
    public static AttentionTables of(ForwardBatch batch, ArenaLayout layout) {
        int p = layout.blockSize();
        int t = batch.numTokens();
        int[] contextLens = new int[t];
        int maxBlocks = 1;
        for (int i = 0; i < t; i++) {
            int position = batch.positions()[i];
            int[] table = batch.blockTables()[batch.sequence()[i]];
            int blocks = position / p + 1;
            if (blocks > table.length) {
                throw new IllegalArgumentException("token " + i + " at position " + position + " of sequence "
                        + batch.sequence()[i] + " needs " + blocks + " KV blocks of " + p + " positions; its block table has "
                        + table.length);
            }
            contextLens[i] = position + 1;
            maxBlocks = Math.max(maxBlocks, blocks);
        }
        int[] blockTables = new int[t * maxBlocks];
        java.util.Arrays.fill(blockTables, NO_PAGE);
        for (int i = 0; i < t; i++) {
            int[] table = batch.blockTables()[batch.sequence()[i]];
            // only the blocks this row reads: the sequence's table may already hold pages for later positions
            System.arraycopy(table, 0, blockTables, i * maxBlocks, (contextLens[i] - 1) / p + 1);
        }
        return new AttentionTables(blockTables, contextLens, maxBlocks, layout.pageFloats(), p);
    }
}
