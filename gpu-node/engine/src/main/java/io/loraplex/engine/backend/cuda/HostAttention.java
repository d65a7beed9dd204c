package io.loraplex.engine.backend.cuda;

import static io.loraplex.engine.backend.cuda.HostLaunch.blockIs;
import static io.loraplex.engine.backend.cuda.HostLaunch.count;
import static io.loraplex.engine.backend.cuda.HostLaunch.covers;
import static io.loraplex.engine.backend.cuda.HostLaunch.pointer;
import static io.loraplex.engine.backend.cuda.HostReductions.WARP;

import io.loraplex.engine.backend.cuda.HostBuffers.Bf16;
import io.loraplex.engine.backend.cuda.HostBuffers.I32s;
import io.loraplex.kernels.Kernels;
import java.util.Arrays;

/**
 * paged_attention.cu (decode and prefill) and kv_store.cu on the host. The arena address of key or
 * value {@code j} of layer l is {@code table[j / P]·page_elems + ((2l + kv)·P + j % P)·kv_dim}; a
 * table entry that is not a page ({@link AttentionTables#NO_PAGE}) fails naming the row and position.
 * The softmax follows each kernel's order: decode's 4 warps each keep an online softmax over every
 * 4th position and are merged; prefill takes 32 positions a chunk per row.
 */
final class HostAttention {

    private static final int WARPS = 4; // paged_attention.cu's WARPS: its shared arrays are sized for them
    private static final int CHUNK = WARP;

    private HostAttention() {
    }

    /** The arguments both attention kernels share, checked once. */
    private record Shape(String kernel, int heads, int kvHeads, int headDim, int layer, int blockSize, int pageElems,
            int maxBlocks, int window, float scale, int qStride, int outStride) {

        static Shape of(String k, HostKernel.Args args) {
            int heads = count(k, args, "num_heads");
            int kvHeads = count(k, args, "num_kv_heads");
            int headDim = count(k, args, "head_dim");
            if (kvHeads == 0 || heads % kvHeads != 0) {
                throw new IllegalArgumentException(k + ": num_heads " + heads + " is not a multiple of num_kv_heads " + kvHeads);
            }
            if (headDim % 2 != 0 || headDim > Kernels.MAX_HEAD_DIM) {
                throw new IllegalArgumentException(k + ": head_dim " + headDim + " must be even and at most "
                        + Kernels.MAX_HEAD_DIM);
            }
            return new Shape(k, heads, kvHeads, headDim, count(k, args, "layer"), HostLaunch.within(k, args, "block_size", 1,
                    Integer.MAX_VALUE), count(k, args, "page_elems"), count(k, args, "max_blocks"), args.i32("window"),
                    args.f32("scale"), args.i32("q_stride"), args.i32("out_stride"));
        }

        int kvDim() {
            return kvHeads * headDim;
        }
    }

    /** Element offset in the arena of layer {@code l}'s key (kv 0) or value (kv 1) at position j, head g. */
    private static long kvAt(String k, I32s tables, int row, int maxBlocks, int blockSize, int pageElems, int layer,
            int kvDim, int kv, int j, int g, int headDim) {
        int page = tables.get((long) row * maxBlocks + j / blockSize);
        if (page < 0) {
            throw new IllegalArgumentException(k + ": row " + row + " reads position " + j + " through block table entry "
                    + page + ", not a page");
        }
        return (long) page * pageElems + ((long) (2 * layer + kv) * blockSize + j % blockSize) * kvDim + (long) g * headDim;
    }

