package io.loraplex.engine.backend.cuda;

import static io.loraplex.engine.backend.cuda.HostKernelFixture.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.kernels.Kernels;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * paged_attention.cu (decode and prefill) and kv_store.cu on the host, against a naive softmax per
 * row that finds keys and values through {@link ArenaLayout}'s offsets: GQA (4 query heads over 2 KV
 * heads), a head of 72 (more pairs than a warp has lanes), blocks of 4 positions on shuffled pages
 * longer than a KV block, layer 1 of 2, with and without a sliding window. The rows come from a real
 * {@link ForwardBatch} through {@link AttentionTables}.
 */
class HostKernelAttentionTest {

    private static final int NH = 4;
    private static final int NKV = 2;
    private static final int HS = 72;
    private static final int LAYERS = 2;
    private static final int LAYER = 1;
    private static final int P = 4;
    private static final int KV_DIM = NKV * HS;
    private static final ArenaLayout LAYOUT = new ArenaLayout(P, LAYERS, KV_DIM, 2 * LAYERS * P * KV_DIM + 10);
    private static final int PAGES = 40;
    private static final float SCALE = (float) (1 / Math.sqrt(HS));

    /**
     * A step of three sequences: 0 prefills positions 0..44 (three tiles of 16), 1 prefills 3..6 after
     * a cached prefix, 2 decodes position 20.
     */
    private static ForwardBatch batch() {
        List<Integer> pages = new ArrayList<>(IntStream.range(0, PAGES).boxed().toList());
        Collections.shuffle(pages, new java.util.Random(7));
        int[][] tables = {
                pages.subList(0, 12).stream().mapToInt(Integer::intValue).toArray(),
                pages.subList(12, 15).stream().mapToInt(Integer::intValue).toArray(), // one more than it reads
                pages.subList(15, 21).stream().mapToInt(Integer::intValue).toArray()};
        List<int[]> rows = new ArrayList<>(); // (sequence, position)
        for (int j = 0; j < 45; j++) {
            rows.add(new int[] {0, j});
        }
        for (int j = 3; j < 7; j++) {
            rows.add(new int[] {1, j});
        }
        rows.add(new int[] {2, 20});
        int t = rows.size();
        int[] sequence = rows.stream().mapToInt(r -> r[0]).toArray();
        int[] positions = rows.stream().mapToInt(r -> r[1]).toArray();
        int[] none = new int[t];
        java.util.Arrays.fill(none, ForwardBatch.NO_ADAPTER);
        return new ForwardBatch(new int[t], positions, sequence, tables, none, new PagedAdapter[0], new int[] {t - 1});
    }

    /** The naive softmax of one row and head: keys and values found through ArenaLayout's offsets. */
    private static double[] naive(float[] kv, float[] q, int qAt, int[] table, int n, int head, int window) {
        int g = head / (NH / NKV);
        int first = window > 0 ? Math.max(0, n - window) : 0;
        double[] scores = new double[n];
        double max = Double.NEGATIVE_INFINITY;
        for (int j = first; j < n; j++) {
            int key = table[j / P] * LAYOUT.pageFloats() + LAYOUT.keyOffset(LAYER, j % P) + g * HS;
            double dot = 0;
            for (int i = 0; i < HS; i++) {
                dot += (double) q[qAt + i] * kv[key + i];
            }
            scores[j] = dot * SCALE;
            max = Math.max(max, scores[j]);
        }
        double sum = 0;
        for (int j = first; j < n; j++) {
            sum += Math.exp(scores[j] - max);
        }
        double[] out = new double[HS];
        for (int j = first; j < n; j++) {
            int value = table[j / P] * LAYOUT.pageFloats() + LAYOUT.valueOffset(LAYER, j % P) + g * HS;
            for (int i = 0; i < HS; i++) {
                out[i] += Math.exp(scores[j] - max) / sum * kv[value + i];
            }
        }
        return out;
    }

    private record Setup(ForwardBatch batch, AttentionTables tables, float[] kv, float[] q, long kvAt, long qAt,
            long blockTables, long contextLens) {
    }

    private static Setup setup(HostKernelFixture f) {
        ForwardBatch batch = batch();
        AttentionTables at = AttentionTables.of(batch, LAYOUT);
        float[] kv = f.randomBf16(PAGES * LAYOUT.pageFloats(), 1);
        float[] q = f.randomBf16(at.numRows() * NH * HS, 3); // scores of a few units: a peaked softmax
        return new Setup(batch, at, kv, q, f.bf16(kv), f.bf16(q), f.i32(at.blockTables()), f.i32(at.contextLens()));
    }

