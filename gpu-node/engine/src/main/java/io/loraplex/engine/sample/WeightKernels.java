package io.loraplex.engine.sample;

/**
 * The loops over a whole vocabulary that dominate sampling time: max, {@code Σ exp(x - max)} and
 * weights {@code exp((x - max) · invT)}. Each has a scalar reference here; {@link VectorWeightKernels}
 * runs them with the Vector API (about 15× faster at V = 152k) when its module is present and
 * vectors are at least 256 bits wide; narrower or emulated vectors lose to the scalar loops.
 *
 * <p>A weight depends only on its own input, never on its position or neighbours (the vector path
 * computes tails with masks, not with scalar code), so recomputing the weight of a token always
 * gives the same float. The sampler relies on that when it weighs the same token twice.
 */
final class WeightKernels {

    static final boolean VECTOR = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
            && VectorWeightKernels.usable();

    private WeightKernels() {
    }

    /** The largest of {@code x[from .. from+n)}; NaN if any is NaN, -Infinity if n = 0. */
    static float max(float[] x, int from, int n) {
        return VECTOR ? VectorWeightKernels.max(x, from, n) : maxScalar(x, from, n);
    }

    /** {@code Σ exp(x[i] - max)} over {@code x[from .. from+n)}. */
    static double sumExp(float[] x, int from, int n, float max) {
        return VECTOR ? VectorWeightKernels.sumExp(x, from, n, max) : sumExpScalar(x, from, n, max);
    }

    /** {@code dst[to+j] = exp((src[from+j] - max) · invT)} for j < n; src and dst may be the same slice. */
    static void weights(float[] src, int from, float[] dst, int to, int n, float max, float invT) {
        if (VECTOR) {
            VectorWeightKernels.weights(src, from, dst, to, n, max, invT);
        } else {
            weightsScalar(src, from, dst, to, n, max, invT);
        }
    }

    /**
     * Replaces {@code x[0..n)} by their weights, zeroing those below {@code minWeight} (min-p), and
     * returns the sum of what is left.
     */
    static double weighInPlace(float[] x, int n, float max, float invT, float minWeight) {
        return VECTOR
                ? VectorWeightKernels.weighInPlace(x, n, max, invT, minWeight)
                : weighInPlaceScalar(x, n, max, invT, minWeight);
    }

    static float maxScalar(float[] x, int from, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = from; i < from + n; i++) {
            max = Math.max(max, x[i]);
        }
        return max;
    }

    static double sumExpScalar(float[] x, int from, int n, float max) {
        double sum = 0;
        for (int i = from; i < from + n; i++) {
            sum += Math.exp(x[i] - max);
        }
        return sum;
    }

    /** One weight; the float arithmetic of the argument mirrors the vector path's. */
    static float weightScalar(float x, float max, float invT) {
        return (float) Math.exp((x - max) * invT);
    }

    static void weightsScalar(float[] src, int from, float[] dst, int to, int n, float max, float invT) {
        for (int j = 0; j < n; j++) {
            dst[to + j] = weightScalar(src[from + j], max, invT);
        }
    }

    static double weighInPlaceScalar(float[] x, int n, float max, float invT, float minWeight) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float w = weightScalar(x[i], max, invT);
            x[i] = w < minWeight ? 0 : w;
            sum += x[i];
        }
        return sum;
    }
}
