package io.loraplex.engine.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every backward of {@link Layers} and {@link FrozenLinear} against central finite differences in
 * float64 on small shapes. Each layer's output is reduced to a scalar {@code L = Σ r·out} with a
 * fixed random r, so r is the gradient of L with respect to the output.
 */
class LayersGradientTest {

    private static final double H = 1e-5;
    private static final WorkerPool POOL = new WorkerPool(2);

    @AfterAll
    static void close() {
        POOL.close();
    }

    static double[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = r.nextDouble(-1, 1);
        }
        return v;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    /**
     * Checks {@code analytic} against central differences of {@code loss} over every element of
     * {@code param}: relative error below 1e-6, with a floor of 1e-3 under the magnitudes so that
     * near-zero gradients are held to an absolute 1e-9 (the rounding of the differences).
     */
    static void check(String what, double[] param, double[] analytic, Supplier<Double> loss) {
        double worst = 0;
        for (int i = 0; i < param.length; i++) {
            double keep = param[i];
            param[i] = keep + H;
            double up = loss.get();
            param[i] = keep - H;
            double down = loss.get();
            param[i] = keep;
            double numeric = (up - down) / (2 * H);
            double err = Math.abs(numeric - analytic[i]) / (1e-3 + Math.abs(numeric) + Math.abs(analytic[i]));
            worst = Math.max(worst, err);
        }
        assertTrue(worst < 1e-6, what + ": worst relative error " + worst);
        assertTrue(dot(analytic, analytic) > 0, what + ": gradient is all zero, the check would be vacuous");
    }

    @Test
    void rmsnorm() {
        int t = 3, c = 8;
        double[] x = random(t * c, 1);
        float[] g = new float[c];
        for (int i = 0; i < c; i++) {
            g[i] = 0.5f + i * 0.1f;
        }
        double[] r = random(t * c, 2);
        Supplier<Double> loss = () -> {
            double[] y = new double[t * c];
            Layers.rmsnormForward(y, new double[t], x, g, t, c, 1e-5);
            return dot(r, y);
        };
        double[] inv = new double[t];
        Layers.rmsnormForward(new double[t * c], inv, x, g, t, c, 1e-5);
        double[] dx = new double[t * c];
        Layers.rmsnormBackward(dx, r, x, inv, g, t, c);
        check("rmsnorm dx", x, dx, loss);
    }