    private static void checkAgainstNaive(String what, Setup s, float[] got, int window) {
        int t = s.tables.numRows();
        for (int row = 0; row < t; row++) {
            int[] table = java.util.Arrays.copyOfRange(s.tables.blockTables(), row * s.tables.maxBlocks(),
                    (row + 1) * s.tables.maxBlocks());
            for (int h = 0; h < NH; h++) {
                double[] want = naive(s.kv, s.q, (row * NH + h) * HS, table, s.tables.contextLens()[row], h, window);
                float[] head = java.util.Arrays.copyOfRange(got, (row * NH + h) * HS, (row * NH + h + 1) * HS);
                assertClose(what + " row " + row + " head " + h, want, head, 0x1p-8 + 1e-4);
            }
        }
    }

    private static float[] decode(HostKernelFixture f, Setup s, int window) {
        int t = s.tables.numRows();
        long out = f.bf16(new float[t * NH * HS]);
        f.launch(Kernels.PAGED_ATTENTION_DECODE, LaunchShape.of(NH, t, 128), out, s.qAt, s.kvAt, s.blockTables,
                s.contextLens, t, NH, NKV, HS, LAYER, P, LAYOUT.pageFloats(), s.tables.maxBlocks(), window, SCALE, NH * HS,
                NH * HS);
        return f.readBf16(out, t * NH * HS);
    }

    private static float[] prefill(HostKernelFixture f, Setup s, int[] tiles, int window) {
        int t = s.tables.numRows();
        long out = f.bf16(new float[t * NH * HS]);
        f.launch(Kernels.PAGED_ATTENTION_PREFILL, LaunchShape.of(NH, tiles.length - 1, 128), out, s.qAt, s.kvAt,
                s.blockTables, s.contextLens, f.i32(tiles), tiles.length - 1, NH, NKV, HS, LAYER, P, LAYOUT.pageFloats(),
                s.tables.maxBlocks(), window, SCALE, NH * HS, NH * HS);
        return f.readBf16(out, t * NH * HS);
    }

    @Test
    void decodeAttentionIsTheSoftmaxOfEachRowOverItsOwnContextWithGqaAndWindow() {
        for (int window : new int[] {0, 5}) {
            try (HostKernelFixture f = new HostKernelFixture(61 + window)) {
                Setup s = setup(f);
                checkAgainstNaive("decode window " + window, s, decode(f, s, window), window);
            }
        }
    }

    @Test
    void prefillTileAttentionGivesEachRowTheDecodeKernelsResult() {
        for (int window : new int[] {0, 5, 40}) {
            try (HostKernelFixture f = new HostKernelFixture(71 + window)) {
                Setup s = setup(f);
                int[] tiles = s.tables.prefillTiles(s.batch, Kernels.PREFILL_TILE_ROWS);
                float[] got = prefill(f, s, tiles, window);
                checkAgainstNaive("prefill window " + window, s, got, window);
                float[] byDecode = decode(f, s, window);
                for (int i = 0; i < got.length; i++) {
                    assertEquals(byDecode[i], got[i], 0x1p-7 * Math.abs(byDecode[i]) + 1e-4, "element " + i);
                }
            }
        }
    }

