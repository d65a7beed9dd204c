package io.loraplex.engine.backend.cuda;

import static io.loraplex.engine.backend.cuda.HostKernelFixture.bf16Tolerance;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraplex.kernels.Kernels;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * lora_shrink.cu and lora_expand.cu on the host, both forms, against direct A and B products: four
 * slots of ranks 3, 8, 0 (an adapter that does not adapt this module) and 16, tokens without adapter
 * (slot -1), rows scattered over the arena at odd and even offsets (both of the gathered shrink's
 * paths), strided x, y and shrunk.
 */
class HostKernelLoraTest {

    private static final int IN = 40;
    private static final int OUT = 24;
    private static final int[] RANKS = {3, 8, 0, 16};
    private static final int MAX_RANK = 16;
    private static final int X_STRIDE = IN + 4;
    private static final int Y_STRIDE = OUT + 6;
    private static final float UNTOUCHED = 777f;

    /** The adapters' rows in one bf16 arena, and the tables the kernels take. */
    private static final class Adapters {
        final float[] arena;
        final int[] rowStart = new int[RANKS.length];
        final long[] aRows;
        final long[] bRows;
        final float[] scales = {0.5f, 2f, 0f, 0.125f};

        Adapters(HostKernelFixture f) {
            int total = 0;
            for (int s = 0; s < RANKS.length; s++) {
                rowStart[s] = total;
                total += RANKS[s];
            }
            aRows = new long[total];
            bRows = new long[total];
            long at = 3; // rows start at odd and even element offsets
            for (int i = 0; i < total; i++) {
                aRows[i] = at;
                at += IN + f.random.nextInt(3);
                bRows[i] = at;
                at += OUT + f.random.nextInt(3);
            }
            arena = f.randomBf16((int) at + 8, 0.5);
        }

        double a(int slot, int r, int i) {
            return arena[(int) aRows[rowStart[slot] + r] + i];
        }

        double b(int slot, int r, int o) {
            return arena[(int) bRows[rowStart[slot] + r] + o];
        }
    }

    private record Run(float[] x, float[] y0, float[] shrunk, float[] y) {
    }

    /** Shrinks then expands with the gathered (slot per token) or segmented (slot per run) kernels. */
    private static Run run(HostKernelFixture f, Adapters ad, int[] slots, boolean segmented, int gridZ) {
        int t = slots.length;
        float[] x = f.randomBf16(t * X_STRIDE, 1);
        float[] y0 = f.randomBf16(t * Y_STRIDE, 1);
        float[] untouched = new float[t * MAX_RANK];
        java.util.Arrays.fill(untouched, UNTOUCHED);
        long arena = f.bf16(ad.arena);
        long xs = f.bf16(x);
        long ys = f.bf16(y0);
        long shrunk = f.f32(untouched);
        long ranks = f.i32(RANKS);
        long rowStart = f.i32(ad.rowStart);
        long scales = f.f32(ad.scales);
        int shrinkX = (MAX_RANK + 7) / 8;
        if (segmented) {
            List<Integer> starts = new ArrayList<>();
            List<Integer> segSlots = new ArrayList<>();
            for (int i = 0; i < t; i++) {
                if (i == 0 || slots[i] != slots[i - 1]) {
                    starts.add(i);
                    segSlots.add(slots[i]);
                }
            }
            starts.add(t);
            int g = segSlots.size();
            long segStarts = f.i32(starts.stream().mapToInt(Integer::intValue).toArray());
            long segSlotsAt = f.i32(segSlots.stream().mapToInt(Integer::intValue).toArray());
            f.launch(Kernels.LORA_SHRINK_SEGMENTED, LaunchShape.of(shrinkX, g, gridZ, 256), shrunk, xs, arena, segStarts,
                    segSlotsAt, ranks, rowStart, f.i64(ad.aRows), g, IN, X_STRIDE, MAX_RANK);
            f.launch(Kernels.LORA_EXPAND_SEGMENTED, LaunchShape.of(1, g, gridZ, 256), ys, shrunk, arena, segStarts,
                    segSlotsAt, ranks, rowStart, f.i64(ad.bRows), scales, g, OUT, Y_STRIDE, MAX_RANK);
        } else {
            long slotsAt = f.i32(slots);
            f.launch(Kernels.LORA_SHRINK_GATHERED, LaunchShape.of(shrinkX, t, 256), shrunk, xs, arena, slotsAt, ranks,
                    rowStart, f.i64(ad.aRows), t, IN, X_STRIDE, MAX_RANK);
            f.launch(Kernels.LORA_EXPAND_GATHERED, LaunchShape.of(1, t, 256), ys, shrunk, arena, slotsAt, ranks, rowStart,
                    f.i64(ad.bRows), scales, t, OUT, Y_STRIDE, MAX_RANK);
        }
        return new Run(x, y0, f.readF32(shrunk, t * MAX_RANK), f.readBf16(ys, t * Y_STRIDE));
    }

