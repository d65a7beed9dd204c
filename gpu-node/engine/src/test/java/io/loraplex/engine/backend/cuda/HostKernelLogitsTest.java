package io.loraplex.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraplex.kernels.Kernels;
import org.junit.jupiter.api.Test;

/** logits.cu on the host against a loop: max, log-sum-exp and the first index of the max, ties included. */
class HostKernelLogitsTest {

    @Test
    void logitsArgmaxGivesMaxLogSumExpAndTheSmallestIndexOfTiedMaxima() {
        try (HostKernelFixture f = new HostKernelFixture(31)) {
            int rows = 5;
            int vocab = 1000; // ~4 columns per thread of 256
            int stride = 1003;
            float[] logits = new float[rows * stride];
            for (int i = 0; i < logits.length; i++) {
                logits[i] = (float) (f.random.nextGaussian() * 4);
            }
            // row 1: the max three times, first at 517; row 2: a tie at 3 and 259 (same thread lane, then another)
            logits[stride + 517] = 50;
            logits[stride + 700] = 50;
            logits[stride + 999] = 50;
            logits[2 * stride + 259] = 40;
            logits[2 * stride + 3] = 40;
            // row 3: all equal, so index 0
            java.util.Arrays.fill(logits, 3 * stride, 3 * stride + vocab, -2.5f);
            long stats = f.f32(new float[2 * rows]);
            long argmax = f.i32(new int[rows]);
            f.launch(Kernels.LOGITS_ARGMAX, LaunchShape.of(rows, 1, 256), stats, argmax, f.f32(logits), rows, vocab, stride);
            float[] gotStats = f.readF32(stats, 2 * rows);
            int[] gotArgmax = f.readI32(argmax, rows);
            for (int r = 0; r < rows; r++) {
                double max = Double.NEGATIVE_INFINITY;
                int at = -1;
                for (int i = 0; i < vocab; i++) {
                    if (logits[r * stride + i] > max) {
                        max = logits[r * stride + i];
                        at = i;
                    }
                }
                double sum = 0;
                for (int i = 0; i < vocab; i++) {
                    sum += Math.exp(logits[r * stride + i] - max);
                }
                assertEquals(at, gotArgmax[r], "argmax of row " + r);
                assertEquals(max, gotStats[2 * r], 0, "max of row " + r);
                assertEquals(Math.log(sum) + max, gotStats[2 * r + 1], 1e-5 * Math.abs(Math.log(sum) + max) + 1e-5,
                        "log-sum-exp of row " + r);
            }
            assertEquals(517, gotArgmax[1]);
            assertEquals(3, gotArgmax[2]);
            assertEquals(0, gotArgmax[3]);
            f.assertRefused("loraplex_logits_argmax: grid.x 4 < rows 5", Kernels.LOGITS_ARGMAX, LaunchShape.of(4, 1, 256),
                    stats, argmax, f.f32(logits), rows, vocab, stride);
        }
    }

    @Test
    void aRowOfMinusInfinityHasArgmaxZeroAndARowOfNaNHasArgmaxMinusOne() {
        try (HostKernelFixture f = new HostKernelFixture(32)) {
            int vocab = 7;
            float[] logits = new float[2 * vocab];
            java.util.Arrays.fill(logits, 0, vocab, Float.NEGATIVE_INFINITY);
            java.util.Arrays.fill(logits, vocab, 2 * vocab, Float.NaN);
            long stats = f.f32(new float[4]);
            long argmax = f.i32(new int[2]);
            f.launch(Kernels.LOGITS_ARGMAX, LaunchShape.of(2, 1, 256), stats, argmax, f.f32(logits), 2, vocab, vocab);
            assertEquals(0, f.readI32(argmax, 2)[0]);
            assertEquals(-1, f.readI32(argmax, 2)[1]);
            assertEquals(Float.NEGATIVE_INFINITY, f.readF32(stats, 4)[0]);
            assertEquals(Float.NEGATIVE_INFINITY, f.readF32(stats, 4)[1]);
            assertEquals(Float.NEGATIVE_INFINITY, f.readF32(stats, 4)[2]);
        }
    }
}