    @Test
    void prefillTilesAreRunsOfAtMostMaxRowsOfOneSequenceAtConsecutivePositions() {
        ForwardBatch batch = batch();
        AttentionTables at = AttentionTables.of(batch, LAYOUT);
        assertArrayEquals(new int[] {0, 16, 32, 45, 49, 50}, at.prefillTiles(batch, 16));
        assertArrayEquals(new int[] {0, 10, 20, 30, 40, 45, 49, 50}, at.prefillTiles(batch, 10));
        // a gap in positions starts a new tile even within one sequence
        ForwardBatch gap = new ForwardBatch(new int[4], new int[] {0, 1, 5, 6}, new int[] {0, 0, 0, 0},
                new int[][] {{0, 1}}, new int[] {-1, -1, -1, -1}, new PagedAdapter[0], new int[] {3});
        assertArrayEquals(new int[] {0, 2, 4}, AttentionTables.of(gap, LAYOUT).prefillTiles(gap, 16));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> at.prefillTiles(batch, 17));
        assertEquals("maxRows 17 outside 1..16 (the prefill kernel's TILE_ROWS)", e.getMessage());
    }

    @Test
    void attentionLaunchesThatCoverTooLittleOrTilesTheKernelCannotTakeAreRefused() {
        try (HostKernelFixture f = new HostKernelFixture(81)) {
            Setup s = setup(f);
            int t = s.tables.numRows();
            long out = f.bf16(new float[t * NH * HS]);
            Object[] decodeArgs = {out, s.qAt, s.kvAt, s.blockTables, s.contextLens, t, NH, NKV, HS, LAYER, P,
                    LAYOUT.pageFloats(), s.tables.maxBlocks(), 0, SCALE, NH * HS, NH * HS};
            f.assertRefused("loraplex_paged_attention_decode: grid.y 49 < num_seqs 50", Kernels.PAGED_ATTENTION_DECODE,
                    LaunchShape.of(NH, t - 1, 128), decodeArgs);
            f.assertRefused("loraplex_paged_attention_decode: grid.x 3 < num_heads 4", Kernels.PAGED_ATTENTION_DECODE,
                    LaunchShape.of(NH - 1, t, 128), decodeArgs);
            f.assertRefused("loraplex_paged_attention_decode: block of 256 threads, the kernel needs 128",
                    Kernels.PAGED_ATTENTION_DECODE, LaunchShape.of(NH, t, 256), decodeArgs);
            int[][] cases = {
                    {0, 16, 32, 45, 49, 50}, // fine, but launched one tile short below
                    {0, 17, 32, 45, 49, 50}, // 17 rows
                    {0, 16, 32, 47, 49, 50}, // rows of sequences 0 and 1 together
            };
            String[] refusals = {
                    "loraplex_paged_attention_prefill: grid.y 4 < num_tiles 5",
                    "loraplex_paged_attention_prefill: tile 0 has 17 rows, not 1..16",
                    "loraplex_paged_attention_prefill: tile 2 row 45 has context length 4 after 45: a tile's rows must be "
                            + "consecutive positions of one sequence"};
            for (int i = 0; i < cases.length; i++) {
                int tiles = cases[i].length - 1;
                f.assertRefused(refusals[i], Kernels.PAGED_ATTENTION_PREFILL,
                        LaunchShape.of(NH, i == 0 ? tiles - 1 : tiles, 128), out, s.qAt, s.kvAt, s.blockTables,
                        s.contextLens, f.i32(cases[i]), tiles, NH, NKV, HS, LAYER, P, LAYOUT.pageFloats(),
                        s.tables.maxBlocks(), 0, SCALE, NH * HS, NH * HS);
            }
        }
    }

    @Test
    void kvStoreWritesEachTokensKeyAndValueWhereArenaLayoutPutsItsPosition() {
        try (HostKernelFixture f = new HostKernelFixture(91)) {
            ForwardBatch batch = batch();
            AttentionTables at = AttentionTables.of(batch, LAYOUT);
            int t = at.numRows();
            int stride = NH * HS + 2 * KV_DIM; // k and v as slices of a fused qkv output
            float[] qkv = f.randomBf16(t * stride, 2);
            float[] before = f.randomBf16(PAGES * LAYOUT.pageFloats(), 1);
            long kv = f.bf16(before);
            long qkvAt = f.bf16(qkv);
            Object[] args = {kv, qkvAt + 2L * NH * HS, qkvAt + 2L * (NH * HS + KV_DIM), f.i32(at.blockTables()),
                    f.i32(batch.positions()), t, KV_DIM, LAYER, P, LAYOUT.pageFloats(), at.maxBlocks(), stride, stride};
            f.launch(Kernels.KV_STORE, LaunchShape.of(t, 1, 128), args);
            float[] after = f.readBf16(kv, before.length);
            float[] want = before.clone();
            for (int i = 0; i < t; i++) {
                int j = batch.positions()[i];
                int page = batch.blockTables()[batch.sequence()[i]][j / P];
                System.arraycopy(qkv, i * stride + NH * HS, want, page * LAYOUT.pageFloats() + LAYOUT.keyOffset(LAYER, j % P),
                        KV_DIM);
                System.arraycopy(qkv, i * stride + NH * HS + KV_DIM, want,
                        page * LAYOUT.pageFloats() + LAYOUT.valueOffset(LAYER, j % P), KV_DIM);
            }
            assertArrayEquals(want, after);
            f.assertRefused("loraplex_kv_store: grid.x 49 < num_tokens 50", Kernels.KV_STORE, LaunchShape.of(t - 1, 1, 128),
                    args);
        }
    }
}
