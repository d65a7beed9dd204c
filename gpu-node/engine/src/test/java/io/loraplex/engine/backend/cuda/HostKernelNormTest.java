package io.loraplex.engine.backend.cuda;

import static io.loraplex.engine.backend.cuda.HostKernelFixture.bf16Tolerance;

import io.loraplex.kernels.Kernels;
import org.junit.jupiter.api.Test;

/** rmsnorm.cu's two entry points on the host against an f64 loop, with w and Gemma's 1 + w. */
class HostKernelNormTest {

    private static final float EPS = 1e-5f;

    private static double[] rmsnorm(float[] x, int row, int n, float[] w, boolean addOne) {
        double ss = 0;
        for (int i = 0; i < n; i++) {
            ss += (double) x[row * n + i] * x[row * n + i];
        }
        double inv = 1 / Math.sqrt(ss / n + EPS);
        double[] y = new double[n];
        for (int i = 0; i < n; i++) {
            y[i] = x[row * n + i] * inv * (addOne ? 1 + w[i] : w[i]);
        }
        return y;
    }

    private static void assertRow(String what, double[] want, float[] got, int row, int n) {
        for (int i = 0; i < n; i++) {
            HostKernelFixture.assertClose(what + " row " + row + " element " + i, new double[] {want[i]},
                    new float[] {got[row * n + i]}, bf16Tolerance(want[i]));
        }
    }

    @Test
    void rmsnormInPlaceMatchesAnF64LoopWithWeightAndWithOnePlusWeight() {
        for (int addOne = 0; addOne <= 1; addOne++) {
            try (HostKernelFixture f = new HostKernelFixture(21 + addOne)) {
                int rows = 5;
                int n = 300; // more than one element per thread of 256
                float[] x = f.randomBf16(rows * n, 8);
                float[] w = f.randomBf16(n, 1.5);
                long xs = f.bf16(x);
                f.launch(Kernels.RMSNORM, LaunchShape.of(rows, 1, 256), xs, xs, f.bf16(w), rows, n, EPS, addOne);
                float[] got = f.readBf16(xs, rows * n);
                for (int r = 0; r < rows; r++) {
                    assertRow("add_one " + addOne, rmsnorm(x, r, n, w, addOne == 1), got, r, n);
                }
                f.assertRefused("loraplex_rmsnorm: grid.x 4 < rows 5", Kernels.RMSNORM, LaunchShape.of(4, 1, 256),
                        xs, xs, f.bf16(w), rows, n, EPS, addOne);
            }
        }
    }

    @Test
    void rmsnormRowsNormalisesTheGatheredRowsInTheOrderRowIndexGives() {
        try (HostKernelFixture f = new HostKernelFixture(23)) {
            int tokens = 6;
            int n = 40;
            float[] x = f.randomBf16(tokens * n, 5);
            float[] w = f.randomBf16(n, 1);
            int[] rowIndex = {5, 0, 3, 3};
            long out = f.bf16(new float[rowIndex.length * n]);
            f.launch(Kernels.RMSNORM_ROWS, LaunchShape.of(rowIndex.length, 1, 256), out, f.bf16(x), f.bf16(w),
                    f.i32(rowIndex), rowIndex.length, n, EPS, 0);
            float[] got = f.readBf16(out, rowIndex.length * n);
            for (int r = 0; r < rowIndex.length; r++) {
                assertRow("gathered", rmsnorm(x, rowIndex[r], n, w, false), got, r, n);
            }
            f.assertRefused("loraplex_rmsnorm_rows: grid.x 3 < rows 4", Kernels.RMSNORM_ROWS, LaunchShape.of(3, 1, 256),
                    out, f.bf16(x), f.bf16(w), f.i32(rowIndex), rowIndex.length, n, EPS, 0);
        }
    }
}
