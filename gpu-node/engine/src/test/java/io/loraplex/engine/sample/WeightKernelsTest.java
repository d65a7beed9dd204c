package io.loraplex.engine.sample;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The Vector API kernels against their scalar references over sizes that exercise the masked tail,
 * and the property the sampler relies on: a weight depends on its input only, not its position.
 */
class WeightKernelsTest {

    private static final int[] SIZES = {0, 1, 2, 7, 15, 16, 17, 31, 33, 100, 1023, 1025, 151_936};

    private static float[] logits(long seed, int n) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = random.nextInt(50) == 0 ? Float.NEGATIVE_INFINITY : (float) (4 * random.nextGaussian());
        }
        return x;
    }

    @Test
    void vectorMatchesScalar() {
        assumeTrue(WeightKernels.VECTOR, "the Vector API path is off on this machine (module absent or vectors "
                + "narrower than 256 bits); the scalar path is what runs");
        for (int n : SIZES) {
            float[] x = logits(n, n + 3);
            int from = 3; // a window into a larger (B, V) row, as the sampler reads it
            float max = WeightKernels.maxScalar(x, from, n);
            assertEquals(max, VectorWeightKernels.max(x, from, n), "max, n " + n);
            if (n == 0 || max == Float.NEGATIVE_INFINITY) {
                continue;
            }
            double sum = WeightKernels.sumExpScalar(x, from, n, max);
            assertEquals(sum, VectorWeightKernels.sumExp(x, from, n, max), 2e-7 * sum, "Σ exp, n " + n);

            float invT = 1 / 0.7f;
            float[] scalar = new float[n];
            float[] vector = new float[n];
            WeightKernels.weightsScalar(x, from, scalar, 0, n, max, invT);
            VectorWeightKernels.weights(x, from, vector, 0, n, max, invT);
            for (int i = 0; i < n; i++) {
                assertEquals(scalar[i], vector[i], 1e-6f * scalar[i], "weight " + i + " of " + n);
            }

            float minWeight = 0.01f;
            float[] inScalar = java.util.Arrays.copyOfRange(x, from, from + n);
            float[] inVector = inScalar.clone();
            double keptScalar = WeightKernels.weighInPlaceScalar(inScalar, n, max, invT, minWeight);
            double keptVector = VectorWeightKernels.weighInPlace(inVector, n, max, invT, minWeight);
            assertEquals(keptScalar, keptVector, 2e-7 * keptScalar, "kept mass, n " + n);
            for (int i = 0; i < n; i++) {
                if (Math.abs(scalar[i] - minWeight) > 1e-6f * minWeight) { // either side of the cut is fair at it
                    assertEquals(inScalar[i], inVector[i], 1e-6f * inScalar[i], "kept weight " + i + " of " + n);
                }
            }
        }
    }

    @Test
    void maxPropagatesNaN() {
        float[] x = logits(1, 100);
        x[57] = Float.NaN;
        assertEquals(Float.NaN, WeightKernels.max(x, 0, 100));
        assertEquals(Float.NaN, WeightKernels.maxScalar(x, 0, 100));
    }

    @Test
    void aWeightDependsOnItsInputOnly() {
        // The same values at every offset from 0 to 40, so each one passes through full vectors and tails.
        float[] values = logits(5, 200);
        float max = WeightKernels.max(values, 0, values.length);
        float invT = 1 / 1.3f;
        float[] reference = new float[values.length];
        WeightKernels.weights(values, 0, reference, 0, values.length, max, invT);
        for (int shift = 1; shift <= 40; shift++) {
            float[] shifted = new float[values.length + shift];
            System.arraycopy(values, 0, shifted, shift, values.length);
            for (int n : new int[] {values.length, 1, 13}) {
                float[] out = new float[n];
                WeightKernels.weights(shifted, shift, out, 0, n, max, invT);
                for (int i = 0; i < n; i++) {
                    assertEquals(Float.floatToIntBits(reference[i]), Float.floatToIntBits(out[i]),
                            "weight " + i + " at shift " + shift + ", slice of " + n);
                }
            }
        }
    }
}
