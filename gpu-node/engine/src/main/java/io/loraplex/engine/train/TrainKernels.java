package io.loraplex.engine.train;

import io.loraplex.engine.backend.CpuKernels;
import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The float32 kernels of the training step (Vector API): the frozen projections forward
 * ({@code x·Wᵀ}, the serving backend's tiled kernel) and backward ({@code dy·W}, reading W in its
 * stored row-major layout and dtype, so no transposed copy exists), and the row operations the
 * layers need. Every result is reduced in an order fixed by its own row, never by its batch-mates,
 * and lanes are summed in a fixed tree ({@link CpuKernels#sumLanes}: {@code reduceLanes} may add in
 * another order once compiled than interpreted), so an example's gradients do not depend on what
 * shares its batch or on when the JIT compiled the kernel.
 */
final class TrainKernels {

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = F.length();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TrainKernels() {
    }

    /**
     * Multiply-adds below which work runs on the calling thread: handing a task to a worker costs a
     * wake-up (tens of microseconds, a scheduler slice when the cores are busy), more than ~0.1 ms
     * of arithmetic on one core gains. The tiny models' passes are mostly such small pieces.
     */
    static final long MIN_PARALLEL_WORK = 1L << 18;

    /** {@code body.accept(i)} for every task: on the pool, or inline when {@code work} multiply-adds are too few to share. */
    static void parallel(WorkerPool pool, int tasks, long work, java.util.function.IntConsumer body) {
        if (work < MIN_PARALLEL_WORK || tasks <= 1 || pool.threads() == 1) {
            for (int i = 0; i < tasks; i++) {
                body.accept(i);
            }
            return;
        }
        pool.run(tasks, body);
    }

    // ---- frozen projections ---------------------------------------------------------------

    /** y (T, out) = x (T, in) · Wᵀ (+ bias (out) when not null); split over row chunks of W. */
    static void linearForward(WorkerPool pool, float[] y, float[] x, int tokens, Tensor w, float[] bias) {
        int out = (int) w.dim(0);
        int in = (int) w.dim(1);
        int chunk = chunk(out, pool.threads(), 4);
        int tasks = (out + chunk - 1) / chunk;
        parallel(pool, tasks, (long) tokens * out * in, task -> {
            int start = task * chunk;
            CpuKernels.matmul(x, in, tokens, w.data(), w.dtype(), in, start, Math.min(out, start + chunk), y, out, 0,
                    new float[4 * in]);
        });
        if (bias != null) {
            for (int t = 0; t < tokens; t++) {
                add(bias, 0, y, t * out, out);
            }
        }
    }

    /** Columns of one register tile of the backward: four vectors. */
    private static final int PANEL = 4 * LANES;

    /**
     * dx (T, in) += dy (T, out) · W, W {@code (out, in)} read in its stored layout. Each task owns a
     * column slice of dx: it decodes W's columns of one panel (four vectors wide) for every row once,
     * then runs a 4-token × 4-vector register tile down all of W's rows (sixteen FMAs per four loads
     * and four broadcasts), so W is read and dequantized once per call and each dx element is summed
     * over W's rows in order, whatever its batch-mates. A slice's columns past its last whole panel
     * take four rows at a time into every token ({@link #axpy4}).
     */
    static void linearBackward(WorkerPool pool, float[] dx, float[] dy, int tokens, Tensor w) {
        int out = (int) w.dim(0);
        int in = (int) w.dim(1);
        // slices of whole panels (PANEL is a multiple of 32 on 512-bit and 256-bit vectors), so a
        // slice never splits a quantization block's scale
        int chunk = chunk(in, pool.threads(), Math.max(DType.BLOCK, PANEL));
        int tasks = (in + chunk - 1) / chunk;
        parallel(pool, tasks, (long) tokens * out * in, task -> {
            int c0 = task * chunk;
            int c1 = Math.min(in, c0 + chunk);
            int c = c0;
            if (PANEL % DType.BLOCK == 0 || !w.dtype().quantized()) {
                float[] panel = new float[out * PANEL]; // (out, PANEL) W's columns [c, c + PANEL)
                for (; c + PANEL <= c1; c += PANEL) {
                    for (int o = 0; o < out; o++) {
                        decode(w, o, in, c, PANEL, panel, o * PANEL);
                    }
                    panelTiles(dx, dy, tokens, out, in, c, panel);
                }
            }
            if (c < c1) {
                rowsIntoSlice(dx, dy, tokens, out, in, w, c, c1 - c);
            }
        });
    }

    /** dx[t, c…c+PANEL) += Σ_o dy[t, o]·panel[o] for every token, four tokens at a time. */
    private static void panelTiles(float[] dx, float[] dy, int tokens, int out, int in, int c, float[] panel) {
        for (int t = 0; t < tokens; t += 4) {
            int nt = Math.min(4, tokens - t);
            int d0 = t * out;
            int d1 = nt > 1 ? d0 + out : d0;
            int d2 = nt > 2 ? d0 + 2 * out : d0;
            int d3 = nt > 3 ? d0 + 3 * out : d0;
            FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
            FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
            FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
            for (int o = 0; o < out; o++) {
                int p = o * PANEL;
                FloatVector w0 = FloatVector.fromArray(F, panel, p);
                FloatVector w1 = FloatVector.fromArray(F, panel, p + LANES);
                FloatVector w2 = FloatVector.fromArray(F, panel, p + 2 * LANES);
                FloatVector w3 = FloatVector.fromArray(F, panel, p + 3 * LANES);
                FloatVector g = FloatVector.broadcast(F, dy[d0 + o]);
                a00 = w0.fma(g, a00); a01 = w1.fma(g, a01); a02 = w2.fma(g, a02); a03 = w3.fma(g, a03);
                g = FloatVector.broadcast(F, dy[d1 + o]);
                a10 = w0.fma(g, a10); a11 = w1.fma(g, a11); a12 = w2.fma(g, a12); a13 = w3.fma(g, a13);
                g = FloatVector.broadcast(F, dy[d2 + o]);
                a20 = w0.fma(g, a20); a21 = w1.fma(g, a21); a22 = w2.fma(g, a22); a23 = w3.fma(g, a23);
                g = FloatVector.broadcast(F, dy[d3 + o]);
                a30 = w0.fma(g, a30); a31 = w1.fma(g, a31); a32 = w2.fma(g, a32); a33 = w3.fma(g, a33);
            }
            // written out per token: a helper taking the vectors may not be inlined, and then boxes them
            int x0 = t * in + c;
            addInto(dx, x0, a00, a01, a02, a03);
            if (nt > 1) {
                addInto(dx, x0 + in, a10, a11, a12, a13);
            }
            if (nt > 2) {
                addInto(dx, x0 + 2 * in, a20, a21, a22, a23);
            }
            if (nt > 3) {
                addInto(dx, x0 + 3 * in, a30, a31, a32, a33);
            }
        }
    }

    private static void addInto(float[] y, int off, FloatVector v0, FloatVector v1, FloatVector v2, FloatVector v3) {
        FloatVector.fromArray(F, y, off).add(v0).intoArray(y, off);
        FloatVector.fromArray(F, y, off + LANES).add(v1).intoArray(y, off + LANES);
        FloatVector.fromArray(F, y, off + 2 * LANES).add(v2).intoArray(y, off + 2 * LANES);
        FloatVector.fromArray(F, y, off + 3 * LANES).add(v3).intoArray(y, off + 3 * LANES);
    }

    /** dx[t, c0…c0+len) += dy[t]·W[·, c0…c0+len) for every token, four rows of W decoded at a time. */
    private static void rowsIntoSlice(float[] dx, float[] dy, int tokens, int out, int in, Tensor w, int c0, int len) {
        float[] rows = new float[4 * len]; // (4, len) decoded rows of W's slice
        for (int o = 0; o < out; o += 4) {
            int nr = Math.min(4, out - o);
            for (int r = 0; r < nr; r++) {
                decode(w, o + r, in, c0, len, rows, r * len);
            }
            if (nr < 4) {
                java.util.Arrays.fill(rows, nr * len, 4 * len, 0f);
            }
            for (int t = 0; t < tokens; t++) {
                int g = t * out + o;
                float g0 = dy[g];
                float g1 = nr > 1 ? dy[g + 1] : 0f;
                float g2 = nr > 2 ? dy[g + 2] : 0f;
                float g3 = nr > 3 ? dy[g + 3] : 0f;
                if (g0 == 0 && g1 == 0 && g2 == 0 && g3 == 0) {
                    continue;
                }
                axpy4(g0, g1, g2, g3, rows, len, dx, t * in + c0);
            }
        }
    }

    /** {@code y[yOff…] += g0·r0 + g1·r1 + g2·r2 + g3·r3}, the rows {@code r} at {@code rows[k·len…]}. */
    private static void axpy4(float g0, float g1, float g2, float g3, float[] rows, int len, float[] y, int yOff) {
        FloatVector v0 = FloatVector.broadcast(F, g0);
        FloatVector v1 = FloatVector.broadcast(F, g1);
        FloatVector v2 = FloatVector.broadcast(F, g2);
        FloatVector v3 = FloatVector.broadcast(F, g3);
        int upper = F.loopBound(len);
        int k = 0;
        for (; k < upper; k += LANES) {
            FloatVector acc = FloatVector.fromArray(F, y, yOff + k);
            acc = FloatVector.fromArray(F, rows, k).fma(v0, acc);
            acc = FloatVector.fromArray(F, rows, len + k).fma(v1, acc);
            acc = FloatVector.fromArray(F, rows, 2 * len + k).fma(v2, acc);
            acc = FloatVector.fromArray(F, rows, 3 * len + k).fma(v3, acc);
            acc.intoArray(y, yOff + k);
        }
        for (; k < len; k++) {
            float acc = y[yOff + k];
            acc = Math.fma(rows[k], g0, acc);
            acc = Math.fma(rows[len + k], g1, acc);
            acc = Math.fma(rows[2 * len + k], g2, acc);
            acc = Math.fma(rows[3 * len + k], g3, acc);
            y[yOff + k] = acc;
        }
    }

    /** Columns {@code [c0, c0+len)} of row {@code row} of W {@code (·, n)} widened into {@code dst[off…]}. */
    static void decode(Tensor w, int row, int n, int c0, int len, float[] dst, int off) {
        MemorySegment data = w.data();
        DType dtype = w.dtype();
        switch (dtype) {
            case F32 -> MemorySegment.copy(data, F32, ((long) row * n + c0) * 4, dst, off, len);
            case BF16 -> {
                long base = (long) row * n + c0;
                for (int i = 0; i < len; i++) {
                    dst[off + i] = DType.bf16ToFloat(data.getAtIndex(U16, base + i));
                }
            }
            case F16 -> {
                long base = (long) row * n + c0;
                for (int i = 0; i < len; i++) {
                    dst[off + i] = Float.float16ToFloat(data.getAtIndex(U16, base + i));
                }
            }
            case Q8_0 -> {
                long base = row * dtype.rowBytes(n);
                for (int b = c0 / DType.BLOCK; b * DType.BLOCK < c0 + len; b++) {
                    float scale = data.get(F32, base + n + b * (long) Float.BYTES);
                    for (int j = 0; j < DType.BLOCK; j++) {
                        int col = b * DType.BLOCK + j;
                        dst[off + col - c0] = data.get(ValueLayout.JAVA_BYTE, base + col) * scale;
                    }
                }
            }
            case Q4_0 -> {
                long base = row * dtype.rowBytes(n);
                int half = DType.BLOCK / 2;
                for (int b = c0 / DType.BLOCK; b * DType.BLOCK < c0 + len; b++) {
                    float scale = data.get(F32, base + n / 2 + b * (long) Float.BYTES);
                    int col = b * DType.BLOCK - c0 + off;
                    for (int j = 0; j < half; j++) {
                        byte v = data.get(ValueLayout.JAVA_BYTE, base + (long) b * half + j);
                        dst[col + j] = ((v & 0x0f) - 8) * scale;
                        dst[col + j + half] = (((v >> 4) & 0x0f) - 8) * scale;
                    }
                }
            }
        }
    }

    /** Items per task: a multiple of {@code multiple}, about 4 tasks per thread. */
    private static int chunk(int n, int threads, int multiple) {
        int per = (n + threads * 4 - 1) / (threads * 4);
        return Math.max(multiple, (per + multiple - 1) / multiple * multiple);
    }

    // ---- rows -----------------------------------------------------------------------------

    /** {@code a[aOff…]·b[bOff…]} over {@code n} elements, in a fixed order. */
    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int upper = F.loopBound(n);
        int k = 0;
        for (; k < upper; k += LANES) {
            acc = FloatVector.fromArray(F, a, aOff + k).fma(FloatVector.fromArray(F, b, bOff + k), acc);
        }
        float sum = CpuKernels.sumLanes(acc);
        for (; k < n; k++) {
            sum = Math.fma(a[aOff + k], b[bOff + k], sum);
        }
        return sum;
    }

    /** {@code y[yOff…] += alpha · x[xOff…]} over {@code n} elements. */
    static void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int n) {
        FloatVector va = FloatVector.broadcast(F, alpha);
        int upper = F.loopBound(n);
        int k = 0;
        for (; k < upper; k += LANES) {
            FloatVector.fromArray(F, x, xOff + k).fma(va, FloatVector.fromArray(F, y, yOff + k)).intoArray(y, yOff + k);
        }
        for (; k < n; k++) {
            y[yOff + k] = Math.fma(alpha, x[xOff + k], y[yOff + k]);
        }
    }

    /** {@code y[yOff…] += x[xOff…]}. */
    static void add(float[] x, int xOff, float[] y, int yOff, int n) {
        int upper = F.loopBound(n);
        int k = 0;
        for (; k < upper; k += LANES) {
            FloatVector.fromArray(F, y, yOff + k).add(FloatVector.fromArray(F, x, xOff + k)).intoArray(y, yOff + k);
        }
        for (; k < n; k++) {
            y[yOff + k] += x[xOff + k];
        }
    }

    /** {@code y = x · inv · g} over rows of {@code n}, {@code inv = 1/√(mean(x²) + eps)} saved per row. */
    static void rmsnormForward(float[] y, float[] inv, float[] x, float[] g, int rows, int n, float eps) {
        for (int t = 0; t < rows; t++) {
            int off = t * n;
            float r = (float) (1.0 / Math.sqrt(dot(x, off, x, off, n) / n + eps));
            inv[t] = r;
            FloatVector vr = FloatVector.broadcast(F, r);
            int upper = F.loopBound(n);
            int k = 0;
            for (; k < upper; k += LANES) {
                FloatVector.fromArray(F, x, off + k).mul(vr).mul(FloatVector.fromArray(F, g, k)).intoArray(y, off + k);
            }
            for (; k < n; k++) {
                y[off + k] = x[off + k] * r * g[k];
            }
        }
    }

    /** {@code dx += inv·g·dy − x·inv³/n · Σ dy·g·x} per row of {@code n}. */
    static void rmsnormBackward(float[] dx, float[] dy, float[] x, float[] inv, float[] g, int rows, int n) {
        int upper = F.loopBound(n);
        for (int t = 0; t < rows; t++) {
            int off = t * n;
            float r = inv[t];
            FloatVector acc = FloatVector.zero(F);
            int k = 0;
            for (; k < upper; k += LANES) {
                acc = FloatVector.fromArray(F, dy, off + k).mul(FloatVector.fromArray(F, g, k))
                        .fma(FloatVector.fromArray(F, x, off + k), acc);
            }
            float dot = CpuKernels.sumLanes(acc);
            for (; k < n; k++) {
                dot += dy[off + k] * g[k] * x[off + k];
            }
            float c = -dot * r * r * r / n;
            FloatVector vr = FloatVector.broadcast(F, r);
            FloatVector vc = FloatVector.broadcast(F, c);
            k = 0;
            for (; k < upper; k += LANES) {
                FloatVector d = FloatVector.fromArray(F, dx, off + k);
                d = FloatVector.fromArray(F, dy, off + k).mul(FloatVector.fromArray(F, g, k)).fma(vr, d);
                d = FloatVector.fromArray(F, x, off + k).fma(vc, d);
                d.intoArray(dx, off + k);
            }
            for (; k < n; k++) {
                dx[off + k] += r * g[k] * dy[off + k] + c * x[off + k];
            }
        }
    }
}
