package io.loraplex.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Comparisons of logit vectors, with the tolerance stated by each caller. */
public final class LogitAsserts {

    private LogitAsserts() {
    }

    /** max |expected − actual| ≤ relTolerance · max(1, max |expected|). */
    public static void assertClose(float[] expected, float[] actual, double relTolerance, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        double scale = 1;
        for (float v : expected) {
            scale = Math.max(scale, Math.abs(v));
        }
        double worst = maxDiff(expected, actual);
        assertTrue(worst <= relTolerance * scale, what + ": max |diff| " + worst + " > " + relTolerance + " * " + scale);
    }

    public static void assertBitwise(float[] expected, float[] actual, String what) {
        assertArrayEquals(expected, actual, 0f, what);
    }

    public static double maxDiff(float[] a, float[] b) {
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }
}
