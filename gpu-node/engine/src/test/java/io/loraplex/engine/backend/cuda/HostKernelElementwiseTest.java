package io.loraplex.engine.backend.cuda;

import static io.loraplex.engine.backend.cuda.HostKernelFixture.assertClose;
import static io.loraplex.engine.backend.cuda.HostKernelFixture.bf16Tolerance;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraplex.kernels.Kernels;
import org.junit.jupiter.api.Test;

/** embedding.cu, swiglu.cu and add.cu on the host against plain loops, and their launch checks. */
class HostKernelElementwiseTest {

    @Test
    void embeddingGatherCopiesEachTokensRowAndZeroesAnIdOutsideTheVocabulary() {
        try (HostKernelFixture f = new HostKernelFixture(11)) {
            int vocab = 9;
            int hidden = 13;
            float[] table = f.randomBf16(vocab * hidden, 3);
            int[] tokens = {4, 0, 8, -1, 9, 4};
            long out = f.bf16(new float[tokens.length * hidden]);
            f.launch(Kernels.EMBEDDING_GATHER, LaunchShape.of(tokens.length, 1, 256),
                    out, f.bf16(table), f.i32(tokens), tokens.length, hidden, vocab);
            float[] got = f.readBf16(out, tokens.length * hidden);
            for (int t = 0; t < tokens.length; t++) {
                for (int i = 0; i < hidden; i++) {
                    float want = tokens[t] < 0 || tokens[t] >= vocab ? 0 : table[tokens[t] * hidden + i];
                    assertEquals(want, got[t * hidden + i], "token " + t + " element " + i);
                }
            }
            f.assertRefused("loraplex_embedding_gather: grid.x 5 < num_tokens 6", Kernels.EMBEDDING_GATHER,
                    LaunchShape.of(5, 1, 256), out, f.bf16(table), f.i32(tokens), tokens.length, hidden, vocab);
        }
    }

    @Test
    void swigluIsSiluOfGateTimesUpOnStridedHalvesOfOneFusedOutput() {
        try (HostKernelFixture f = new HostKernelFixture(12)) {
            int tokens = 3;
            int width = 37;
            float[] fused = f.randomBf16(tokens * 2 * width, 6); // (T, 2I): gate then up
            long gateUp = f.bf16(fused);
            long out = f.bf16(new float[tokens * width]);
            f.launch(Kernels.SWIGLU, LaunchShape.of(tokens, 1, 256), out, gateUp, gateUp + 2L * width, tokens, width,
                    width, 2 * width, 2 * width);
            double[] want = new double[tokens * width];
            for (int t = 0; t < tokens; t++) {
                for (int i = 0; i < width; i++) {
                    double g = fused[t * 2 * width + i];
                    want[t * width + i] = g / (1 + Math.exp(-g)) * fused[t * 2 * width + width + i];
                }
            }
            float[] got = f.readBf16(out, tokens * width);
            for (int i = 0; i < want.length; i++) {
                assertClose("swiglu", new double[] {want[i]}, new float[] {got[i]}, bf16Tolerance(want[i]));
            }
            f.assertRefused("loraplex_swiglu: grid.x 2 < num_tokens 3", Kernels.SWIGLU, LaunchShape.of(2, 1, 256),
                    out, gateUp, gateUp + 2L * width, tokens, width, width, 2 * width, 2 * width);
        }
    }

    @Test
    void addAddsDeltaToEachStridedRowWithOneRounding() {
        try (HostKernelFixture f = new HostKernelFixture(13)) {
            int rows = 4;
            int n = 300; // two blocks of 256 along x
            int xStride = 310;
            float[] x = f.randomBf16(rows * xStride, 4);
            float[] delta = f.randomBf16(rows * n, 4);
            long xs = f.bf16(x);
            f.launch(Kernels.ADD, LaunchShape.of(2, rows, 256), xs, f.bf16(delta), rows, n, xStride, n);
            float[] got = f.readBf16(xs, rows * xStride);
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < xStride; i++) {
                    float want = i < n ? HostMemory.roundBf16(x[r * xStride + i] + delta[r * n + i]) : x[r * xStride + i];
                    assertEquals(want, got[r * xStride + i], "row " + r + " element " + i);
                }
            }
            f.assertRefused("loraplex_add: grid.x · block 256 < n 300", Kernels.ADD, LaunchShape.of(1, rows, 256),
                    xs, f.bf16(delta), rows, n, xStride, n);
            f.assertRefused("loraplex_add: grid.y 3 < rows 4", Kernels.ADD, LaunchShape.of(2, 3, 256),
                    xs, f.bf16(delta), rows, n, xStride, n);
        }
    }

    @Test
    void addBiasAddsTheBiasToEveryRowOfAColumnSlice() {
        try (HostKernelFixture f = new HostKernelFixture(14)) {
            int rows = 3;
            int n = 20;
            int stride = 50; // y is columns [10, 30) of a (3, 50) fused output
            float[] y = f.randomBf16(rows * stride, 2);
            float[] bias = f.randomBf16(n, 2);
            long ys = f.bf16(y);
            f.launch(Kernels.ADD_BIAS, LaunchShape.of(1, rows, 256), ys + 2 * 10, f.bf16(bias), rows, n, stride);
            float[] got = f.readBf16(ys, rows * stride);
            float[] want = y.clone();
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < n; i++) {
                    want[r * stride + 10 + i] = HostMemory.roundBf16(y[r * stride + 10 + i] + bias[i]);
                }
            }
            assertArrayEquals(want, got);
            f.assertRefused("loraplex_add_bias: grid.y 2 < rows 3", Kernels.ADD_BIAS, LaunchShape.of(1, 2, 256),
                    ys, f.bf16(bias), rows, n, stride);
        }
    }
}
