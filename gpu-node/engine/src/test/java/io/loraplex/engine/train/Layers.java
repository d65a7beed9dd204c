package io.loraplex.engine.train;

import io.loraplex.engine.model.Tensor;

/**
 * The float64 reference layers (test scope; {@link BatchTrainingModel} holds their float32
 * production versions): the layers of a Llama-family decoder as forward/backward pairs of plain float64 functions
 * (outputs, then inputs, then sizes), llm.c style. Backward functions add into their gradient
 * arguments, so contributions of several paths accumulate. The frozen projections live in
 * {@link FrozenLinear}.
 */
final class Layers {

    private Layers() {
    }

    // ---- embedding ------------------------------------------------------------------------

    /** {@code x[t] = embed[tokens[t]]}; x (T, C), embed (V, C). */
    static void embeddingForward(double[] x, int[] tokens, Tensor embed, int c) {
        float[] row = new float[c];
        for (int t = 0; t < tokens.length; t++) {
            embed.copyTo((long) tokens[t] * c, row, 0, c);
            for (int i = 0; i < c; i++) {
                x[t * c + i] = row[i];
            }
        }
    }

    /** {@code dEmbed[tokens[t]] += dx[t]}; dEmbed (V, C), dx (T, C). */
    static void embeddingBackward(double[] dEmbed, double[] dx, int[] tokens, int c) {
        for (int t = 0; t < tokens.length; t++) {
            for (int i = 0; i < c; i++) {
                dEmbed[tokens[t] * c + i] += dx[t * c + i];
            }
        }
    }

    // ---- RMSNorm --------------------------------------------------------------------------

    /** {@code y = x · inv · g} with {@code inv = 1/√(mean(x²) + eps)} per row; y, x (T, C), inv (T), g (C). */
    static void rmsnormForward(double[] y, double[] inv, double[] x, float[] g, int tokens, int c, double eps) {
        for (int t = 0; t < tokens; t++) {
            double ss = 0;
            for (int i = 0; i < c; i++) {
                ss += x[t * c + i] * x[t * c + i];
            }
            double r = 1.0 / Math.sqrt(ss / c + eps);
            inv[t] = r;
            for (int i = 0; i < c; i++) {
                y[t * c + i] = x[t * c + i] * r * g[i];
            }
        }
    }

    /** {@code dx += inv·g·dy − x·inv³/C · Σ dy·g·x} per row. */
    static void rmsnormBackward(double[] dx, double[] dy, double[] x, double[] inv, float[] g, int tokens, int c) {
        for (int t = 0; t < tokens; t++) {
            double r = inv[t];
            double dot = 0;
            for (int i = 0; i < c; i++) {
                dot += dy[t * c + i] * g[i] * x[t * c + i];
            }
            double k = dot * r * r * r / c;
            for (int i = 0; i < c; i++) {
                dx[t * c + i] += r * g[i] * dy[t * c + i] - x[t * c + i] * k;
            }
        }
    }

    // ---- RoPE -----------------------------------------------------------------------------

    /** cos and sin (T, HS/2) of positions 0..T-1 for the given per-pair frequencies. */
    static void ropeAngles(double[] cos, double[] sin, double[] invFreq, int tokens) {
        ropeAngles(cos, sin, invFreq, tokens, 1.0);
    }

    /** As {@link #ropeAngles(double[], double[], double[], int)}, cos and sin times {@code scale} (LongRoPE's attention factor). */
    static void ropeAngles(double[] cos, double[] sin, double[] invFreq, int tokens, double scale) {
        int half = invFreq.length;
        for (int t = 0; t < tokens; t++) {
            for (int i = 0; i < half; i++) {
                double angle = t * invFreq[i];
                cos[t * half + i] = Math.cos(angle) * scale;
                sin[t * half + i] = Math.sin(angle) * scale;
            }
        }
    }

    /** Rotates every head of x (T, heads·HS) in place, rotate-half convention (see {@code Rope}). */
    static void ropeForward(double[] x, double[] cos, double[] sin, int tokens, int heads, int hs) {
        rotate(x, cos, sin, tokens, heads, hs, hs, 1);
    }

    /** Rotates the first {@code rotary} dims of every head (a partial rotary factor); the rest pass through. */
    static void ropeForward(double[] x, double[] cos, double[] sin, int tokens, int heads, int hs, int rotary) {
        rotate(x, cos, sin, tokens, heads, hs, rotary, 1);
    }