    /** One query row per sequence over its paged keys and values (grid (NH, B), block 128). */
    static void decode(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_paged_attention_decode";
        blockIs(k, shape, WARPS * WARP);
        int seqs = count(k, args, "num_seqs");
        Shape s = Shape.of(k, args);
        covers(k, "grid.x", shape.gridX(), "num_heads", s.heads);
        covers(k, "grid.y", shape.gridY(), "num_seqs", seqs);
        if (seqs == 0 || s.heads == 0) {
            return;
        }
        Bf16 out = Bf16.at(memory, pointer(k, args, "out"));
        Bf16 q = Bf16.at(memory, pointer(k, args, "q"));
        Bf16 kv = Bf16.at(memory, pointer(k, args, "kv"));
        I32s tables = I32s.at(memory, pointer(k, args, "block_tables"));
        I32s contextLens = I32s.at(memory, pointer(k, args, "context_lens"));
        int pairs = s.headDim / 2;
        int group = s.heads / s.kvHeads;
        float[] lanes = new float[WARP];
        float[] warpMax = new float[WARPS];
        float[] warpTotal = new float[WARPS];
        float[][] warpAcc = new float[WARPS][s.headDim];
        for (int b = 0; b < seqs; b++) {
            int n = contextLens.get(b);
            int first = s.window > 0 ? Math.max(0, n - s.window) : 0;
            for (int head = 0; head < s.heads; head++) {
                int g = head / group;
                long qAt = (long) b * s.qStride + (long) head * s.headDim;
                for (int w = 0; w < WARPS; w++) {
                    float runningMax = Float.NEGATIVE_INFINITY;
                    float total = 0.0f;
                    float[] acc = warpAcc[w];
                    Arrays.fill(acc, 0.0f);
                    for (int j = first + w; j < n; j += WARPS) {
                        long key = kvAt(k, tables, b, s.maxBlocks, s.blockSize, s.pageElems, s.layer, s.kvDim(), 0, j, g, s.headDim);
                        long value = kvAt(k, tables, b, s.maxBlocks, s.blockSize, s.pageElems, s.layer, s.kvDim(), 1, j, g, s.headDim);
                        Arrays.fill(lanes, 0.0f);
                        for (int p = 0; p < pairs; p++) { // lane p % 32 holds pair p
                            int lane = p % WARP;
                            lanes[lane] = Math.fma(q.get(qAt + 2L * p), kv.get(key + 2L * p), lanes[lane]);
                            lanes[lane] = Math.fma(q.get(qAt + 2L * p + 1), kv.get(key + 2L * p + 1), lanes[lane]);
                        }
                        float score = HostReductions.warpSum(lanes) * s.scale;
                        float newMax = Math.max(runningMax, score);
                        float rescale = (float) Math.exp(runningMax - newMax);
                        float weight = (float) Math.exp(score - newMax);
                        total = Math.fma(total, rescale, weight);
                        for (int e = 0; e < s.headDim; e++) {
                            acc[e] = Math.fma(acc[e], rescale, weight * kv.get(value + e));
                        }
                        runningMax = newMax;
                    }
                    warpMax[w] = runningMax;
                    warpTotal[w] = total;
                }
                float commonMax = Float.NEGATIVE_INFINITY;
                for (float m : warpMax) {
                    commonMax = Math.max(commonMax, m);
                }
                long oAt = (long) b * s.outStride + (long) head * s.headDim;
                for (int e = 0; e < s.headDim; e++) {
                    float numerator = 0.0f;
                    float denominator = 0.0f;
                    for (int w = 0; w < WARPS; w++) {
                        if (warpMax[w] != Float.NEGATIVE_INFINITY) {
                            float f = (float) Math.exp(warpMax[w] - commonMax);
                            numerator = Math.fma(warpAcc[w][e], f, numerator);
                            denominator = Math.fma(warpTotal[w], f, denominator);
                        }
                    }
                    out.put(oAt + e, denominator > 0.0f ? numerator / denominator : 0.0f);
                }
            }
        }
    }

