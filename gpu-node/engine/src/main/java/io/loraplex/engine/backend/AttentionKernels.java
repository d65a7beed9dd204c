package io.loraplex.engine.backend;

import io.loraplex.engine.kv.HostArena;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Causal GQA attention over the paged KV cache, for decode tokens and prompt chunks alike.
 *
 * <p>A unit of work is one <em>query block</em> (up to {@link #PREFILL_BLOCK} consecutive tokens of
 * one sequence: a decode token is a block of one) and one KV head. Its rows are the block's tokens ×
 * the {@code G = NH/NKV} query heads that read that KV head, in (token, head) order. The kernel is a
 * small blocked matmul: one pass over the KV head's key positions, each key loaded once and dotted
 * with every row that attends to it (rows four at a time, sharing the key's loads), each row's
 * softmax over its own positions, then one pass over the values accumulating every row's output
 * (four rows' accumulators kept in registers across positions).
 *
 * <p>Determinism: blocking changes only the loop order, never the arithmetic of one element. Each
 * score is {@link CpuKernels}'s fixed-order dot (one vector accumulator over chunks in order, the
 * fixed lane-sum tree, the tail with {@code fma}) of the row's query and the key; each row's max
 * and sum run over its own positions in ascending order; each output element is
 * {@code fma(v[j], p[j], acc)} over its positions in ascending order from zero. So a token's output
 * is the same bits whatever block it is in, however its prompt was chunked and whoever shares the
 * step, and the same bits as the per-(token, head) loop this replaced.
 */
final class AttentionKernels {

    /** Most tokens of one sequence in a query block: rows × positions of scores stay a few hundred KB. */
    static final int PREFILL_BLOCK = 16;

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int LANES = F.length();

    /**
     * What attention of one layer needs from the model config.
     *
     * @param window sliding window in positions (a token sees itself and the {@code window - 1}
     *               before it), or 0 for full attention
     * @param cap    Gemma 2's attention logit soft-cap, or 0 for none
     */
    record Shape(int heads, int kvHeads, int headDim, int window, float scale, float cap) {
        Shape {
            if (heads < 1 || kvHeads < 1 || heads % kvHeads != 0) {
                throw new IllegalArgumentException("heads (" + heads + ") must be a positive multiple of kv heads (" + kvHeads + ")");
            }
            if (headDim < 1 || window < 0) {
                throw new IllegalArgumentException("head size must be positive and window non-negative, got "
                        + headDim + " and " + window);
            }
        }

        int group() {
            return heads / kvHeads;
        }

        int qDim() {
            return heads * headDim;
        }

        /** The first position a token at {@code position} attends to. */
        int first(int position) {
            return window > 0 ? Math.max(0, position - window + 1) : 0;
        }
    }

    /** Per-thread buffers, grown on demand. */
    static final class Scratch {
        int[] qOff = new int[64], first = new int[64], last = new int[64]; // (rows)
        int[] keyOff = new int[256], valOff = new int[256];                // (span) by position - base
        float[] scores = new float[4096];                                  // (rows, span)
        final float[] dots = new float[4];                                 // (4) one dot4's results
        final float[] lanes = new float[LANES];                            // (LANES) dot4's sums, read back

        void ensure(int rows, int span) {
            if (qOff.length < rows) {
                qOff = new int[rows];
                first = new int[rows];
                last = new int[rows];
            }
            if (keyOff.length < span) {
                keyOff = new int[Math.max(span, keyOff.length * 2)];
                valOff = new int[keyOff.length];
            }
            if (scores.length < rows * span) {
                scores = new float[Math.max(rows * span, scores.length * 2)];
            }
        }
    }

    private AttentionKernels() {
    }

    /**
     * Splits a step's tokens into query blocks: runs of consecutive tokens of one sequence at
     * consecutive positions, at most {@code maxBlock} long. Returns {@code [start, end)} pairs.
     */
    static int[] queryBlocks(int[] sequence, int[] positions, int numTokens, int maxBlock) {
        int[] out = new int[2 * numTokens];
        int n = 0;
        for (int start = 0; start < numTokens; ) {
            int end = start + 1;
            while (end < numTokens && end - start < maxBlock && sequence[end] == sequence[start]
                    && positions[end] == positions[end - 1] + 1) {
                end++;
            }
            out[n++] = start;
            out[n++] = end;
            start = end;
        }
        return java.util.Arrays.copyOf(out, n);
    }

    /**
     * Attention of tokens {@code [tStart, tEnd)} (one sequence, consecutive positions, keys and
     * values of every position up to the last already stored) for KV head {@code kvHead}: reads
     * {@code q} (T, NH·HS), writes those heads' slices of {@code att} (T, NH·HS).
     */
    static void attendBlock(Shape s, HostArena kv, int layer, int[] table, int[] positions, int tStart, int tEnd,
            int kvHead, float[] q, float[] att, Scratch sc) {
        int hs = s.headDim();
        int group = s.group();
        int rows = (tEnd - tStart) * group;
        int base = s.first(positions[tStart]);
        int top = positions[tEnd - 1];
        int span = top - base + 1;
        sc.ensure(rows, span);
        int[] qOff = sc.qOff, first = sc.first, last = sc.last, keyOff = sc.keyOff, valOff = sc.valOff;
        for (int t = tStart, r = 0; t < tEnd; t++) {
            for (int g = 0; g < group; g++, r++) {
                qOff[r] = t * s.qDim() + (kvHead * group + g) * hs;
                first[r] = s.first(positions[t]) - base;
                last[r] = positions[t] - base;
            }
        }
        int headOff = kvHead * hs;
        for (int j = 0; j < span; j++) {
            keyOff[j] = kv.keyOffset(table, layer, base + j) + headOff;
            valOff[j] = kv.valueOffset(table, layer, base + j) + headOff;
        }
        float[] scores = sc.scores; // (rows, span), row r's position base + j at r·span + j
        scores(q, qOff, first, last, rows, kv.data, keyOff, span, hs, s.scale(), s.cap(), scores, sc.dots, sc.lanes);
        softmax(first, last, rows, span, scores);
        values(qOff, first, last, rows, kv.data, valOff, span, hs, scores, att);
    }

    /** Every row's scaled (and soft-capped) score for each of its positions: one pass over the keys. */
    private static void scores(float[] q, int[] qOff, int[] first, int[] last, int rows, float[] data, int[] keyOff,
            int span, int hs, float scale, float cap, float[] scores, float[] dots, float[] lanes) {
        for (int j = 0; j < span; j++) {
            int k = keyOff[j];
            int r = 0;
            for (; r + 4 <= rows; r += 4) {
                if (sees(first, last, r, j) && sees(first, last, r + 3, j) && sees(first, last, r + 1, j)
                        && sees(first, last, r + 2, j)) {
                    dot4(q, qOff[r], qOff[r + 1], qOff[r + 2], qOff[r + 3], data, k, hs, dots, lanes);
                    for (int i = 0; i < 4; i++) {
                        scores[(r + i) * span + j] = capped(dots[i] * scale, cap);
                    }
                } else {
                    for (int i = r; i < r + 4; i++) {
                        if (sees(first, last, i, j)) {
                            scores[i * span + j] = capped(dot(q, qOff[i], data, k, hs) * scale, cap);
                        }
                    }
                }
            }
            for (; r < rows; r++) {
                if (sees(first, last, r, j)) {
                    scores[r * span + j] = capped(dot(q, qOff[r], data, k, hs) * scale, cap);
                }
            }
        }
    }

    private static boolean sees(int[] first, int[] last, int r, int j) {
        return j >= first[r] && j <= last[r];
    }

    private static float capped(float score, float cap) {
        return cap != 0f ? cap * (float) Math.tanh(score / cap) : score;
    }

    /** Each row's scores become probabilities, over its own positions in ascending order. */
    private static void softmax(int[] first, int[] last, int rows, int span, float[] scores) {
        for (int r = 0; r < rows; r++) {
            int from = r * span + first[r];
            int to = r * span + last[r];
            float max = Float.NEGATIVE_INFINITY;
            for (int i = from; i <= to; i++) {
                max = Math.max(max, scores[i]);
            }
            float sum = 0;
            for (int i = from; i <= to; i++) {
                float e = (float) Math.exp(scores[i] - max);
                scores[i] = e;
                sum += e;
            }
            float inv = 1.0f / sum;
            for (int i = from; i <= to; i++) {
                scores[i] *= inv;
            }
        }
    }

    /**
     * Each row's output {@code Σ_j p[j]·v[j]}, ascending in {@code j}, from zero: rows four at a
     * time, each chunk of a value vector loaded once for the four, their accumulators in registers.
     */
    private static void values(int[] qOff, int[] first, int[] last, int rows, float[] data, int[] valOff, int span,
            int hs, float[] p, float[] att) {
        int upper = F.loopBound(hs);
        for (int r0 = 0; r0 < rows; r0 += 4) {
            int n = Math.min(4, rows - r0);
            int r1 = r0 + Math.min(1, n - 1), r2 = r0 + Math.min(2, n - 1), r3 = r0 + Math.min(3, n - 1);
            // a missing row repeats the last one: its range is empty here so it adds nothing
            int f0 = first[r0], l0 = last[r0];
            int f1 = n > 1 ? first[r1] : 1, l1 = n > 1 ? last[r1] : 0;
            int f2 = n > 2 ? first[r2] : 1, l2 = n > 2 ? last[r2] : 0;
            int f3 = n > 3 ? first[r3] : 1, l3 = n > 3 ? last[r3] : 0;
            int lo = Math.min(Math.min(f0, n > 1 ? f1 : f0), Math.min(n > 2 ? f2 : f0, n > 3 ? f3 : f0));
            int hi = Math.max(Math.max(l0, l1), Math.max(l2, l3));
            int p0 = r0 * span, p1 = r1 * span, p2 = r2 * span, p3 = r3 * span;
            // positions every row of the four sees run without range checks (all of a decode token's heads; most of a prompt block's)
            int commonLo = Math.max(Math.max(f0, n > 1 ? f1 : f0), Math.max(n > 2 ? f2 : f0, n > 3 ? f3 : f0));
            int commonHi = Math.min(Math.min(l0, n > 1 ? l1 : l0), Math.min(n > 2 ? l2 : l0, n > 3 ? l3 : l0));
            // (a missing row's accumulator takes the shared run too, but is never stored)
            if (commonLo > commonHi) {
                commonLo = hi + 1; // no shared run: the checked loop does all
                commonHi = hi;
            }
            int c = 0;
            // two chunks per sweep: a position's two adjacent lines are read together (fewer sweeps over the positions)
            for (; c + 2 * LANES <= upper; c += 2 * LANES) {
                FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
                for (int j = lo; j < commonLo; j++) {
                    FloatVector v = FloatVector.fromArray(F, data, valOff[j] + c);
                    FloatVector w = FloatVector.fromArray(F, data, valOff[j] + c + LANES);
                    if (j >= f0 && j <= l0) {
                        FloatVector pr = FloatVector.broadcast(F, p[p0 + j]);
                        a0 = v.fma(pr, a0);
                        b0 = w.fma(pr, b0);
                    }
                    if (j >= f1 && j <= l1) {
                        FloatVector pr = FloatVector.broadcast(F, p[p1 + j]);
                        a1 = v.fma(pr, a1);
                        b1 = w.fma(pr, b1);
                    }
                    if (j >= f2 && j <= l2) {
                        FloatVector pr = FloatVector.broadcast(F, p[p2 + j]);
                        a2 = v.fma(pr, a2);
                        b2 = w.fma(pr, b2);
                    }
                    if (j >= f3 && j <= l3) {
                        FloatVector pr = FloatVector.broadcast(F, p[p3 + j]);
                        a3 = v.fma(pr, a3);
                        b3 = w.fma(pr, b3);
                    }
                }
                for (int j = commonLo; j <= commonHi; j++) {
                    FloatVector v = FloatVector.fromArray(F, data, valOff[j] + c);
                    FloatVector w = FloatVector.fromArray(F, data, valOff[j] + c + LANES);
                    FloatVector pr0 = FloatVector.broadcast(F, p[p0 + j]);
                    a0 = v.fma(pr0, a0);
                    b0 = w.fma(pr0, b0);
                    FloatVector pr1 = FloatVector.broadcast(F, p[p1 + j]);
                    a1 = v.fma(pr1, a1);
                    b1 = w.fma(pr1, b1);
                    FloatVector pr2 = FloatVector.broadcast(F, p[p2 + j]);
                    a2 = v.fma(pr2, a2);
                    b2 = w.fma(pr2, b2);
                    FloatVector pr3 = FloatVector.broadcast(F, p[p3 + j]);
                    a3 = v.fma(pr3, a3);
                    b3 = w.fma(pr3, b3);
                }
                for (int j = Math.max(lo, commonHi + 1); j <= hi; j++) {
                    FloatVector v = FloatVector.fromArray(F, data, valOff[j] + c);
                    FloatVector w = FloatVector.fromArray(F, data, valOff[j] + c + LANES);
                    if (j >= f0 && j <= l0) {
                        FloatVector pr = FloatVector.broadcast(F, p[p0 + j]);
                        a0 = v.fma(pr, a0);
                        b0 = w.fma(pr, b0);
                    }
                    if (j >= f1 && j <= l1) {
                        FloatVector pr = FloatVector.broadcast(F, p[p1 + j]);
                        a1 = v.fma(pr, a1);
                        b1 = w.fma(pr, b1);
                    }
                    if (j >= f2 && j <= l2) {
                        FloatVector pr = FloatVector.broadcast(F, p[p2 + j]);
                        a2 = v.fma(pr, a2);
                        b2 = w.fma(pr, b2);
                    }
                    if (j >= f3 && j <= l3) {
                        FloatVector pr = FloatVector.broadcast(F, p[p3 + j]);
                        a3 = v.fma(pr, a3);
                        b3 = w.fma(pr, b3);
                    }
                }
                a0.intoArray(att, qOff[r0] + c);
                b0.intoArray(att, qOff[r0] + c + LANES);
                if (n > 1) {
                    a1.intoArray(att, qOff[r1] + c);
                    b1.intoArray(att, qOff[r1] + c + LANES);
                }
                if (n > 2) {
                    a2.intoArray(att, qOff[r2] + c);
                    b2.intoArray(att, qOff[r2] + c + LANES);
                }
                if (n > 3) {
                    a3.intoArray(att, qOff[r3] + c);
                    b3.intoArray(att, qOff[r3] + c + LANES);
                }
            }
            for (; c < upper; c += LANES) {
                FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
                // ascending j throughout: the checked head, the shared run, the checked tail
                for (int j = lo; j < commonLo; j++) {
                    FloatVector v = FloatVector.fromArray(F, data, valOff[j] + c);
                    if (j >= f0 && j <= l0) {
                        a0 = v.fma(FloatVector.broadcast(F, p[p0 + j]), a0);
                    }
                    if (j >= f1 && j <= l1) {
                        a1 = v.fma(FloatVector.broadcast(F, p[p1 + j]), a1);
                    }
                    if (j >= f2 && j <= l2) {
                        a2 = v.fma(FloatVector.broadcast(F, p[p2 + j]), a2);
                    }
                    if (j >= f3 && j <= l3) {
                        a3 = v.fma(FloatVector.broadcast(F, p[p3 + j]), a3);
                    }
                }
                for (int j = commonLo; j <= commonHi; j++) {
                    FloatVector v = FloatVector.fromArray(F, data, valOff[j] + c);
                    a0 = v.fma(FloatVector.broadcast(F, p[p0 + j]), a0);
                    a1 = v.fma(FloatVector.broadcast(F, p[p1 + j]), a1);
                    a2 = v.fma(FloatVector.broadcast(F, p[p2 + j]), a2);
                    a3 = v.fma(FloatVector.broadcast(F, p[p3 + j]), a3);
                }
                for (int j = Math.max(lo, commonHi + 1); j <= hi; j++) {
                    FloatVector v = FloatVector.fromArray(F, data, valOff[j] + c);
                    if (j >= f0 && j <= l0) {
                        a0 = v.fma(FloatVector.broadcast(F, p[p0 + j]), a0);
                    }
                    if (j >= f1 && j <= l1) {
                        a1 = v.fma(FloatVector.broadcast(F, p[p1 + j]), a1);
                    }
                    if (j >= f2 && j <= l2) {
                        a2 = v.fma(FloatVector.broadcast(F, p[p2 + j]), a2);
                    }
                    if (j >= f3 && j <= l3) {
                        a3 = v.fma(FloatVector.broadcast(F, p[p3 + j]), a3);
                    }
                }
                a0.intoArray(att, qOff[r0] + c);
                if (n > 1) {
                    a1.intoArray(att, qOff[r1] + c);
                }
                if (n > 2) {
                    a2.intoArray(att, qOff[r2] + c);
                }
                if (n > 3) {
                    a3.intoArray(att, qOff[r3] + c);
                }
            }
            for (int i = upper; i < hs; i++) {
                for (int r = r0; r < r0 + n; r++) {
                    float acc = 0;
                    for (int j = first[r]; j <= last[r]; j++) {
                        acc = Math.fma(p[r * span + j], data[valOff[j] + i], acc);
                    }
                    att[qOff[r] + i] = acc;
                }
            }
        }
    }

    // CpuKernels.sumLanes's tree (step s adds lane i and lane i ^ (LANES >> (s + 1))), as shuffles of this class
    private static final VectorShuffle<Float> SWAP8 = LANES >= 16 ? VectorShuffle.fromOp(F, i -> i ^ 8) : null;
    private static final VectorShuffle<Float> SWAP4 = LANES >= 8 ? VectorShuffle.fromOp(F, i -> i ^ 4) : null;
    private static final VectorShuffle<Float> SWAP2 = LANES >= 4 ? VectorShuffle.fromOp(F, i -> i ^ 2) : null;
    private static final VectorShuffle<Float> SWAP1 = LANES >= 2 ? VectorShuffle.fromOp(F, i -> i ^ 1) : null;
    private static final VectorShuffle<Float> FIRST_SWAP = LANES >= 16 ? SWAP8 : LANES >= 8 ? SWAP4 : LANES >= 4 ? SWAP2 : SWAP1;
    private static final VectorShuffle<Float> SECOND_SWAP = LANES >= 16 ? SWAP4 : LANES >= 8 ? SWAP2 : SWAP1;
    // lanes of the upper half, and of the upper half of each half: where dot4 blends a second sum in
    private static final VectorMask<Float> UPPER_HALF = VectorMask.fromLong(F, ((1L << (LANES / 2)) - 1) << (LANES / 2));
    private static final VectorMask<Float> UPPER_QUARTERS = VectorMask.fromLong(F,
            (((1L << (LANES / 4)) - 1) << (LANES / 4)) | (((1L << (LANES / 4)) - 1) << (3 * LANES / 4)));

    /**
     * {@link CpuKernels#dot}'s arithmetic exactly: one accumulator over chunks in order, the lane
     * sum by {@link CpuKernels#sumLanes}'s tree, an fma tail. The tree is written out here rather than
     * called: a vector handed to a method C2 does not inline loses its concrete class, and the
     * Vector API then runs its slow Java fallback.
     */
    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int upper = F.loopBound(n);
        int k = 0;
        for (; k < upper; k += LANES) {
            acc = FloatVector.fromArray(F, a, aOff + k).fma(FloatVector.fromArray(F, b, bOff + k), acc);
        }
        if (LANES >= 16) {
            acc = acc.add(acc.rearrange(SWAP8));
        }
        if (LANES >= 8) {
            acc = acc.add(acc.rearrange(SWAP4));
        }
        if (LANES >= 4) {
            acc = acc.add(acc.rearrange(SWAP2));
        }
        if (LANES >= 2) {
            acc = acc.add(acc.rearrange(SWAP1));
        }
        float sum = acc.lane(0);
        for (; k < n; k++) {
            sum = Math.fma(a[aOff + k], b[bOff + k], sum);
        }
        return sum;
    }

    /**
     * Four {@link #dot}s of four query rows with one key, same bits as four calls: the key's chunks
     * loaded once, and the four lane sums sharing shuffles. After the tree's first step a sum's
     * lanes {@code i} and {@code i + LANES/2} are equal, so two sums fit one vector (one in each
     * half, whose later steps never cross halves); after the second step, four.
     */
    static void dot4(float[] q, int o0, int o1, int o2, int o3, float[] key, int kOff, int n, float[] out, float[] lanes) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int upper = F.loopBound(n);
        int k = 0;
        for (; k < upper; k += LANES) {
            FloatVector kv = FloatVector.fromArray(F, key, kOff + k);
            a0 = FloatVector.fromArray(F, q, o0 + k).fma(kv, a0);
            a1 = FloatVector.fromArray(F, q, o1 + k).fma(kv, a1);
            a2 = FloatVector.fromArray(F, q, o2 + k).fma(kv, a2);
            a3 = FloatVector.fromArray(F, q, o3 + k).fma(kv, a3);
        }
        float s0, s1, s2, s3;
        if (LANES >= 4) {
            a0 = a0.add(a0.rearrange(FIRST_SWAP));
            a1 = a1.add(a1.rearrange(FIRST_SWAP));
            a2 = a2.add(a2.rearrange(FIRST_SWAP));
            a3 = a3.add(a3.rearrange(FIRST_SWAP));
            FloatVector x = a0.blend(a1, UPPER_HALF); // lower half: sum 0, upper: sum 1
            FloatVector y = a2.blend(a3, UPPER_HALF); // lower half: sum 2, upper: sum 3
            x = x.add(x.rearrange(SECOND_SWAP));
            y = y.add(y.rearrange(SECOND_SWAP));
            FloatVector z = x.blend(y, UPPER_QUARTERS); // quarters: sums 0, 2, 1, 3
            if (LANES >= 16) {
                z = z.add(z.rearrange(SWAP2));
            }
            if (LANES >= 8) {
                z = z.add(z.rearrange(SWAP1));
            }
            z.intoArray(lanes, 0); // read back as scalars: cheaper than four lane extracts
            s0 = lanes[0];
            s2 = lanes[LANES / 4];
            s1 = lanes[LANES / 2];
            s3 = lanes[3 * LANES / 4];
        } else {
            s0 = a0.add(a0.rearrange(SWAP1)).lane(0);
            s1 = a1.add(a1.rearrange(SWAP1)).lane(0);
            s2 = a2.add(a2.rearrange(SWAP1)).lane(0);
            s3 = a3.add(a3.rearrange(SWAP1)).lane(0);
        }
        for (; k < n; k++) {
            float kk = key[kOff + k];
            s0 = Math.fma(q[o0 + k], kk, s0);
            s1 = Math.fma(q[o1 + k], kk, s1);
            s2 = Math.fma(q[o2 + k], kk, s2);
            s3 = Math.fma(q[o3 + k], kk, s3);
        }
        out[0] = s0;
        out[1] = s1;
        out[2] = s2;
        out[3] = s3;
    }
}