    /** The gradient of {@link #ropeForward(double[], double[], double[], int, int, int, int)}. */
    static void ropeBackward(double[] dx, double[] cos, double[] sin, int tokens, int heads, int hs, int rotary) {
        rotate(dx, cos, sin, tokens, heads, hs, rotary, -1);
    }

    /** The transposed rotation of dx in place: the gradient of a rotation is the rotation back. */
    static void ropeBackward(double[] dx, double[] cos, double[] sin, int tokens, int heads, int hs) {
        rotate(dx, cos, sin, tokens, heads, hs, hs, -1);
    }

    private static void rotate(double[] x, double[] cos, double[] sin, int tokens, int heads, int hs, int rotary, int sign) {
        int half = rotary / 2;
        for (int t = 0; t < tokens; t++) {
            for (int h = 0; h < heads; h++) {
                int off = (t * heads + h) * hs;
                for (int i = 0; i < half; i++) {
                    double a = x[off + i];
                    double b = x[off + i + half];
                    double c = cos[t * half + i];
                    double s = sign * sin[t * half + i];
                    x[off + i] = a * c - b * s;
                    x[off + i + half] = b * c + a * s;
                }
            }
        }
    }

    // ---- attention ------------------------------------------------------------------------

    /**
     * Causal GQA attention of one sequence: query head h reads KV head {@code h / (NH/NKV)}, token i
     * attends to {@code max(0, i−window+1)..i} (window 0: all).
     *
     * @param out   (T, NH·HS)
     * @param probs (NH, T, T) the softmax, saved for the backward; zero outside the causal window
     * @param q     (T, NH·HS)
     * @param k     (T, NKV·HS)
     * @param v     (T, NKV·HS)
     */
    static void attentionForward(double[] out, double[] probs, double[] q, double[] k, double[] v, int tokens, int nh,
            int nkv, int hs, int window) {
        attentionForward(out, probs, q, k, v, tokens, nh, nkv, hs, window, 1.0 / Math.sqrt(hs), 0);
    }

