package io.loraplex.engine.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.Tensor;
import io.loraplex.engine.model.WeightFormat;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The frozen projections of the training step read the base in the dtype it is served in: forward
 * {@code x·Wᵀ} and backward {@code dy·W} of an f32, bf16, f16, Q8_0 and Q4_0 weight against float64
 * loops over the same (dequantized) weight, with shapes that leave partial 4-row tiles, partial
 * vectors and a column slice shorter than the others, over a few tokens and over more than two
 * token blocks.
 */
class TrainKernelsTest {

    private static final WorkerPool POOL = new WorkerPool(3);

    @AfterAll
    static void close() {
        POOL.close();
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(DType.class)
    void theProjectionsReadTheWeightInItsServedDtype(DType dtype) {
        for (int tokens : new int[] {7, 150}) {
            check(dtype, tokens);
        }
    }

    private static void check(DType dtype, int tokens) {
        int out = 70;  // not a multiple of 4
        int in = 96;   // three blocks of 32: a panel of 64 and a slice of 32
        SplittableRandom random = new SplittableRandom(3);
        float[] wf = new float[out * in];
        for (int i = 0; i < wf.length; i++) {
            wf[i] = (float) random.nextDouble(-1, 1);
        }
        Tensor w = WeightFormat.convert(new Tensor("w", DType.F32, new long[] {out, in}, MemorySegment.ofArray(wf)), dtype);
        float[] x = new float[tokens * in];   // (T, in)
        float[] dy = new float[tokens * out]; // (T, out)
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextDouble(-1, 1);
        }
        for (int i = 0; i < dy.length; i++) {
            dy[i] = i % 5 == 0 ? 0 : (float) random.nextDouble(-1, 1); // some zero gradients, which the kernel skips
        }
        float[] bias = new float[out];
        for (int i = 0; i < out; i++) {
            bias[i] = i * 0.01f;
        }

        float[] y = new float[tokens * out];
        TrainKernels.linearForward(POOL, y, x, tokens, w, bias);
        float[] dx = new float[tokens * in];
        java.util.Arrays.fill(dx, 0.25f); // the backward adds
        TrainKernels.linearBackward(POOL, dx, dy, tokens, w);

        for (int t = 0; t < tokens; t++) {
            for (int o = 0; o < out; o++) {
                double s = bias[o];
                for (int i = 0; i < in; i++) {
                    s += (double) x[t * in + i] * w.get((long) o * in + i);
                }
                assertEquals(s, y[t * out + o], 1e-4, dtype + " y[" + t + "," + o + "]");
            }
            for (int i = 0; i < in; i++) {
                double s = 0.25;
                for (int o = 0; o < out; o++) {
                    s += (double) dy[t * out + o] * w.get((long) o * in + i);
                }
                assertEquals(s, dx[t * in + i], 1e-4, dtype + " dx[" + t + "," + i + "]");
            }
        }
    }
}
