package io.loraplex.engine.train;

import io.loraplex.engine.backend.CpuKernels;
import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.model.Tensor;

/**
 * A frozen projection of the base: {@code y = x·Wᵀ (+ bias)} forward and {@code dx += dy·W}
 * backward, with W {@code (out, in)} as mapped from the model files (any dtype). In {@link
 * Precision#F32} the forward runs the CPU backend's vector kernel and both directions split their
 * work over the worker threads; in {@link Precision#F64} both are plain float64 loops, the
 * reference for the finite-difference tests.
 */
final class FrozenLinear {

    /** How the frozen projections compute. */
    enum Precision { F32, F64 }

    private final WorkerPool pool;
    private final Precision precision;

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
        float[] dyf = narrow(dy, tokens * out); // (T, out)
        // each task owns a slice of dx's columns and reads that slice of every row of W once
        int slice = Math.max(64, (in / (pool.threads() * 4) + 15) / 16 * 16);
        int tasks = (in + slice - 1) / slice;
        pool.run(tasks, task -> {
            int c0 = task * slice;
            int len = Math.min(in, c0 + slice) - c0;
            float[] row = new float[len];          // (len) one row slice of W
            float[] acc = new float[tokens * len]; // (T, len)
            for (int o = 0; o < out; o++) {
                w.copyTo((long) o * in + c0, row, 0, len);
                for (int t = 0; t < tokens; t++) {
                    float g = dyf[t * out + o];
                    if (g != 0) {
                        int base = t * len;
                        for (int i = 0; i < len; i++) {
                            acc[base + i] += g * row[i];
                        }
                    }
                }
            }
            for (int t = 0; t < tokens; t++) {
                for (int i = 0; i < len; i++) {
                    dx[t * in + c0 + i] += acc[t * len + i];
                }
            }
        });
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