    @Test
    void rope() {
        int t = 4, heads = 2, hs = 6;
        double[] cos = new double[t * hs / 2];
        double[] sin = new double[t * hs / 2];
        Layers.ropeAngles(cos, sin, new double[] {1.0, 0.3, 0.01}, t);
        double[] x = random(t * heads * hs, 3);
        double[] r = random(x.length, 4);
        Supplier<Double> loss = () -> {
            double[] y = x.clone();
            Layers.ropeForward(y, cos, sin, t, heads, hs);
            return dot(r, y);
        };
        double[] dx = r.clone();
        Layers.ropeBackward(dx, cos, sin, t, heads, hs);
        check("rope dx", x, dx, loss);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 2})
    void attentionWithGqaAndCausalMask(int window) {
        int t = 5, nh = 4, nkv = 2, hs = 4;
        double[] q = random(t * nh * hs, 5);
        double[] k = random(t * nkv * hs, 6);
        double[] v = random(t * nkv * hs, 7);
        double[] r = random(t * nh * hs, 8);
        Supplier<Double> loss = () -> {
            double[] out = new double[t * nh * hs];
            Layers.attentionForward(out, new double[nh * t * t], q, k, v, t, nh, nkv, hs, window);
            return dot(r, out);
        };
        double[] probs = new double[nh * t * t];
        Layers.attentionForward(new double[t * nh * hs], probs, q, k, v, t, nh, nkv, hs, window);
        double[] dq = new double[q.length], dk = new double[k.length], dv = new double[v.length];
        Layers.attentionBackward(dq, dk, dv, r, probs, q, k, v, t, nh, nkv, hs, window);
        check("attention dq", q, dq, loss);
        check("attention dk", k, dk, loss);
        check("attention dv", v, dv, loss);
        // the causal mask: the first token's output does not depend on later keys
        assertEquals(0.0, probs[1], "token 0 must not attend to token 1");
    }

    @Test
    void swiglu() {
        int n = 12;
        double[] gate = random(n, 9);
        double[] up = random(n, 10);
        double[] r = random(n, 11);
        Supplier<Double> loss = () -> {
            double[] act = new double[n];
            Layers.swigluForward(act, gate, up, n);
            return dot(r, act);
        };
        double[] dGate = new double[n], dUp = new double[n];
        Layers.swigluBackward(dGate, dUp, r, gate, up, n);
        check("swiglu dgate", gate, dGate, loss);
        check("swiglu dup", up, dUp, loss);
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, 0.3})
    void loraShrinkExpandWithDropout(double p) {
        int t = 3, in = 6, out = 5, rank = 2;
        double scale = 1.7;
        double[] x = random(t * in, 12);
        double[] a = random(rank * in, 13);
        double[] b = random(out * rank, 14);
        double[] r = random(t * out, 15);
        boolean[] keep = new boolean[t * in];
        SplittableRandom rng = new SplittableRandom(16);
        for (int i = 0; i < keep.length; i++) {
            keep[i] = rng.nextDouble() >= p;
        }
        Supplier<Double> loss = () -> {
            double[] xd = new double[t * in];
            Layers.dropoutForward(xd, x, keep, p, t * in);
            double[] y = new double[t * out];
            Layers.loraForward(y, new double[t * rank], xd, a, b, t, in, out, rank, scale);
            return dot(r, y);
        };
        double[] xd = new double[t * in];
        Layers.dropoutForward(xd, x, keep, p, t * in);
        double[] shrunk = new double[t * rank];
        Layers.loraForward(new double[t * out], shrunk, xd, a, b, t, in, out, rank, scale);
        double[] dxd = new double[t * in], dA = new double[a.length], dB = new double[b.length], dx = new double[t * in];
        Layers.loraBackward(dxd, dA, dB, r, shrunk, xd, a, b, t, in, out, rank, scale);
        Layers.dropoutBackward(dx, dxd, keep, p, t * in);
        check("lora dA", a, dA, loss);
        check("lora dB", b, dB, loss);
        check("lora dx", x, dx, loss);
    }

    @Test
    void embedding() {
        int vocab = 7, c = 4;
        int[] tokens = {3, 1, 3, 6};
        double[] table = random(vocab * c, 17);
        double[] r = random(tokens.length * c, 18);
        Supplier<Double> loss = () -> {
            double[] x = new double[tokens.length * c];
            Layers.embeddingForward(x, tokens, tensor(table, vocab, c), c);
            return dot(r, x);
        };
        double[] dTable = new double[table.length];
        Layers.embeddingBackward(dTable, r, tokens, c);
        // the lookup reads float32 rows: the loss is linear in them, so differences of 1e-2 are exact enough
        double worst = 0;
        for (int i = 0; i < table.length; i++) {
            double keep = table[i];
            table[i] = keep + 1e-2;
            double up = loss.get();
            table[i] = keep - 1e-2;
            double down = loss.get();
            table[i] = keep;
            worst = Math.max(worst, Math.abs((up - down) / 2e-2 - dTable[i]));
        }
        assertTrue(worst < 1e-4, "embedding: worst error " + worst);
        assertEquals(r[0] + r[2 * c], dTable[3 * c], 1e-12, "a token seen twice gathers both gradients");
    }

    @Test
    void crossEntropy() {
        int rows = 3, vocab = 6;
        double[] logits = random(rows * vocab, 19);
        int[] targets = {2, 0, 5};
        Supplier<Double> loss = () -> Layers.crossEntropy(null, logits, targets, rows, vocab, 1);
        double[] d = new double[logits.length];
        double value = Layers.crossEntropy(d, logits, targets, rows, vocab, 1);
        check("cross-entropy dlogits", logits, d, loss);
        assertTrue(value > 0);
    }

    @Test
    void frozenLinearBackwardAndF32AgreesWithF64() {
        int t = 5, in = 40, out = 36;
        double[] wv = random(out * in, 20);
        Tensor w = tensor(wv, out, in);
        double[] x = random(t * in, 21);
        double[] r = random(t * out, 22);
        FrozenLinear f64 = new FrozenLinear(POOL, FrozenLinear.Precision.F64);
        FrozenLinear f32 = new FrozenLinear(POOL, FrozenLinear.Precision.F32);
        Supplier<Double> loss = () -> {
            double[] y = new double[t * out];
            f64.forward(y, x, w, null, t);
            return dot(r, y);
        };
        double[] dx = new double[t * in];
        f64.backward(dx, r, w, t);
        check("linear dx", x, dx, loss);

        double[] y64 = new double[t * out], y32 = new double[t * out];
        f64.forward(y64, x, w, null, t);
        f32.forward(y32, x, w, null, t);
        double[] dx32 = new double[t * in];
        f32.backward(dx32, r, w, t);
        for (int i = 0; i < y64.length; i++) {
            assertEquals(y64[i], y32[i], 1e-4 * (1 + Math.abs(y64[i])), "forward " + i);
        }
        for (int i = 0; i < dx.length; i++) {
            assertEquals(dx[i], dx32[i], 1e-4 * (1 + Math.abs(dx[i])), "backward " + i);
        }
    }

    /** A float32 tensor over {@code values} (narrowed), row-major. */
    static Tensor tensor(double[] values, long... shape) {
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) values[i];
        }
        return new Tensor("test", DType.F32, shape, MemorySegment.ofArray(f));
    }
}
