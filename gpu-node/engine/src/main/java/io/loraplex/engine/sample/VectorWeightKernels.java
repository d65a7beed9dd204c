package io.loraplex.engine.sample;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API path of {@link WeightKernels}, same contracts; loaded only when that class decides
 * to use it. Tails are done with masked vectors so that every element goes through the same
 * lane-wise exp. Float partial sums are folded into a double every {@link #FOLD} vectors, which
 * keeps {@code Σ exp} over 152k terms within about 1e-7 of the double sum.
 */
final class VectorWeightKernels {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int FOLD = 64;

    private VectorWeightKernels() {
    }

    static boolean usable() {
        return S.vectorBitSize() >= 256;
    }

    static float max(float[] x, int from, int n) {
        FloatVector acc = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int bound = S.loopBound(n);
        int i = 0;
        for (; i < bound; i += S.length()) {
            acc = acc.max(FloatVector.fromArray(S, x, from + i));
        }
        if (i < n) {
            VectorMask<Float> tail = S.indexInRange(i, n);
            acc = acc.lanewise(VectorOperators.MAX, FloatVector.fromArray(S, x, from + i, tail), tail);
        }
        return acc.reduceLanes(VectorOperators.MAX);
    }

    static double sumExp(float[] x, int from, int n, float max) {
        double total = 0;
        FloatVector acc = FloatVector.zero(S);
        int bound = S.loopBound(n);
        int i = 0;
        for (int folded = 0; i < bound; i += S.length()) {
            acc = acc.add(FloatVector.fromArray(S, x, from + i).sub(max).lanewise(VectorOperators.EXP));
            if (++folded == FOLD) {
                total += acc.reduceLanes(VectorOperators.ADD);
                acc = FloatVector.zero(S);
                folded = 0;
            }
        }
        if (i < n) {
            VectorMask<Float> tail = S.indexInRange(i, n);
            FloatVector e = FloatVector.fromArray(S, x, from + i, tail).sub(max).lanewise(VectorOperators.EXP);
            acc = acc.add(e, tail);
        }
        return total + acc.reduceLanes(VectorOperators.ADD);
    }

    static void weights(float[] src, int from, float[] dst, int to, int n, float max, float invT) {
        int bound = S.loopBound(n);
        int i = 0;
        for (; i < bound; i += S.length()) {
            weigh(FloatVector.fromArray(S, src, from + i), max, invT).intoArray(dst, to + i);
        }
        if (i < n) {
            VectorMask<Float> tail = S.indexInRange(i, n);
            weigh(FloatVector.fromArray(S, src, from + i, tail), max, invT).intoArray(dst, to + i, tail);
        }
    }

    static double weighInPlace(float[] x, int n, float max, float invT, float minWeight) {
        double total = 0;
        FloatVector acc = FloatVector.zero(S);
        FloatVector zero = FloatVector.zero(S);
        int bound = S.loopBound(n);
        int i = 0;
        for (int folded = 0; i < bound; i += S.length()) {
            FloatVector w = weigh(FloatVector.fromArray(S, x, i), max, invT);
            w = w.blend(zero, w.compare(VectorOperators.LT, minWeight));
            w.intoArray(x, i);
            acc = acc.add(w);
            if (++folded == FOLD) {
                total += acc.reduceLanes(VectorOperators.ADD);
                acc = FloatVector.zero(S);
                folded = 0;
            }
        }
        if (i < n) {
            VectorMask<Float> tail = S.indexInRange(i, n);
            FloatVector w = weigh(FloatVector.fromArray(S, x, i, tail), max, invT);
            w = w.blend(zero, w.compare(VectorOperators.LT, minWeight));
            w.intoArray(x, i, tail);
            acc = acc.add(w, tail);
        }
        return total + acc.reduceLanes(VectorOperators.ADD);
    }

    private static FloatVector weigh(FloatVector x, float max, float invT) {
        return x.sub(max).mul(invT).lanewise(VectorOperators.EXP);
    }
}