    /**
     * As above with the scores {@code q·k·scale}, soft-capped {@code cap·tanh(s/cap)} before the
     * softmax when {@code cap} is not 0 (Gemma's query_pre_attn_scalar and attn_logit_softcapping).
     */
    static void attentionForward(double[] out, double[] probs, double[] q, double[] k, double[] v, int tokens, int nh,
            int nkv, int hs, int window, double scale, double cap) {
        int group = nh / nkv;
        java.util.Arrays.fill(out, 0, tokens * nh * hs, 0);
        java.util.Arrays.fill(probs, 0, nh * tokens * tokens, 0);
        for (int h = 0; h < nh; h++) {
            int kvh = h / group;
            for (int i = 0; i < tokens; i++) {
                int first = window > 0 ? Math.max(0, i - window + 1) : 0;
                int row = (h * tokens + i) * tokens;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = first; j <= i; j++) {
                    double dot = 0;
                    for (int d = 0; d < hs; d++) {
                        dot += q[(i * nh + h) * hs + d] * k[(j * nkv + kvh) * hs + d];
                    }
                    probs[row + j] = cap == 0 ? dot * scale : cap * Math.tanh(dot * scale / cap);
                    max = Math.max(max, probs[row + j]);
                }
                double sum = 0;
                for (int j = first; j <= i; j++) {
                    probs[row + j] = Math.exp(probs[row + j] - max);
                    sum += probs[row + j];
                }
                for (int j = first; j <= i; j++) {
                    double p = probs[row + j] / sum;
                    probs[row + j] = p;
                    for (int d = 0; d < hs; d++) {
                        out[(i * nh + h) * hs + d] += p * v[(j * nkv + kvh) * hs + d];
                    }
                }
            }
        }
    }

    /** Adds the gradients of q, k and v given dOut (T, NH·HS) and the saved probabilities. */
    static void attentionBackward(double[] dq, double[] dk, double[] dv, double[] dOut, double[] probs, double[] q,
            double[] k, double[] v, int tokens, int nh, int nkv, int hs, int window) {
        attentionBackward(dq, dk, dv, dOut, probs, q, k, v, tokens, nh, nkv, hs, window, 1.0 / Math.sqrt(hs), 0);
    }

    /** The backward of the scaled, soft-capped attention: the cap's {@code 1 − tanh²} from the recomputed score. */
    static void attentionBackward(double[] dq, double[] dk, double[] dv, double[] dOut, double[] probs, double[] q,
            double[] k, double[] v, int tokens, int nh, int nkv, int hs, int window, double scale, double cap) {
        int group = nh / nkv;
        double[] dp = new double[tokens]; // (T) one row of dL/dP
        for (int h = 0; h < nh; h++) {
            int kvh = h / group;
            for (int i = 0; i < tokens; i++) {
                int first = window > 0 ? Math.max(0, i - window + 1) : 0;
                int row = (h * tokens + i) * tokens;
                int oOff = (i * nh + h) * hs;
                double rowDot = 0;
                for (int j = first; j <= i; j++) {
                    int vOff = (j * nkv + kvh) * hs;
                    double g = 0;
                    for (int d = 0; d < hs; d++) {
                        g += dOut[oOff + d] * v[vOff + d];
                        dv[vOff + d] += probs[row + j] * dOut[oOff + d];
                    }
                    dp[j] = g;
                    rowDot += probs[row + j] * g;
                }
                for (int j = first; j <= i; j++) {
                    double ds = probs[row + j] * (dp[j] - rowDot) * scale;
                    int kOff = (j * nkv + kvh) * hs;
                    if (cap != 0) {
                        double dot = 0;
                        for (int d = 0; d < hs; d++) {
                            dot += q[oOff + d] * k[kOff + d];
                        }
                        double t = Math.tanh(dot * scale / cap);
                        ds *= 1 - t * t;
                    }
                    for (int d = 0; d < hs; d++) {
                        dq[oOff + d] += ds * k[kOff + d];
                        dk[kOff + d] += ds * q[oOff + d];
                    }
                }
            }
        }
    }

    // ---- SwiGLU ---------------------------------------------------------------------------

    /** {@code act = silu(gate) · up} over n elements. */
    static void swigluForward(double[] act, double[] gate, double[] up, int n) {
        for (int i = 0; i < n; i++) {
            double g = gate[i];
            act[i] = g / (1 + Math.exp(-g)) * up[i];
        }
    }

    /** {@code dGate += dAct·up·silu'(gate)}, {@code dUp += dAct·silu(gate)}. */
    static void swigluBackward(double[] dGate, double[] dUp, double[] dAct, double[] gate, double[] up, int n) {
        for (int i = 0; i < n; i++) {
            double g = gate[i];
            double sig = 1 / (1 + Math.exp(-g));
            dGate[i] += dAct[i] * up[i] * sig * (1 + g * (1 - sig));
            dUp[i] += dAct[i] * g * sig;
        }
    }

    /** {@code act = gelu_tanh(gate)·up} (GeGLU), gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
    static void gegluForward(double[] act, double[] gate, double[] up, int n) {
        for (int i = 0; i < n; i++) {
            double g = gate[i];
            act[i] = 0.5 * g * (1 + Math.tanh(GELU_K * (g + 0.044715 * g * g * g))) * up[i];
        }
    }

    /** {@code dGate += dAct·up·gelu_tanh'(gate)}, {@code dUp += dAct·gelu_tanh(gate)}. */
    static void gegluBackward(double[] dGate, double[] dUp, double[] dAct, double[] gate, double[] up, int n) {
        for (int i = 0; i < n; i++) {
            double g = gate[i];
            double t = Math.tanh(GELU_K * (g + 0.044715 * g * g * g));
            double gelu = 0.5 * g * (1 + t);
            double dGelu = 0.5 * (1 + t) + 0.5 * g * (1 - t * t) * GELU_K * (1 + 3 * 0.044715 * g * g);
            dGate[i] += dAct[i] * up[i] * dGelu;
            dUp[i] += dAct[i] * gelu;
        }
    }

    private static final double GELU_K = Math.sqrt(2 / Math.PI);

    /** {@code x = cap·tanh(x/cap)} in place (Gemma 2's final logit soft-cap). */
    static void softcapForward(double[] x, int n, double cap) {
        for (int i = 0; i < n; i++) {
            x[i] = cap * Math.tanh(x[i] / cap);
        }
    }

    /** {@code dx = dy·(1 − (y/cap)²)} in place, from the capped output y. */
    static void softcapBackward(double[] d, double[] y, int n, double cap) {
        for (int i = 0; i < n; i++) {
            double t = y[i] / cap;
            d[i] *= 1 - t * t;
        }
    }

    // ---- LoRA -----------------------------------------------------------------------------

    /**
     * Inverted dropout: {@code xd = keep ? x/(1−p) : 0}; {@code keep} (n) is drawn by the caller.
     * With p = 0 it copies.
     */
    static void dropoutForward(double[] xd, double[] x, boolean[] keep, double p, int n) {
        double s = 1.0 / (1 - p);
        for (int i = 0; i < n; i++) {
            xd[i] = keep == null || keep[i] ? x[i] * s : 0;
        }
    }

    /** {@code dx += keep ? dxd/(1−p) : 0}. */
    static void dropoutBackward(double[] dx, double[] dxd, boolean[] keep, double p, int n) {
        double s = 1.0 / (1 - p);
        for (int i = 0; i < n; i++) {
            if (keep == null || keep[i]) {
                dx[i] += dxd[i] * s;
            }
        }
    }

    /**
     * {@code y += scale · (xd·Aᵀ)·Bᵀ}: shrink into s, expand into y.
     *
     * @param y      (T, out) added to
     * @param shrunk (T, R) {@code xd·Aᵀ}, saved for the backward
     * @param xd     (T, in) the (dropped-out) input
     * @param a      (R, in)
     * @param b      (out, R)
     */
    static void loraForward(double[] y, double[] shrunk, double[] xd, double[] a, double[] b, int tokens, int in, int out,
            int rank, double scale) {
        for (int t = 0; t < tokens; t++) {
            for (int r = 0; r < rank; r++) {
                double s = 0;
                for (int i = 0; i < in; i++) {
                    s += xd[t * in + i] * a[r * in + i];
                }
                shrunk[t * rank + r] = s;
            }
            for (int o = 0; o < out; o++) {
                double e = 0;
                for (int r = 0; r < rank; r++) {
                    e += shrunk[t * rank + r] * b[o * rank + r];
                }
                y[t * out + o] += scale * e;
            }
        }
    }

    /**
     * Adds {@code dA += dsᵀ·xd}, {@code dB += scale·dyᵀ·s} and {@code dxd += ds·A}, where
     * {@code ds = scale·dy·B} (T, R).
     */
    static void loraBackward(double[] dxd, double[] dA, double[] dB, double[] dy, double[] shrunk, double[] xd, double[] a,
            double[] b, int tokens, int in, int out, int rank, double scale) {
        double[] ds = new double[rank]; // (R) of one token
        for (int t = 0; t < tokens; t++) {
            java.util.Arrays.fill(ds, 0);
            for (int o = 0; o < out; o++) {
                double g = scale * dy[t * out + o];
                if (g == 0) {
                    continue;
                }
                for (int r = 0; r < rank; r++) {
                    ds[r] += g * b[o * rank + r];
                    dB[o * rank + r] += g * shrunk[t * rank + r];
                }
            }
            for (int r = 0; r < rank; r++) {
                double g = ds[r];
                for (int i = 0; i < in; i++) {
                    dA[r * in + i] += g * xd[t * in + i];
                    if (dxd != null) {
                        dxd[t * in + i] += g * a[r * in + i];
                    }
                }
            }
        }
    }

    // ---- loss -----------------------------------------------------------------------------

    /**
     * Cross-entropy of N rows of logits (N, V) against targets (N): returns the summed loss and
     * writes {@code dLogits = weight · (softmax − onehot)} (N, V).
     */
    static double crossEntropy(double[] dLogits, double[] logits, int[] targets, int rows, int vocab, double weight) {
        double total = 0;
        for (int n = 0; n < rows; n++) {
            int off = n * vocab;
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < vocab; i++) {
                max = Math.max(max, logits[off + i]);
            }
            double sum = 0;
            for (int i = 0; i < vocab; i++) {
                sum += Math.exp(logits[off + i] - max);
            }
            double logSum = max + Math.log(sum);
            total += logSum - logits[off + targets[n]];
            if (dLogits != null) {
                for (int i = 0; i < vocab; i++) {
                    dLogits[off + i] = weight * Math.exp(logits[off + i] - logSum);
                }
                dLogits[off + targets[n]] -= weight;
            }
        }
        return total;
    }
}