    /** The decode kernel's rows, a tile of one sequence's consecutive rows per block (grid (NH, num_tiles), block 128). */
    static void prefill(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_paged_attention_prefill";
        blockIs(k, shape, WARPS * WARP);
        int tiles = count(k, args, "num_tiles");
        Shape s = Shape.of(k, args);
        covers(k, "grid.x", shape.gridX(), "num_heads", s.heads);
        covers(k, "grid.y", shape.gridY(), "num_tiles", tiles);
        if (tiles == 0 || s.heads == 0) {
            return;
        }
        Bf16 out = Bf16.at(memory, pointer(k, args, "out"));
        Bf16 q = Bf16.at(memory, pointer(k, args, "q"));
        Bf16 kv = Bf16.at(memory, pointer(k, args, "kv"));
        I32s tables = I32s.at(memory, pointer(k, args, "block_tables"));
        I32s contextLens = I32s.at(memory, pointer(k, args, "context_lens"));
        I32s tileStarts = I32s.at(memory, pointer(k, args, "tile_starts"));
        int pairs = s.headDim / 2;
        int group = s.heads / s.kvHeads;
        float[] scores = new float[CHUNK];
        float[] weights = new float[CHUNK];
        float[] acc = new float[s.headDim];
        for (int tile = 0; tile < tiles; tile++) {
            int row0 = tileStarts.get(tile);
            int rows = tileStarts.get(tile + 1) - row0;
            int last = row0 + rows - 1;
            checkTile(k, s, tables, contextLens, tile, row0, rows);
            int end = contextLens.get(last);
            int start = end;
            for (int r = 0; r < rows; r++) {
                int n = contextLens.get(row0 + r);
                start = Math.min(start, s.window > 0 ? Math.max(0, n - s.window) : 0);
            }
            for (int head = 0; head < s.heads; head++) {
                int g = head / group;
                for (int r = 0; r < rows; r++) {
                    int n = contextLens.get(row0 + r);
                    int first = s.window > 0 ? Math.max(0, n - s.window) : 0;
                    long qAt = (long) (row0 + r) * s.qStride + (long) head * s.headDim;
                    float runningMax = Float.NEGATIVE_INFINITY;
                    float total = 0.0f;
                    Arrays.fill(acc, 0.0f);
                    for (int j0 = start; j0 < end; j0 += CHUNK) {
                        int count = Math.min(CHUNK, end - j0);
                        float chunkMax = Float.NEGATIVE_INFINITY;
                        for (int lane = 0; lane < CHUNK; lane++) {
                            int j = j0 + lane;
                            scores[lane] = Float.NEGATIVE_INFINITY;
                            if (lane < count && j >= first && j < n) {
                                // through the LAST row's table, as the kernel reads it
                                long key = kvAt(k, tables, last, s.maxBlocks, s.blockSize, s.pageElems, s.layer, s.kvDim(), 0, j, g,
                                        s.headDim);
                                float dot = 0.0f;
                                for (int e = 0; e < 2 * pairs; e++) {
                                    dot = Math.fma(q.get(qAt + e), kv.get(key + e), dot);
                                }
                                scores[lane] = dot * s.scale;
                            }
                            chunkMax = Math.max(chunkMax, scores[lane]);
                        }
                        if (chunkMax == Float.NEGATIVE_INFINITY) {
                            continue;
                        }
                        float newMax = Math.max(runningMax, chunkMax);
                        float rescale = (float) Math.exp(runningMax - newMax);
                        for (int lane = 0; lane < CHUNK; lane++) {
                            weights[lane] = scores[lane] == Float.NEGATIVE_INFINITY ? 0.0f : (float) Math.exp(scores[lane] - newMax);
                        }
                        total = Math.fma(total, rescale, HostReductions.warpSum(weights));
                        runningMax = newMax;
                        for (int e = 0; e < s.headDim; e++) {
                            acc[e] *= rescale;
                        }
                        for (int jj = 0; jj < count; jj++) {
                            long value = kvAt(k, tables, last, s.maxBlocks, s.blockSize, s.pageElems, s.layer, s.kvDim(), 1, j0 + jj,
                                    g, s.headDim);
                            for (int e = 0; e < s.headDim; e++) {
                                acc[e] = Math.fma(weights[jj], kv.get(value + e), acc[e]);
                            }
                        }
                    }
                    long oAt = (long) (row0 + r) * s.outStride + (long) head * s.headDim;
                    for (int e = 0; e < s.headDim; e++) {
                        out.put(oAt + e, total > 0.0f ? acc[e] / total : 0.0f);
                    }
                }
            }
        }
    }