    /** Every shrunk value is x·A_s[r], every y is y0 + scale·Σ_r shrunk·B_s[:, r]; the rest is untouched. */
    private static void check(Adapters ad, int[] slots, Run run) {
        for (int t = 0; t < slots.length; t++) {
            int s = slots[t];
            int rank = s < 0 ? 0 : RANKS[s];
            double[] shrunk = new double[rank];
            for (int r = 0; r < MAX_RANK; r++) {
                float got = run.shrunk[t * MAX_RANK + r];
                if (r >= rank) {
                    assertEquals(UNTOUCHED, got, "token " + t + " (slot " + s + ") shrunk column " + r + " is written");
                    continue;
                }
                double sum = 0;
                double magnitude = 0;
                for (int i = 0; i < IN; i++) {
                    sum += ad.a(s, r, i) * run.x[t * X_STRIDE + i];
                    magnitude += Math.abs(ad.a(s, r, i) * run.x[t * X_STRIDE + i]);
                }
                assertEquals(sum, got, 1e-6 * magnitude + 1e-9, "token " + t + " shrunk " + r);
                shrunk[r] = sum;
            }
            for (int o = 0; o < Y_STRIDE; o++) {
                float y0 = run.y0[t * Y_STRIDE + o];
                float got = run.y[t * Y_STRIDE + o];
                if (rank == 0 || o >= OUT) {
                    assertEquals(y0, got, "token " + t + " (slot " + s + ") y " + o + " changed");
                    continue;
                }
                double delta = 0;
                for (int r = 0; r < rank; r++) {
                    delta += shrunk[r] * ad.b(s, r, o);
                }
                double want = y0 + ad.scales[s] * delta;
                assertEquals(want, got, bf16Tolerance(Math.abs(y0) + Math.abs(ad.scales[s] * delta)), "token " + t + " y " + o);
            }
        }
    }

    @Test
    void gatheredShrinkAndExpandGiveEachTokenItsOwnAdaptersDeltaAndLeaveBaseTokensAlone() {
        try (HostKernelFixture f = new HostKernelFixture(51)) {
            Adapters ad = new Adapters(f);
            int[] slots = {1, -1, 0, 3, 3, 2, 1};
            check(ad, slots, run(f, ad, slots, false, 1));
        }
    }

    @Test
    void segmentedShrinkAndExpandGiveTheSameDeltasOverRunsOfOneSlotWhateverTheZSplit() {
        try (HostKernelFixture f = new HostKernelFixture(52)) {
            Adapters ad = new Adapters(f);
            int[] slots = {0, 0, 0, -1, 3, 3, 3, 3, 3, 3, 1, 2, 2};
            check(ad, slots, run(f, ad, slots, true, 1));
            check(ad, slots, run(f, ad, slots, true, 3));
        }
    }

