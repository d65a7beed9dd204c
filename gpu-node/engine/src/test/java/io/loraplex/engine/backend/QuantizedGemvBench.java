package io.loraplex.engine.backend;

import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.Tensor;
import io.loraplex.engine.model.WeightFormat;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/**
 * One thread's GEMV rate per weight dtype: the bench model's MLP shape (2816 × 1024), one token, over
 * enough distinct copies that nothing stays in cache. Not a test (no assertions, speed only): run it as
 * {@code java --add-modules jdk.incubator.vector -cp <test classpath> io.loraplex.engine.backend.QuantizedGemvBench}.
 */
public final class QuantizedGemvBench {

    private QuantizedGemvBench() {
    }

    public static void main(String[] args) {
        int rows = 2816;
        int n = 1024;
        int copies = 24;
        DType[] dtypes = {DType.F32, DType.BF16, DType.Q8_0, DType.Q4_0};
        SplittableRandom random = new SplittableRandom(1);
        Tensor[][] weights = new Tensor[dtypes.length][copies];
        for (int c = 0; c < copies; c++) {
            MemorySegment data = Arena.ofAuto().allocate((long) rows * n * 4, 64);
            for (long i = 0; i < (long) rows * n; i++) {
                data.setAtIndex(Tensor.F32, i, (float) random.nextGaussian());
            }
            Tensor f32 = new Tensor("w", DType.F32, new long[] {rows, n}, data);
            for (int d = 0; d < dtypes.length; d++) {
                weights[d][c] = WeightFormat.convert(f32, dtypes[d]);
            }
        }
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) random.nextGaussian();
        }
        float[] y = new float[rows];
        float[] scratch = new float[4 * n];
        for (int rep = 0; rep < 4; rep++) {
            for (int d = 0; d < dtypes.length; d++) {
                long t0 = System.nanoTime();
                for (int j = 0; j < 10; j++) {
                    for (Tensor w : weights[d]) {
                        CpuKernels.matmul(x, n, 1, w.data(), w.dtype(), n, 0, rows, y, rows, 0, scratch);
                    }
                }
                double ms = (System.nanoTime() - t0) / 1e6 / (10.0 * copies);
                System.out.printf("%s%-5s %.3f ms per GEMV, %.2f G weights/s, %.1f GB/s of weights%n", rep < 3 ? "(warm-up) " : "",
                        dtypes[d], ms, rows * (double) n / ms / 1e6, dtypes[d].rowBytes(n) * (double) rows / ms / 1e6);
            }
        }
    }
}