    /**
     * A tile is what the kernel assumes: 1..TILE_ROWS rows at consecutive positions, each reading the
     * same pages as the last row (whose table the kernel uses for all), i.e. rows of one sequence.
     */
    private static void checkTile(String k, Shape s, I32s tables, I32s contextLens, int tile, int row0, int rows) {
        if (rows < 1 || rows > Kernels.PREFILL_TILE_ROWS) {
            throw new IllegalArgumentException(k + ": tile " + tile + " has " + rows + " rows, not 1.."
                    + Kernels.PREFILL_TILE_ROWS);
        }
        int last = row0 + rows - 1;
        for (int r = 1; r < rows; r++) {
            if (contextLens.get(row0 + r) != contextLens.get(row0 + r - 1) + 1) {
                throw new IllegalArgumentException(k + ": tile " + tile + " row " + (row0 + r) + " has context length "
                        + contextLens.get(row0 + r) + " after " + contextLens.get(row0 + r - 1)
                        + ": a tile's rows must be consecutive positions of one sequence");
            }
        }
        for (int r = 0; r < rows - 1; r++) {
            int blocks = (contextLens.get(row0 + r) - 1) / s.blockSize + 1;
            for (int b = 0; b < blocks && contextLens.get(row0 + r) > 0; b++) {
                if (tables.get((long) (row0 + r) * s.maxBlocks + b) != tables.get((long) last * s.maxBlocks + b)) {
                    throw new IllegalArgumentException(k + ": tile " + tile + " row " + (row0 + r) + " reads page "
                            + tables.get((long) (row0 + r) * s.maxBlocks + b) + " as block " + b + ", its last row page "
                            + tables.get((long) last * s.maxBlocks + b) + ": a tile's rows must be of one sequence");
                }
            }
        }
    }

    /** Token t's key and value rows to its block at positions[t] (grid (T)). */
    static void kvStore(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_kv_store";
        int tokens = count(k, args, "num_tokens");
        covers(k, "grid.x", shape.gridX(), "num_tokens", tokens);
        int kvDim = count(k, args, "kv_dim");
        int layer = count(k, args, "layer");
        int blockSize = HostLaunch.within(k, args, "block_size", 1, Integer.MAX_VALUE);
        int pageElems = count(k, args, "page_elems");
        int maxBlocks = count(k, args, "max_blocks");
        if (tokens == 0 || kvDim == 0) {
            return;
        }
        Bf16 kv = Bf16.at(memory, pointer(k, args, "kv"));
        Bf16 key = Bf16.at(memory, pointer(k, args, "k"));
        Bf16 value = Bf16.at(memory, pointer(k, args, "v"));
        I32s tables = I32s.at(memory, pointer(k, args, "block_tables"));
        I32s positions = I32s.at(memory, pointer(k, args, "positions"));
        int kStride = args.i32("k_stride");
        int vStride = args.i32("v_stride");
        for (int t = 0; t < tokens; t++) {
            int j = positions.get(t);
            long keyAt = kvAt(k, tables, t, maxBlocks, blockSize, pageElems, layer, kvDim, 0, j, 0, 0);
            long valueAt = kvAt(k, tables, t, maxBlocks, blockSize, pageElems, layer, kvDim, 1, j, 0, 0);
            for (int i = 0; i < kvDim; i++) {
                kv.putBits(keyAt + i, key.bits((long) t * kStride + i));
                kv.putBits(valueAt + i, value.bits((long) t * vStride + i));
            }
        }
    }
}