    @Test
    void aGridThatCoversTooFewRanksTokensOrColumnsIsRefusedNamingTheKernel() {
        try (HostKernelFixture f = new HostKernelFixture(53)) {
            Adapters ad = new Adapters(f);
            int[] slots = {1, 0, 3, -1};
            long arena = f.bf16(ad.arena);
            long xs = f.bf16(new float[slots.length * X_STRIDE]);
            long ys = f.bf16(new float[slots.length * Y_STRIDE]);
            long shrunk = f.f32(new float[slots.length * MAX_RANK]);
            long slotsAt = f.i32(slots);
            long ranks = f.i32(RANKS);
            long rowStart = f.i32(ad.rowStart);
            f.assertRefused("loraplex_lora_shrink_gathered: grid.x · warps 8 < ranks[3] 16", Kernels.LORA_SHRINK_GATHERED,
                    LaunchShape.of(1, 4, 256), shrunk, xs, arena, slotsAt, ranks, rowStart, f.i64(ad.aRows), 4, IN, X_STRIDE,
                    MAX_RANK);
            f.assertRefused("loraplex_lora_shrink_gathered: grid.y 3 < num_tokens 4", Kernels.LORA_SHRINK_GATHERED,
                    LaunchShape.of(2, 3, 256), shrunk, xs, arena, slotsAt, ranks, rowStart, f.i64(ad.aRows), 4, IN, X_STRIDE,
                    MAX_RANK);
            f.assertRefused("loraplex_lora_shrink_gathered: shrunk_stride 8 < ranks[3] 16", Kernels.LORA_SHRINK_GATHERED,
                    LaunchShape.of(2, 4, 256), shrunk, xs, arena, slotsAt, ranks, rowStart, f.i64(ad.aRows), 4, IN, X_STRIDE, 8);
            f.assertRefused("loraplex_lora_expand_gathered: grid.x · block 128 < out_features 130",
                    Kernels.LORA_EXPAND_GATHERED, LaunchShape.of(1, 4, 128), ys, shrunk, arena, slotsAt, ranks, rowStart,
                    f.i64(ad.bRows), f.f32(ad.scales), 4, 130, Y_STRIDE, MAX_RANK);
            f.assertRefused("loraplex_lora_expand_gathered: grid.y 3 < num_tokens 4", Kernels.LORA_EXPAND_GATHERED,
                    LaunchShape.of(1, 3, 256), ys, shrunk, arena, slotsAt, ranks, rowStart, f.i64(ad.bRows),
                    f.f32(ad.scales), 4, OUT, Y_STRIDE, MAX_RANK);
            long segStarts = f.i32(0, 1, 2, 3, 4);
            f.assertRefused("loraplex_lora_shrink_segmented: grid.y 3 < num_segments 4", Kernels.LORA_SHRINK_SEGMENTED,
                    LaunchShape.of(2, 3, 1, 256), shrunk, xs, arena, segStarts, slotsAt, ranks, rowStart, f.i64(ad.aRows), 4,
                    IN, X_STRIDE, MAX_RANK);
            f.assertRefused("loraplex_lora_shrink_segmented: grid.x · warps 8 < ranks[3] 16", Kernels.LORA_SHRINK_SEGMENTED,
                    LaunchShape.of(1, 4, 1, 256), shrunk, xs, arena, segStarts, slotsAt, ranks, rowStart, f.i64(ad.aRows), 4,
                    IN, X_STRIDE, MAX_RANK);
            f.assertRefused("loraplex_lora_expand_segmented: grid.y 3 < num_segments 4", Kernels.LORA_EXPAND_SEGMENTED,
                    LaunchShape.of(1, 3, 1, 256), ys, shrunk, arena, segStarts, slotsAt, ranks, rowStart, f.i64(ad.bRows),
                    f.f32(ad.scales), 4, OUT, Y_STRIDE, MAX_RANK);
        }
    }
}
