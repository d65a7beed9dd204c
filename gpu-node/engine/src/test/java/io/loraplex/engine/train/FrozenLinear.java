package io.loraplex.engine.train;

import io.loraplex.engine.backend.CpuKernels;
import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The reference's frozen projection (test scope; production uses {@link TrainKernels}, which reads W
 * in its stored layout with no transposed copy). A frozen projection of the base: {@code y = x·Wᵀ (+ bias)} forward and {@code dx += dy·W}
 * backward, with W {@code (out, in)} as mapped from the model files (any dtype). In {@link
 * Precision#F32} the forward runs the CPU backend's vector kernel and both directions split their
 * work over the worker threads (the backward on a float32 copy of Wᵀ made once per weight, so it
 * runs the same kernel); in {@link Precision#F64} both are plain float64 loops, the
 * reference for the finite-difference tests.
 */
final class FrozenLinear {

    /** How the frozen projections compute. */
    enum Precision { F32, F64 }

    private final WorkerPool pool;
    private final Precision precision;
    private final Map<Tensor, MemorySegment> transposed = new IdentityHashMap<>(); // F32: Wᵀ per weight, made on first use

    FrozenLinear(WorkerPool pool, Precision precision) {
        this.pool = pool;
        this.precision = precision;
    }

    Precision precision() {
        return precision;
    }

    /** y (T, out) = x (T, in) · Wᵀ + bias (out, or null). */
    void forward(double[] y, double[] x, Tensor w, float[] bias, int tokens) {
        int out = (int) w.dim(0);
        int in = (int) w.dim(1);
        if (precision == Precision.F64) {
            for (int t = 0; t < tokens; t++) {
                for (int o = 0; o < out; o++) {
                    double s = 0;
                    long base = (long) o * in;
                    for (int i = 0; i < in; i++) {
                        s += x[t * in + i] * w.get(base + i);
                    }
                    y[t * out + o] = s;
                }
            }
        } else {
            float[] xf = narrow(x, tokens * in);      // (T, in)
            float[] yf = new float[tokens * out];     // (T, out)
            int chunk = rowChunk(out);
            int tasks = (out + chunk - 1) / chunk;
            pool.run(tasks, task -> {
                int start = task * chunk;
                CpuKernels.matmul(xf, in, tokens, w.data(), w.dtype(), in, start, Math.min(out, start + chunk), yf, out, 0,
                        new float[4 * in]);
            });
            for (int i = 0; i < tokens * out; i++) {
                y[i] = yf[i];
            }
        }
        if (bias != null) {
            for (int t = 0; t < tokens; t++) {
                for (int o = 0; o < out; o++) {
                    y[t * out + o] += bias[o];
                }
            }
        }
    }

    /** dx (T, in) += dy (T, out) · W. */
    void backward(double[] dx, double[] dy, Tensor w, int tokens) {
        int out = (int) w.dim(0);
        int in = (int) w.dim(1);
        if (precision == Precision.F64) {
            for (int t = 0; t < tokens; t++) {
                for (int o = 0; o < out; o++) {
                    double g = dy[t * out + o];
                    long base = (long) o * in;
                    for (int i = 0; i < in; i++) {
                        dx[t * in + i] += g * w.get(base + i);
                    }
                }
            }
            return;
        }
        float[] dyf = narrow(dy, tokens * out);   // (T, out)
        float[] dxf = new float[tokens * in];     // (T, in)
        MemorySegment wt = transposed.computeIfAbsent(w, FrozenLinear::transpose); // (in, out)
        int chunk = rowChunk(in);
        int tasks = (in + chunk - 1) / chunk;
        pool.run(tasks, task -> {
            int start = task * chunk;
            CpuKernels.matmul(dyf, out, tokens, wt, DType.F32, out, start, Math.min(in, start + chunk), dxf, in, 0,
                    new float[4 * out]);
        });
        for (int i = 0; i < tokens * in; i++) {
            dx[i] += dxf[i];
        }
    }

    /** Wᵀ (in, out) as float32, so the backward runs the same row-dot kernel as the forward. */
    private static MemorySegment transpose(Tensor w) {
        int out = (int) w.dim(0);
        int in = (int) w.dim(1);
        float[] t = new float[in * out];
        float[] row = new float[in];
        for (int o = 0; o < out; o++) {
            w.copyTo((long) o * in, row, 0, in);
            for (int i = 0; i < in; i++) {
                t[i * out + o] = row[i];
            }
        }
        return MemorySegment.ofArray(t);
    }

    /** Rows per task: a multiple of 4 (the kernel's tile), about 8 tasks per thread. */
    private int rowChunk(int out) {
        return Math.max(16, (out / (pool.threads() * 8) + 3) / 4 * 4);
    }

    private static float[] narrow(double[] x, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = (float) x[i];
        }
        return f;
    }
}
