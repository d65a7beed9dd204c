package io.loraplex.engine.backend;

import io.loraplex.engine.model.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API kernels of the CPU backend.
 *
 * <p>Determinism: every dot product {@code x·w} over {@code n} elements is computed the same way
 * wherever it appears: one vector accumulator over chunks of {@code LANES} in order, a lane sum by a
 * fixed shuffle tree ({@link #sumLanes}; {@code reduceLanes(ADD)} leaves its order unspecified), then
 * the tail in order with {@code fma}. Tiles compute 4 weight rows × 4 tokens at once for speed, but
 * each of the 16 results follows exactly that sequence, so a token's output never depends on which
 * other tokens share its tile.
 */
public final class CpuKernels {

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int LANES = F.length();
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    // quants of one float chunk: LANES bytes, read from a vector of at least 64 bits (the smallest shape)
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, LANES * 8)));
    private static final int BLOCK = DType.BLOCK;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    // the lane-sum tree: step s adds lane i and lane i ^ (LANES >> (s + 1)); unused steps are null
    private static final VectorShuffle<Float> SWAP8 = LANES >= 16 ? VectorShuffle.fromOp(F, i -> i ^ 8) : null;
    private static final VectorShuffle<Float> SWAP4 = LANES >= 8 ? VectorShuffle.fromOp(F, i -> i ^ 4) : null;
    private static final VectorShuffle<Float> SWAP2 = LANES >= 4 ? VectorShuffle.fromOp(F, i -> i ^ 2) : null;
    private static final VectorShuffle<Float> SWAP1 = LANES >= 2 ? VectorShuffle.fromOp(F, i -> i ^ 1) : null;

    private CpuKernels() {
    }

    /** The sum of a vector's lanes, in a fixed order whatever compiles it. */
    public static float sumLanes(FloatVector v) {
        if (LANES >= 16) {
            v = v.add(v.rearrange(SWAP8));
        }
        if (LANES >= 8) {
            v = v.add(v.rearrange(SWAP4));
        }
        if (LANES >= 4) {
            v = v.add(v.rearrange(SWAP2));
        }
        if (LANES >= 2) {
            v = v.add(v.rearrange(SWAP1));
        }
        return v.lane(0);
    }

    /**
     * {@code y[t·yStride + yOff + o] = x[t·xStride …]·W[o]} for tokens {@code [0, nTokens)} and rows
     * {@code [oStart, oEnd)} of a row-major {@code (out, n)} weight of dtype {@code dtype} in
     * {@code w}. F16 rows are widened into {@code scratch} (at least 4·n floats) first; Q8_0 and Q4_0
     * rows are read as they are, each chunk dequantized in registers ({@code q · scale}) and then
     * multiplied as f32, so a result is bit-identical to the dot of the dequantized row in the fixed
     * order ({@code n} is a multiple of 32, so there is no tail).
     */
    public static void matmul(float[] x, int xStride, int nTokens, MemorySegment w, DType dtype, int n,
            int oStart, int oEnd, float[] y, int yStride, int yOff, float[] scratch) {
        float[] res = new float[16];
        for (int o = oStart; o < oEnd; o += 4) {
            int nr = Math.min(4, oEnd - o);
            if (dtype == DType.F16) {
                // widened into a heap array and tiled by the array kernel: a heap segment here would make the
                // segment kernels see three segment classes and stop inlining their loads
                for (int r = 0; r < nr; r++) {
                    long base = (long) (o + r) * n;
                    for (int i = 0; i < n; i++) {
                        scratch[r * n + i] = Float.float16ToFloat(w.getAtIndex(U16, base + i));
                    }
                }
                for (int t = 0; t < nTokens; t += 4) {
                    int nt = Math.min(4, nTokens - t);
                    int x0 = t * xStride;
                    int x1 = nt > 1 ? x0 + xStride : x0;
                    int x2 = nt > 2 ? x0 + 2 * xStride : x0;
                    int x3 = nt > 3 ? x0 + 3 * xStride : x0;
                    tileArray(x, x0, x1, x2, x3, scratch, 0, nr > 1 ? n : 0, nr > 2 ? 2 * n : 0, nr > 3 ? 3 * n : 0, n, res);
                    scatter(res, y, t, nt, nr, yStride, yOff + o);
                }
                continue;
            }
            long rowBytes = dtype.rowBytes(n);
            long r0 = o * rowBytes;
            long r1 = nr > 1 ? r0 + rowBytes : r0;
            long r2 = nr > 2 ? r0 + 2 * rowBytes : r0;
            long r3 = nr > 3 ? r0 + 3 * rowBytes : r0;
            for (int t = 0; t < nTokens; t += 4) {
                int nt = Math.min(4, nTokens - t);
                int x0 = t * xStride;
                int x1 = nt > 1 ? x0 + xStride : x0;
                int x2 = nt > 2 ? x0 + 2 * xStride : x0;
                int x3 = nt > 3 ? x0 + 3 * xStride : x0;
                switch (dtype) {
                    case BF16 -> tileBf16(x, x0, x1, x2, x3, w, r0, r1, r2, r3, n, res);
                    // one token (decode): a 4 × 1 tile, the same order per result without three copies of the work
                    case Q8_0 -> {
                        if (nt == 1) {
                            tileQ8x1(x, x0, w, r0, r1, r2, r3, n, res);
                        } else {
                            tileQ8(x, x0, x1, x2, x3, w, r0, r1, r2, r3, n, res);
                        }
                    }
                    case Q4_0 -> {
                        if (nt == 1) {
                            tileQ4x1(x, x0, w, r0, r1, r2, r3, n, res);
                        } else {
                            tileQ4(x, x0, x1, x2, x3, w, r0, r1, r2, r3, n, res);
                        }
                    }
                    default -> tileF32(x, x0, x1, x2, x3, w, r0, r1, r2, r3, n, res);
                }
                scatter(res, y, t, nt, nr, yStride, yOff + o);
            }
        }
    }

    private static void scatter(float[] res, float[] y, int t, int nt, int nr, int yStride, int yCol) {
        for (int tt = 0; tt < nt; tt++) {
            int yBase = (t + tt) * yStride + yCol;
            for (int r = 0; r < nr; r++) {
                y[yBase + r] = res[r * 4 + tt];
            }
        }
    }

    /**
     * {@code y[t·R + r] = x[(start + t)·n …]·w[rows[r] …]} for {@code nTokens} tokens and the rows at
     * the given float offsets of {@code w} (adapter rows scattered over arena pages), each in the
     * fixed order of {@link #dot}.
     */
    static void matmulRows(float[] x, int n, int start, int nTokens, float[] w, int[] rows, int rowLength,
            float[] y, int yStride) {
        float[] res = new float[16];
        for (int o = 0; o < rows.length; o += 4) {
            int nr = Math.min(4, rows.length - o);
            int r0 = rows[o];
            int r1 = nr > 1 ? rows[o + 1] : r0;
            int r2 = nr > 2 ? rows[o + 2] : r0;
            int r3 = nr > 3 ? rows[o + 3] : r0;
            for (int t = 0; t < nTokens; t += 4) {
                int nt = Math.min(4, nTokens - t);
                int x0 = (start + t) * n;
                int x1 = nt > 1 ? x0 + n : x0;
                int x2 = nt > 2 ? x0 + 2 * n : x0;
                int x3 = nt > 3 ? x0 + 3 * n : x0;
                tileArray(x, x0, x1, x2, x3, w, r0, r1, r2, r3, rowLength, res);
                for (int tt = 0; tt < nt; tt++) {
                    for (int r = 0; r < nr; r++) {
                        y[(t + tt) * yStride + o + r] = res[r * 4 + tt];
                    }
                }
            }
        }
    }

    /** 4 rows × 4 tokens of f32 weights; {@code res[row·4 + token]}. */
    private static void tileF32(float[] x, int x0, int x1, int x2, int x3, MemorySegment w,
            long w0, long w1, long w2, long w3, int n, float[] res) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int upper = F.loopBound(n);
        int k = 0;
        for (; k < upper; k += LANES) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + k);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + k);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + k);
            FloatVector v3 = FloatVector.fromArray(F, x, x3 + k);
            long kb = (long) k * 4;
            FloatVector q = FloatVector.fromMemorySegment(F, w, w0 + kb, LE);
            a00 = v0.fma(q, a00); a01 = v1.fma(q, a01); a02 = v2.fma(q, a02); a03 = v3.fma(q, a03);
            q = FloatVector.fromMemorySegment(F, w, w1 + kb, LE);
            a10 = v0.fma(q, a10); a11 = v1.fma(q, a11); a12 = v2.fma(q, a12); a13 = v3.fma(q, a13);
            q = FloatVector.fromMemorySegment(F, w, w2 + kb, LE);
            a20 = v0.fma(q, a20); a21 = v1.fma(q, a21); a22 = v2.fma(q, a22); a23 = v3.fma(q, a23);
            q = FloatVector.fromMemorySegment(F, w, w3 + kb, LE);
            a30 = v0.fma(q, a30); a31 = v1.fma(q, a31); a32 = v2.fma(q, a32); a33 = v3.fma(q, a33);
        }
        // lane sums written out here: a helper taking the 16 vectors may not be inlined, and then boxes them
        res[0] = sumLanes(a00); res[1] = sumLanes(a01); res[2] = sumLanes(a02); res[3] = sumLanes(a03);
        res[4] = sumLanes(a10); res[5] = sumLanes(a11); res[6] = sumLanes(a12); res[7] = sumLanes(a13);
        res[8] = sumLanes(a20); res[9] = sumLanes(a21); res[10] = sumLanes(a22); res[11] = sumLanes(a23);
        res[12] = sumLanes(a30); res[13] = sumLanes(a31); res[14] = sumLanes(a32); res[15] = sumLanes(a33);
        for (; k < n; k++) {
            float f0 = w.get(F32, w0 + k * 4L), f1 = w.get(F32, w1 + k * 4L);
            float f2 = w.get(F32, w2 + k * 4L), f3 = w.get(F32, w3 + k * 4L);
            tail(res, x[x0 + k], x[x1 + k], x[x2 + k], x[x3 + k], f0, f1, f2, f3);
        }
    }

    /** 4 rows × 4 tokens of f32 weights in a heap array (adapter rows in the arena, widened f16 rows). */
    private static void tileArray(float[] x, int x0, int x1, int x2, int x3, float[] w,
            int w0, int w1, int w2, int w3, int n, float[] res) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int upper = F.loopBound(n);
        int k = 0;
        for (; k < upper; k += LANES) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + k);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + k);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + k);
            FloatVector v3 = FloatVector.fromArray(F, x, x3 + k);
            FloatVector q = FloatVector.fromArray(F, w, w0 + k);
            a00 = v0.fma(q, a00); a01 = v1.fma(q, a01); a02 = v2.fma(q, a02); a03 = v3.fma(q, a03);
            q = FloatVector.fromArray(F, w, w1 + k);
            a10 = v0.fma(q, a10); a11 = v1.fma(q, a11); a12 = v2.fma(q, a12); a13 = v3.fma(q, a13);
            q = FloatVector.fromArray(F, w, w2 + k);
            a20 = v0.fma(q, a20); a21 = v1.fma(q, a21); a22 = v2.fma(q, a22); a23 = v3.fma(q, a23);
            q = FloatVector.fromArray(F, w, w3 + k);
            a30 = v0.fma(q, a30); a31 = v1.fma(q, a31); a32 = v2.fma(q, a32); a33 = v3.fma(q, a33);
        }
        res[0] = sumLanes(a00); res[1] = sumLanes(a01); res[2] = sumLanes(a02); res[3] = sumLanes(a03);
        res[4] = sumLanes(a10); res[5] = sumLanes(a11); res[6] = sumLanes(a12); res[7] = sumLanes(a13);
        res[8] = sumLanes(a20); res[9] = sumLanes(a21); res[10] = sumLanes(a22); res[11] = sumLanes(a23);
        res[12] = sumLanes(a30); res[13] = sumLanes(a31); res[14] = sumLanes(a32); res[15] = sumLanes(a33);
        for (; k < n; k++) {
            tail(res, x[x0 + k], x[x1 + k], x[x2 + k], x[x3 + k], w[w0 + k], w[w1 + k], w[w2 + k], w[w3 + k]);
        }
    }

    /** 4 rows × 4 tokens of bf16 weights, widened in registers. */
    private static void tileBf16(float[] x, int x0, int x1, int x2, int x3, MemorySegment w,
            long w0, long w1, long w2, long w3, int n, float[] res) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        int upper = F.loopBound(n);
        int k = 0;
        for (; k < upper; k += LANES) {
            FloatVector v0 = FloatVector.fromArray(F, x, x0 + k);
            FloatVector v1 = FloatVector.fromArray(F, x, x1 + k);
            FloatVector v2 = FloatVector.fromArray(F, x, x2 + k);
            FloatVector v3 = FloatVector.fromArray(F, x, x3 + k);
            long kb = (long) k * 2;
            FloatVector q = widenBf16(w, w0 + kb);
            a00 = v0.fma(q, a00); a01 = v1.fma(q, a01); a02 = v2.fma(q, a02); a03 = v3.fma(q, a03);
            q = widenBf16(w, w1 + kb);
            a10 = v0.fma(q, a10); a11 = v1.fma(q, a11); a12 = v2.fma(q, a12); a13 = v3.fma(q, a13);
            q = widenBf16(w, w2 + kb);
            a20 = v0.fma(q, a20); a21 = v1.fma(q, a21); a22 = v2.fma(q, a22); a23 = v3.fma(q, a23);
            q = widenBf16(w, w3 + kb);
            a30 = v0.fma(q, a30); a31 = v1.fma(q, a31); a32 = v2.fma(q, a32); a33 = v3.fma(q, a33);
        }
        // lane sums written out here: a helper taking the 16 vectors may not be inlined, and then boxes them
        res[0] = sumLanes(a00); res[1] = sumLanes(a01); res[2] = sumLanes(a02); res[3] = sumLanes(a03);
        res[4] = sumLanes(a10); res[5] = sumLanes(a11); res[6] = sumLanes(a12); res[7] = sumLanes(a13);
        res[8] = sumLanes(a20); res[9] = sumLanes(a21); res[10] = sumLanes(a22); res[11] = sumLanes(a23);
        res[12] = sumLanes(a30); res[13] = sumLanes(a31); res[14] = sumLanes(a32); res[15] = sumLanes(a33);
        for (; k < n; k++) {
            float f0 = DType.bf16ToFloat(w.get(U16, w0 + k * 2L)), f1 = DType.bf16ToFloat(w.get(U16, w1 + k * 2L));
            float f2 = DType.bf16ToFloat(w.get(U16, w2 + k * 2L)), f3 = DType.bf16ToFloat(w.get(U16, w3 + k * 2L));
            tail(res, x[x0 + k], x[x1 + k], x[x2 + k], x[x3 + k], f0, f1, f2, f3);
        }
    }

    /**
     * 4 rows × 4 tokens of Q8_0 weights: block by block, each row's scale broadcast once, each chunk's
     * bytes widened and scaled in registers. The accumulation is {@link #tileF32}'s over the
     * dequantized row.
     */
    private static void tileQ8(float[] x, int x0, int x1, int x2, int x3, MemorySegment w,
            long w0, long w1, long w2, long w3, int n, float[] res) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        long s0 = w0 + n, s1 = w1 + n, s2 = w2 + n, s3 = w3 + n; // each row's scales follow its quants
        for (int b = 0; b < n / BLOCK; b++) {
            long sb = (long) b * Float.BYTES;
            FloatVector d0 = FloatVector.broadcast(F, w.get(F32, s0 + sb));
            FloatVector d1 = FloatVector.broadcast(F, w.get(F32, s1 + sb));
            FloatVector d2 = FloatVector.broadcast(F, w.get(F32, s2 + sb));
            FloatVector d3 = FloatVector.broadcast(F, w.get(F32, s3 + sb));
            for (int j = 0; j < BLOCK; j += LANES) {
                int k = b * BLOCK + j;
                FloatVector v0 = FloatVector.fromArray(F, x, x0 + k);
                FloatVector v1 = FloatVector.fromArray(F, x, x1 + k);
                FloatVector v2 = FloatVector.fromArray(F, x, x2 + k);
                FloatVector v3 = FloatVector.fromArray(F, x, x3 + k);
                FloatVector q = widenQ8(w, w0 + k).mul(d0);
                a00 = v0.fma(q, a00); a01 = v1.fma(q, a01); a02 = v2.fma(q, a02); a03 = v3.fma(q, a03);
                q = widenQ8(w, w1 + k).mul(d1);
                a10 = v0.fma(q, a10); a11 = v1.fma(q, a11); a12 = v2.fma(q, a12); a13 = v3.fma(q, a13);
                q = widenQ8(w, w2 + k).mul(d2);
                a20 = v0.fma(q, a20); a21 = v1.fma(q, a21); a22 = v2.fma(q, a22); a23 = v3.fma(q, a23);
                q = widenQ8(w, w3 + k).mul(d3);
                a30 = v0.fma(q, a30); a31 = v1.fma(q, a31); a32 = v2.fma(q, a32); a33 = v3.fma(q, a33);
            }
        }
        res[0] = sumLanes(a00); res[1] = sumLanes(a01); res[2] = sumLanes(a02); res[3] = sumLanes(a03);
        res[4] = sumLanes(a10); res[5] = sumLanes(a11); res[6] = sumLanes(a12); res[7] = sumLanes(a13);
        res[8] = sumLanes(a20); res[9] = sumLanes(a21); res[10] = sumLanes(a22); res[11] = sumLanes(a23);
        res[12] = sumLanes(a30); res[13] = sumLanes(a31); res[14] = sumLanes(a32); res[15] = sumLanes(a33);
    }

    /**
     * 4 rows × 4 tokens of Q4_0 weights, as {@link #tileQ8} with each chunk's nibbles unpacked in
     * registers: widened to ints first (x86 has no byte shift), shifted by 0 or 4, masked, less 8. The
     * unpacking is written out at each use: as a helper it was compiled on its own and then not
     * inlined, and the vectors it returned were boxed (int4 prefill ran at a sixth of int8's rate).
     */
    private static void tileQ4(float[] x, int x0, int x1, int x2, int x3, MemorySegment w,
            long w0, long w1, long w2, long w3, int n, float[] res) {
        FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00;
        FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00;
        FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        long s0 = w0 + n / 2, s1 = w1 + n / 2, s2 = w2 + n / 2, s3 = w3 + n / 2;
        for (int b = 0; b < n / BLOCK; b++) {
            long sb = (long) b * Float.BYTES;
            FloatVector d0 = FloatVector.broadcast(F, w.get(F32, s0 + sb));
            FloatVector d1 = FloatVector.broadcast(F, w.get(F32, s1 + sb));
            FloatVector d2 = FloatVector.broadcast(F, w.get(F32, s2 + sb));
            FloatVector d3 = FloatVector.broadcast(F, w.get(F32, s3 + sb));
            long qb = (long) b * (BLOCK / 2);
            for (int j = 0; j < BLOCK; j += LANES) {
                int k = b * BLOCK + j;
                long byteOff = qb + j % (BLOCK / 2); // elements j and j + 16 share a byte
                int shift = j >= BLOCK / 2 ? 4 : 0; // the high nibbles for the block's second half
                FloatVector v0 = FloatVector.fromArray(F, x, x0 + k);
                FloatVector v1 = FloatVector.fromArray(F, x, x1 + k);
                FloatVector v2 = FloatVector.fromArray(F, x, x2 + k);
                FloatVector v3 = FloatVector.fromArray(F, x, x3 + k);
                FloatVector q = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, w0 + byteOff, LE).convertShape(VectorOperators.B2I, I, 0))
                        .lanewise(VectorOperators.LSHR, shift).and(0x0f).sub(8).convert(VectorOperators.I2F, 0)).mul(d0);
                a00 = v0.fma(q, a00); a01 = v1.fma(q, a01); a02 = v2.fma(q, a02); a03 = v3.fma(q, a03);
                q = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, w1 + byteOff, LE).convertShape(VectorOperators.B2I, I, 0))
                        .lanewise(VectorOperators.LSHR, shift).and(0x0f).sub(8).convert(VectorOperators.I2F, 0)).mul(d1);
                a10 = v0.fma(q, a10); a11 = v1.fma(q, a11); a12 = v2.fma(q, a12); a13 = v3.fma(q, a13);
                q = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, w2 + byteOff, LE).convertShape(VectorOperators.B2I, I, 0))
                        .lanewise(VectorOperators.LSHR, shift).and(0x0f).sub(8).convert(VectorOperators.I2F, 0)).mul(d2);
                a20 = v0.fma(q, a20); a21 = v1.fma(q, a21); a22 = v2.fma(q, a22); a23 = v3.fma(q, a23);
                q = ((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, w3 + byteOff, LE).convertShape(VectorOperators.B2I, I, 0))
                        .lanewise(VectorOperators.LSHR, shift).and(0x0f).sub(8).convert(VectorOperators.I2F, 0)).mul(d3);
                a30 = v0.fma(q, a30); a31 = v1.fma(q, a31); a32 = v2.fma(q, a32); a33 = v3.fma(q, a33);
            }
        }
        res[0] = sumLanes(a00); res[1] = sumLanes(a01); res[2] = sumLanes(a02); res[3] = sumLanes(a03);
        res[4] = sumLanes(a10); res[5] = sumLanes(a11); res[6] = sumLanes(a12); res[7] = sumLanes(a13);
        res[8] = sumLanes(a20); res[9] = sumLanes(a21); res[10] = sumLanes(a22); res[11] = sumLanes(a23);
        res[12] = sumLanes(a30); res[13] = sumLanes(a31); res[14] = sumLanes(a32); res[15] = sumLanes(a33);
    }

    /** {@link #tileQ8} for one token: {@code res[row·4]}, the same sequence per result. */
    private static void tileQ8x1(float[] x, int x0, MemorySegment w, long w0, long w1, long w2, long w3, int n, float[] res) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long s0 = w0 + n, s1 = w1 + n, s2 = w2 + n, s3 = w3 + n;
        for (int b = 0; b < n / BLOCK; b++) {
            long sb = (long) b * Float.BYTES;
            FloatVector d0 = FloatVector.broadcast(F, w.get(F32, s0 + sb));
            FloatVector d1 = FloatVector.broadcast(F, w.get(F32, s1 + sb));
            FloatVector d2 = FloatVector.broadcast(F, w.get(F32, s2 + sb));
            FloatVector d3 = FloatVector.broadcast(F, w.get(F32, s3 + sb));
            for (int j = 0; j < BLOCK; j += LANES) {
                int k = b * BLOCK + j;
                FloatVector v = FloatVector.fromArray(F, x, x0 + k);
                a0 = v.fma(widenQ8(w, w0 + k).mul(d0), a0);
                a1 = v.fma(widenQ8(w, w1 + k).mul(d1), a1);
                a2 = v.fma(widenQ8(w, w2 + k).mul(d2), a2);
                a3 = v.fma(widenQ8(w, w3 + k).mul(d3), a3);
            }
        }
        res[0] = sumLanes(a0); res[4] = sumLanes(a1); res[8] = sumLanes(a2); res[12] = sumLanes(a3);
    }

    /** {@link #tileQ4} for one token: {@code res[row·4]}, the same sequence per result. */
    private static void tileQ4x1(float[] x, int x0, MemorySegment w, long w0, long w1, long w2, long w3, int n, float[] res) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long s0 = w0 + n / 2, s1 = w1 + n / 2, s2 = w2 + n / 2, s3 = w3 + n / 2;
        for (int b = 0; b < n / BLOCK; b++) {
            long sb = (long) b * Float.BYTES;
            FloatVector d0 = FloatVector.broadcast(F, w.get(F32, s0 + sb));
            FloatVector d1 = FloatVector.broadcast(F, w.get(F32, s1 + sb));
            FloatVector d2 = FloatVector.broadcast(F, w.get(F32, s2 + sb));
            FloatVector d3 = FloatVector.broadcast(F, w.get(F32, s3 + sb));
            long qb = (long) b * (BLOCK / 2);
            for (int j = 0; j < BLOCK; j += LANES) {
                int k = b * BLOCK + j;
                long byteOff = qb + j % (BLOCK / 2);
                int shift = j >= BLOCK / 2 ? 4 : 0; // the high nibbles for the block's second half
                FloatVector v = FloatVector.fromArray(F, x, x0 + k);
                a0 = v.fma(((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, w0 + byteOff, LE).convertShape(VectorOperators.B2I, I, 0))
                        .lanewise(VectorOperators.LSHR, shift).and(0x0f).sub(8).convert(VectorOperators.I2F, 0)).mul(d0), a0);
                a1 = v.fma(((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, w1 + byteOff, LE).convertShape(VectorOperators.B2I, I, 0))
                        .lanewise(VectorOperators.LSHR, shift).and(0x0f).sub(8).convert(VectorOperators.I2F, 0)).mul(d1), a1);
                a2 = v.fma(((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, w2 + byteOff, LE).convertShape(VectorOperators.B2I, I, 0))
                        .lanewise(VectorOperators.LSHR, shift).and(0x0f).sub(8).convert(VectorOperators.I2F, 0)).mul(d2), a2);
                a3 = v.fma(((FloatVector) ((IntVector) ByteVector.fromMemorySegment(B, w, w3 + byteOff, LE).convertShape(VectorOperators.B2I, I, 0))
                        .lanewise(VectorOperators.LSHR, shift).and(0x0f).sub(8).convert(VectorOperators.I2F, 0)).mul(d3), a3);
            }
        }
        res[0] = sumLanes(a0); res[4] = sumLanes(a1); res[8] = sumLanes(a2); res[12] = sumLanes(a3);
    }

    /**
     * {@code LANES} signed bytes at {@code byteOffset} as floats. Where a vector of LANES bytes is
     * below the smallest shape (4 lanes), 8 are read: they stay inside the row, whose scales follow.
     */
    private static FloatVector widenQ8(MemorySegment w, long byteOffset) {
        return (FloatVector) ByteVector.fromMemorySegment(B, w, byteOffset, LE).convertShape(VectorOperators.B2F, F, 0);
    }

    private static FloatVector widenBf16(MemorySegment w, long byteOffset) {
        return ShortVector.fromMemorySegment(S, w, byteOffset, LE)
                .convertShape(VectorOperators.S2I, I, 0)
                .reinterpretAsInts()
                .lanewise(VectorOperators.LSHL, 16)
                .reinterpretAsFloats();
    }

    private static void tail(float[] res, float v0, float v1, float v2, float v3, float f0, float f1, float f2, float f3) {
        res[0] = Math.fma(v0, f0, res[0]); res[1] = Math.fma(v1, f0, res[1]);
        res[2] = Math.fma(v2, f0, res[2]); res[3] = Math.fma(v3, f0, res[3]);
        res[4] = Math.fma(v0, f1, res[4]); res[5] = Math.fma(v1, f1, res[5]);
        res[6] = Math.fma(v2, f1, res[6]); res[7] = Math.fma(v3, f1, res[7]);
        res[8] = Math.fma(v0, f2, res[8]); res[9] = Math.fma(v1, f2, res[9]);
        res[10] = Math.fma(v2, f2, res[10]); res[11] = Math.fma(v3, f2, res[11]);
        res[12] = Math.fma(v0, f3, res[12]); res[13] = Math.fma(v1, f3, res[13]);
        res[14] = Math.fma(v2, f3, res[14]); res[15] = Math.fma(v3, f3, res[15]);
    }

    /** {@code a[aOff…]·b[bOff…]} over {@code n} elements, in the fixed order above. */
    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int upper = F.loopBound(n);
        int k = 0;
        for (; k < upper; k += LANES) {
            acc = FloatVector.fromArray(F, a, aOff + k).fma(FloatVector.fromArray(F, b, bOff + k), acc);
        }
        float sum = sumLanes(acc);
        for (; k < n; k++) {
            sum = Math.fma(a[aOff + k], b[bOff + k], sum);
        }
        return sum;
    }

    /**
     * The LoRA expand of {@code nTokens} tokens: {@code y[yOff + t·yStride + c] = fma(d, scale, y[…])}
     * where {@code d = Σ_r s[t·rank + r]·B[r][c]} as the fma chain over r ascending from 0, B's rows at
     * {@code bRows[r]} in {@code b}: exactly what one token's {@code axpy} per rank into a zeroed
     * delta, then one {@code axpy} of the delta into y, gives. Tiles of 6 tokens × 4 vectors of
     * columns read each B row once per tile instead of once per token; the tokens after the last
     * whole tile (a lone decode token: all of it) and the columns past the last whole 4-vector block
     * take that per-token path ({@code delta}: at least {@code outDim} floats).
     */
    static void expand(float[] s, int rank, int nTokens, float[] b, int[] bRows, int outDim, float scale,
            float[] y, int yOff, int yStride, float[] delta) {
        int wide = outDim / (4 * LANES) * (4 * LANES);
        int tiled = nTokens / 6 * 6; // whole tiles; the last few tokens (a decode token: all) take the per-token path
        FloatVector vs = FloatVector.broadcast(F, scale);
        for (int t0 = 0; t0 < tiled; t0 += 6) {
            int nt = 6;
            int s0 = t0 * rank;
            int s1 = s0 + Math.min(1, nt - 1) * rank, s2 = s0 + Math.min(2, nt - 1) * rank;
            int s3 = s0 + Math.min(3, nt - 1) * rank, s4 = s0 + Math.min(4, nt - 1) * rank;
            int s5 = s0 + Math.min(5, nt - 1) * rank;
            for (int c = 0; c < wide; c += 4 * LANES) {
                FloatVector a00 = FloatVector.zero(F), a01 = a00, a02 = a00, a03 = a00, a04 = a00, a05 = a00;
                FloatVector a10 = a00, a11 = a00, a12 = a00, a13 = a00, a14 = a00, a15 = a00;
                FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00, a24 = a00, a25 = a00;
                FloatVector a30 = a00, a31 = a00, a32 = a00, a33 = a00, a34 = a00, a35 = a00;
                for (int r = 0; r < rank; r++) {
                    int row = bRows[r] + c;
                    FloatVector w0 = FloatVector.fromArray(F, b, row);
                    FloatVector w1 = FloatVector.fromArray(F, b, row + LANES);
                    FloatVector w2 = FloatVector.fromArray(F, b, row + 2 * LANES);
                    FloatVector w3 = FloatVector.fromArray(F, b, row + 3 * LANES);
                    FloatVector v = FloatVector.broadcast(F, s[s0 + r]);
                    a00 = w0.fma(v, a00); a10 = w1.fma(v, a10); a20 = w2.fma(v, a20); a30 = w3.fma(v, a30);
                    v = FloatVector.broadcast(F, s[s1 + r]);
                    a01 = w0.fma(v, a01); a11 = w1.fma(v, a11); a21 = w2.fma(v, a21); a31 = w3.fma(v, a31);
                    v = FloatVector.broadcast(F, s[s2 + r]);
                    a02 = w0.fma(v, a02); a12 = w1.fma(v, a12); a22 = w2.fma(v, a22); a32 = w3.fma(v, a32);
                    v = FloatVector.broadcast(F, s[s3 + r]);
                    a03 = w0.fma(v, a03); a13 = w1.fma(v, a13); a23 = w2.fma(v, a23); a33 = w3.fma(v, a33);
                    v = FloatVector.broadcast(F, s[s4 + r]);
                    a04 = w0.fma(v, a04); a14 = w1.fma(v, a14); a24 = w2.fma(v, a24); a34 = w3.fma(v, a34);
                    v = FloatVector.broadcast(F, s[s5 + r]);
                    a05 = w0.fma(v, a05); a15 = w1.fma(v, a15); a25 = w2.fma(v, a25); a35 = w3.fma(v, a35);
                }
                // token by token into y (a repeated last token is not written twice)
                int y0 = yOff + t0 * yStride + c;
                addScaled(a00, a10, a20, a30, vs, y, y0);
                if (nt > 1) addScaled(a01, a11, a21, a31, vs, y, y0 + yStride);
                if (nt > 2) addScaled(a02, a12, a22, a32, vs, y, y0 + 2 * yStride);
                if (nt > 3) addScaled(a03, a13, a23, a33, vs, y, y0 + 3 * yStride);
                if (nt > 4) addScaled(a04, a14, a24, a34, vs, y, y0 + 4 * yStride);
                if (nt > 5) addScaled(a05, a15, a25, a35, vs, y, y0 + 5 * yStride);
            }
        }
        for (int t = 0; t < nTokens; t++) {
            int from = t < tiled ? wide : 0;
            int rest = outDim - from;
            if (rest == 0) {
                continue;
            }
            java.util.Arrays.fill(delta, 0, rest, 0f);
            for (int r = 0; r < rank; r++) {
                axpy(s[t * rank + r], b, bRows[r] + from, delta, 0, rest);
            }
            axpy(scale, delta, 0, y, yOff + t * yStride + from, rest);
        }
    }

    /** {@code y[off + i·LANES …] = fma(a_i, scale, y[…])} for the four vectors of one token's columns. */
    private static void addScaled(FloatVector a0, FloatVector a1, FloatVector a2, FloatVector a3, FloatVector scale,
            float[] y, int off) {
        a0.fma(scale, FloatVector.fromArray(F, y, off)).intoArray(y, off);
        a1.fma(scale, FloatVector.fromArray(F, y, off + LANES)).intoArray(y, off + LANES);
        a2.fma(scale, FloatVector.fromArray(F, y, off + 2 * LANES)).intoArray(y, off + 2 * LANES);
        a3.fma(scale, FloatVector.fromArray(F, y, off + 3 * LANES)).intoArray(y, off + 3 * LANES);
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

    /** {@code out = x / sqrt(mean(x²) + eps) · weight} for one row of {@code n}. */
    static void rmsnorm(float[] x, int xOff, float[] weight, float eps, float[] out, int outOff, int n) {
        float ss = dot(x, xOff, x, xOff, n);
        float inv = (float) (1.0 / Math.sqrt(ss / n + eps));
        FloatVector vInv = FloatVector.broadcast(F, inv);
        int upper = F.loopBound(n);
        int k = 0;
        for (; k < upper; k += LANES) {
            FloatVector.fromArray(F, x, xOff + k).mul(vInv).mul(FloatVector.fromArray(F, weight, k)).intoArray(out, outOff + k);
        }
        for (; k < n; k++) {
            out[outOff + k] = x[xOff + k] * inv * weight[k];
        }
    }

    /** {@code gate[i] = silu(gate[i]) · up[i]}. */
    static void swiglu(float[] gate, float[] up, int off, int n) {
        for (int i = off; i < off + n; i++) {
            float g = gate[i];
            gate[i] = g / (1.0f + (float) Math.exp(-g)) * up[i];
        }
    }

    /** {@code gate[i] = gelu_tanh(gate[i]) · up[i]} (GeGLU), gelu in double as the reference backend's. */
    static void geglu(float[] gate, float[] up, int off, int n) {
        for (int i = off; i < off + n; i++) {
            gate[i] = ReferenceBackend.geluTanh(gate[i]) * up[i];
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
}
