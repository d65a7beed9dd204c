package io.loraplex.engine.train;

import io.loraplex.engine.backend.CpuKernels;
import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.Tensor;
import java.lang.foreign.Arena;
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

    /**
     * Tokens per block of the tiled kernel's input: the kernel streams its whole input once per four
     * rows of W, so a batch of a thousand tokens (megabytes) would come from memory hundreds of times
     * per projection; a block of 64 rows of up to a few thousand features stays in L2.
     */
    private static final int TOKEN_BLOCK = 64;

    /** y (T, out) = x (T, in) · Wᵀ (+ bias (out) when not null); split over row chunks of W, tokens in blocks. */
    static void linearForward(WorkerPool pool, float[] y, float[] x, int tokens, Tensor w, float[] bias) {
        int out = (int) w.dim(0);
        int in = (int) w.dim(1);
        int chunk = chunk(out, pool.threads(), 4);
        int tasks = (out + chunk - 1) / chunk;
        parallel(pool, tasks, (long) tokens * out * in, task -> {
            int start = task * chunk;
            int end = Math.min(out, start + chunk);
            float[] scratch = new float[4 * in];
            if (tokens <= TOKEN_BLOCK) {
                CpuKernels.matmul(x, in, tokens, w.data(), w.dtype(), in, start, end, y, out, 0, scratch);
                return;
            }
            float[] block = new float[TOKEN_BLOCK * in]; // (block, in) rows of x
            for (int t0 = 0; t0 < tokens; t0 += TOKEN_BLOCK) {
                int nt = Math.min(TOKEN_BLOCK, tokens - t0);
                System.arraycopy(x, t0 * in, block, 0, nt * in);
                CpuKernels.matmul(block, in, nt, w.data(), w.dtype(), in, start, end, y, out, t0 * out, scratch);
            }
        });
        if (bias != null) {
            for (int t = 0; t < tokens; t++) {
                add(bias, 0, y, t * out, out);
            }
        }
    }

    /** Columns of W packed per step of the backward: whole quantization blocks, whole 4-row tiles. */
    private static final int PANEL = 64;

    /** Each worker's packing buffer, native like the weights so the tiled kernel sees no heap segment. */
    private static final ThreadLocal<MemorySegment[]> PACKED = ThreadLocal.withInitial(() -> new MemorySegment[1]);

    /**
     * dx (T, in) += dy (T, out) · W, W {@code (out, in)} read in its stored layout and dtype. Each task
     * owns a column slice of dx; it packs W's columns one panel (64) at a time as rows
     * ({@code (64, out)}, dequantized, in a per-thread buffer of at most {@code 256·out} bytes) and
     * runs the serving backend's tiled kernel on them, {@code dx[t, c+j] += dy[t]·W[·, c+j]} (the
     * packing is GEMM's usual repacking: W is read once per call and no transposed copy of W is
     * kept). Each result is the kernel's fixed-order dot, whatever the batch-mates.
     */
    static void linearBackward(WorkerPool pool, float[] dx, float[] dy, int tokens, Tensor w) {
        int out = (int) w.dim(0);
        int in = (int) w.dim(1);
        int chunk = chunk(in, pool.threads(), PANEL);
        int tasks = (in + chunk - 1) / chunk;
        parallel(pool, tasks, (long) tokens * out * in, task -> {
            int c1 = Math.min(in, (task + 1) * chunk);
            MemorySegment packed = packingBuffer((long) PANEL * out * Float.BYTES); // (PANEL, out)
            float[] row = new float[PANEL];
            int block = Math.min(tokens, TOKEN_BLOCK);
            float[] dyBlock = tokens <= TOKEN_BLOCK ? dy : new float[block * out]; // (block, out) rows of dy
            float[] part = new float[block * PANEL];   // (block, PANEL)
            float[] scratch = new float[4 * out];
            for (int c = task * chunk; c < c1; c += PANEL) {
                int width = Math.min(PANEL, c1 - c);
                for (int o = 0; o < out; o++) {
                    decode(w, o, in, c, width, row, 0);
                    for (int j = 0; j < width; j++) {
                        packed.setAtIndex(F32, (long) j * out + o, row[j]);
                    }
                }
                for (int t0 = 0; t0 < tokens; t0 += block) {
                    int nt = Math.min(block, tokens - t0);
                    if (dyBlock != dy) {
                        System.arraycopy(dy, t0 * out, dyBlock, 0, nt * out);
                    }
                    CpuKernels.matmul(dyBlock, out, nt, packed, DType.F32, out, 0, width, part, PANEL, 0, scratch);
                    for (int t = 0; t < nt; t++) {
                        add(part, t * PANEL, dx, (t0 + t) * in + c, width);
                    }
                }
            }
        });
    }

    private static MemorySegment packingBuffer(long bytes) {
        MemorySegment[] held = PACKED.get();
        if (held[0] == null || held[0].byteSize() < bytes) {
            held[0] = Arena.ofAuto().allocate(bytes, 64);
        }
        return held[0];
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
