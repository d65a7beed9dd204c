package io.loraplex.engine.backend;

import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.Tensor;
import io.loraplex.engine.model.WeightFormat;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/**
 * One thread's projection rates, the row-major tiles ({@link CpuKernels#matmul}, before issue 17's
 * panels) against the panel kernels ({@link PanelKernels}), in one run: a GEMM of {@code tokens}
 * prompt tokens (GFLOP/s) and a GEMV of one token (G weights/s, GB/s of weights), on the bench
 * model's MLP shape (2816 × 1024) over enough distinct copies that the GEMV's weights come from memory.
 * Beside them the machine's FMA peak (independent register FMAs, no loads). Not a test: run it as
 * {@code java --add-modules jdk.incubator.vector -cp <test classpath> io.loraplex.engine.backend.PanelGemmBench [tokens]}.
 */
public final class PanelGemmBench {

    private PanelGemmBench() {
    }

    public static void main(String[] args) {
        int tokens = args.length > 0 ? Integer.parseInt(args[0]) : 128;
        int rows = 2816;
        int n = 1024;
        int copies = 12;
        DType[] dtypes = {DType.F32, DType.BF16, DType.F16, DType.Q8_0, DType.Q4_0};
        SplittableRandom random = new SplittableRandom(1);
        Tensor[][] rowMajor = new Tensor[dtypes.length][copies];
        PanelMatrix[][] panels = new PanelMatrix[dtypes.length][copies];
        for (int c = 0; c < copies; c++) {
            MemorySegment data = Arena.ofAuto().allocate((long) rows * n * 4, 64);
            for (long i = 0; i < (long) rows * n; i++) {
                data.setAtIndex(Tensor.F32, i, (float) random.nextGaussian());
            }
            Tensor f32 = new Tensor("w", DType.F32, new long[] {rows, n}, data);
            for (int d = 0; d < dtypes.length; d++) {
                rowMajor[d][c] = WeightFormat.convert(f32, dtypes[d]);
                panels[d][c] = PanelMatrix.pack(f32, dtypes[d]);
            }
        }
        float[] x = new float[tokens * n];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        float[] y = new float[tokens * rows];
        float[] scratch = new float[4 * n];
        float[] tile = PanelKernels.tileBuffer();
        System.out.printf("FMA peak, one thread: %.1f GFLOP/s%n", fmaPeak());
        for (int rep = 0; rep < 6; rep++) {
            String warm = rep < 5 ? "(warm-up) " : "";
            for (int d = 0; d < dtypes.length; d++) {
                long t0 = System.nanoTime();
                for (int c = 0; c < 2; c++) {
                    CpuKernels.matmul(x, n, tokens, rowMajor[d][c].data(), dtypes[d], n, 0, rows, y, rows, 0, scratch);
                }
                double rowsGemm = 2.0 * tokens * rows * n * 2 / (System.nanoTime() - t0);
                t0 = System.nanoTime();
                for (int c = 0; c < 2; c++) {
                    PanelKernels.matmul(x, n, tokens, panels[d][c], 0, panels[d][c].panels(), y, rows, 0, tile);
                }
                double panelGemm = 2.0 * tokens * rows * n * 2 / (System.nanoTime() - t0);
                t0 = System.nanoTime();
                for (int j = 0; j < 5; j++) {
                    for (Tensor w : rowMajor[d]) {
                        CpuKernels.matmul(x, n, 1, w.data(), w.dtype(), n, 0, rows, y, rows, 0, scratch);
                    }
                }
                double rowsGemv = (System.nanoTime() - t0) / 1e6 / (5.0 * copies);
                t0 = System.nanoTime();
                for (int j = 0; j < 5; j++) {
                    for (PanelMatrix w : panels[d]) {
                        PanelKernels.matmul(x, n, 1, w, 0, w.panels(), y, rows, 0, tile);
                    }
                }
                double panelGemv = (System.nanoTime() - t0) / 1e6 / (5.0 * copies);
                double bytes = panels[d][0].byteSize();
                System.out.printf("%s%-5s GEMM %d tokens: rows %.1f, panels %.1f GFLOP/s (%.2fx) | GEMV: rows %.3f ms, panels %.3f ms (%.2fx), %.1f GB/s%n",
                        warm, dtypes[d], tokens, rowsGemm, panelGemm, panelGemm / rowsGemm, rowsGemv, panelGemv, rowsGemv / panelGemv,
                        bytes / panelGemv / 1e6);
            }
        }
    }

    /** Twelve independent FMA chains on registers: what one core's FMA units can do. */
    static double fmaPeak() {
        double best = 0;
        for (int rep = 0; rep < 4; rep++) {
            long iters = 20_000_000;
            long t0 = System.nanoTime();
            float sink = PeakLoop.run(iters);
            double rate = 2.0 * 12 * PanelMatrix.LANES * iters / (System.nanoTime() - t0);
            if (sink == 42f) {
                System.out.print("");
            }
            best = Math.max(best, rate);
        }
        return best;
    }

    private static final class PeakLoop {
        static float run(long iters) {
            var f = PanelMatrix.F;
            jdk.incubator.vector.FloatVector b = jdk.incubator.vector.FloatVector.broadcast(f, 1.0000001f);
            jdk.incubator.vector.FloatVector a0 = jdk.incubator.vector.FloatVector.broadcast(f, 0.1f), a1 = a0.add(1f), a2 = a0.add(2f),
                    a3 = a0.add(3f), a4 = a0.add(4f), a5 = a0.add(5f), a6 = a0.add(6f), a7 = a0.add(7f), a8 = a0.add(8f),
                    a9 = a0.add(9f), a10 = a0.add(10f), a11 = a0.add(11f);
            for (long i = 0; i < iters; i++) {
                a0 = a0.fma(b, b); a1 = a1.fma(b, b); a2 = a2.fma(b, b); a3 = a3.fma(b, b); a4 = a4.fma(b, b); a5 = a5.fma(b, b);
                a6 = a6.fma(b, b); a7 = a7.fma(b, b); a8 = a8.fma(b, b); a9 = a9.fma(b, b); a10 = a10.fma(b, b); a11 = a11.fma(b, b);
            }
            return a0.add(a1).add(a2).add(a3).add(a4).add(a5).add(a6).add(a7).add(a8).add(a9).add(a10).add(a11).lane(0);
        }
    }
}
