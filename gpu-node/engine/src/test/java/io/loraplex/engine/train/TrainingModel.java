package io.loraplex.engine.train;

import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelWeights;
import io.loraplex.engine.model.Rope;
import io.loraplex.engine.model.Tensor;
import java.util.SplittableRandom;

/**
 * The float64 reference of the training step (test scope since issue 22; production trains with
 * {@link BatchTrainingModel}): the base model with a trainable adapter, the forward pass over one
 * sequence with every activation the backward needs saved, and the backward replaying it in reverse
 * to the LoRA gradients. The base stays frozen; its projections run through {@link FrozenLinear}.
 */
final class TrainingModel {

    /** What the backward of one LoRA module needs. */
    private record LoraActs(boolean[] keep, double[] xd, double[] shrunk) { // (T·in) or null, (T, in), (T, R)
    }

    /** What one decoder layer saved. */
    private static final class LayerActs {
        double[] xIn, h1, inv1, q, k, v, probs, att, xMid, h2, inv2, gate, up, act;
        double[] qRaw, kRaw, invQ, invK; // Qwen3: q and k before their per-head norms (T, NH·HS), (T, NKV·HS); inv (T·NH), (T·NKV)
        double[] oRaw, invO, downRaw, invDown; // Gemma: o and down outputs before their post-norms (T, C); inv (T)
        final LoraActs[] lora = new LoraActs[TargetModule.COUNT];
    }

    private final ModelConfig cfg;
    private final ModelWeights w;
    private final LoraParameters lora;
    private final FrozenLinear linear;
    private final Rope rope;                     // frequencies (rotary/2) by sequence length, LongRoPE's scale
    private final Rope localRope;                // Gemma 3's sliding layers' RoPE, or null
    private final float[][] attnNorm, mlpNorm;   // (L) (C); Gemma: 1 + w
    private final float[][] postAttnNorm, postMlpNorm; // (L) (C) or nulls: Gemma's post-norms, 1 + w
    private final float[][] qNorm, kNorm;        // (L) (HS) or nulls: Qwen3's per-head norms
    private final float[][] bq, bk, bv, bo, bGate, bUp, bDown; // (L) (out) or nulls
    private final float[] finalNorm;             // (C)
    private Runnable yieldPoint = () -> { };     // called between layers: where training lets serving in

    TrainingModel(ModelConfig cfg, ModelWeights weights, LoraParameters lora, FrozenLinear linear) {
        this.cfg = cfg;
        this.w = weights;
        this.lora = lora;
        this.linear = linear;
        this.rope = new Rope(cfg);
        this.localRope = cfg.gemma() != null && cfg.gemma().localRopeTheta() != null ? new Rope(cfg.localRopeConfig()) : null;
        int n = cfg.numLayers();
        attnNorm = new float[n][];
        mlpNorm = new float[n][];
        postAttnNorm = new float[n][];
        postMlpNorm = new float[n][];
        qNorm = new float[n][];
        kNorm = new float[n][];
        bq = new float[n][];
        bk = new float[n][];
        bv = new float[n][];
        bo = new float[n][];
        bGate = new float[n][];
        bUp = new float[n][];
        bDown = new float[n][];
        for (int l = 0; l < n; l++) {
            attnNorm[l] = norm(w.attnNorm[l]);
            mlpNorm[l] = norm(w.mlpNorm[l]);
            qNorm[l] = norm(w.qNorm[l]);
            kNorm[l] = norm(w.kNorm[l]);
            postAttnNorm[l] = norm(w.postAttnNorm[l]);
            postMlpNorm[l] = norm(w.postMlpNorm[l]);
            bq[l] = floats(w.bq[l]);
            bk[l] = floats(w.bk[l]);
            bv[l] = floats(w.bv[l]);
            bo[l] = floats(w.bo[l]);
            bGate[l] = floats(w.bGate[l]);
            bUp[l] = floats(w.bUp[l]);
            bDown[l] = floats(w.bDown[l]);
        }
        finalNorm = norm(w.finalNorm);
    }

    private static float[] floats(Tensor t) {
        return t == null ? null : t.toFloatArray();
    }

    /** The scores' scale in f64: HS^-0.5, or Gemma's query_pre_attn_scalar^-0.5. */
    private double attentionScale() {
        return 1.0 / Math.sqrt(cfg.gemma() != null ? cfg.gemma().queryPreAttnScalar() : cfg.headDim());
    }

    /** A norm's multiplier (null for none): its weight, or Gemma's {@code 1 + w} in f32, as serving uses it. */
    private float[] norm(Tensor t) {
        float[] g = floats(t);
        if (g != null && cfg.normAddsOne()) {
            for (int i = 0; i < g.length; i++) {
                g[i] = 1f + g[i];
            }
        }
        return g;
    }

    LoraParameters lora() {
        return lora;
    }

    /** Sets what runs between two layers of the forward and of the backward (the trainer's yield to serving). */
    void yieldPoint(Runnable yieldPoint) {
        this.yieldPoint = yieldPoint;
    }

    /** The summed loss of the example's target tokens, without dropout or gradients. */
    double loss(EncodedExample ex) {
        return run(ex, false, 0, 0, null);
    }

    /**
     * The summed loss of the example's target tokens; adds {@code gradScale · ∂loss/∂(A, B)} to the
     * adapter's gradients. Dropout {@code p} on each LoRA input, masks drawn from {@code random}.
     */
    double forwardBackward(EncodedExample ex, double gradScale, double dropout, SplittableRandom random) {
        return run(ex, true, gradScale, dropout, random);
    }

    private double run(EncodedExample ex, boolean backward, double gradScale, double dropout, SplittableRandom random) {
        int tt = ex.tokens().length;
        int c = cfg.hiddenSize();
        int half = rope.pairs();                     // rotary/2
        int[] rows = targetRows(ex);                 // (N) positions whose next token has a loss
        int nRows = rows.length;
        if (nRows == 0) {
            return 0;
        }
        double[] cos = new double[tt * half];        // (T, rotary/2)
        double[] sin = new double[tt * half];        // (T, rotary/2)
        // the example is one whole sequence: its length picks LongRoPE's factors, as at inference
        Layers.ropeAngles(cos, sin, rope.inverseFrequencies(tt), tt, rope.attentionScale());
        double[] localCos = cos;                     // (T, HS/2) Gemma 3's sliding layers' own
        double[] localSin = sin;
        if (localRope != null) {
            localCos = new double[tt * half];
            localSin = new double[tt * half];
            Layers.ropeAngles(localCos, localSin, localRope.inverseFrequencies(tt), tt, localRope.attentionScale());
        }
        double[] x = new double[tt * c];             // (T, C) residual stream
        Layers.embeddingForward(x, ex.tokens(), w.embed, c);
        // Gemma: embeddings times √C (in the checkpoint's dtype, as serving); the embedding is frozen
        double embedScale = cfg.embeddingScale();
        if (embedScale != 1) {
            for (int i = 0; i < tt * c; i++) {
                x[i] *= embedScale;
            }
        }
        LayerActs[] acts = new LayerActs[cfg.numLayers()];
        for (int l = 0; l < cfg.numLayers(); l++) {
            acts[l] = new LayerActs();
            boolean local = cfg.localRope(l);
            x = layerForward(l, x, acts[l], tt, local ? localCos : cos, local ? localSin : sin, backward ? dropout : 0, random);
            yieldPoint.run();
        }
        // final norm and lm head, only for the rows with a loss
        double[] xRows = new double[nRows * c];      // (N, C)
        for (int n = 0; n < nRows; n++) {
            System.arraycopy(x, rows[n] * c, xRows, n * c, c);
        }
        double[] invF = new double[nRows];           // (N)
        double[] hRows = new double[nRows * c];      // (N, C)
        Layers.rmsnormForward(hRows, invF, xRows, finalNorm, nRows, c, cfg.rmsNormEps());
        int vocab = cfg.vocabSize();
        double[] logits = new double[nRows * vocab]; // (N, V)
        linear.forward(logits, hRows, w.lmHead(), null, nRows);
        double finalCap = cfg.finalLogitSoftcap();
        if (finalCap != 0) {
            Layers.softcapForward(logits, nRows * vocab, finalCap);
        }
        int[] targets = new int[nRows];
        for (int n = 0; n < nRows; n++) {
            targets[n] = ex.tokens()[rows[n] + 1];
        }
        double[] dLogits = backward ? new double[nRows * vocab] : null;
        double loss = Layers.crossEntropy(dLogits, logits, targets, nRows, vocab, gradScale);
        if (!backward) {
            return loss;
        }

        if (finalCap != 0) {
            Layers.softcapBackward(dLogits, logits, nRows * vocab, finalCap);
        }
        double[] dhRows = new double[nRows * c];     // (N, C)
        linear.backward(dhRows, dLogits, w.lmHead(), nRows);
        double[] dxRows = new double[nRows * c];     // (N, C)
        Layers.rmsnormBackward(dxRows, dhRows, xRows, invF, finalNorm, nRows, c);
        double[] dx = new double[tt * c];            // (T, C)
        for (int n = 0; n < nRows; n++) {
            System.arraycopy(dxRows, n * c, dx, rows[n] * c, c);
        }
        for (int l = cfg.numLayers() - 1; l >= 0; l--) {
            boolean local = cfg.localRope(l);
            layerBackward(l, dx, acts[l], tt, local ? localCos : cos, local ? localSin : sin, dropout);
            yieldPoint.run();
        }
        return loss;
    }

    private static int[] targetRows(EncodedExample ex) {
        int[] rows = new int[ex.tokens().length];
        int n = 0;
        for (int t = 1; t < ex.tokens().length; t++) {
            if (ex.target()[t]) {
                rows[n++] = t - 1;
            }
        }
        return java.util.Arrays.copyOf(rows, n);
    }

    /** One decoder layer; returns the new residual stream (T, C). */
    private double[] layerForward(int l, double[] xIn, LayerActs a, int tt, double[] cos, double[] sin, double dropout,
            SplittableRandom random) {
        int c = cfg.hiddenSize();
        int qd = cfg.qDim();
        int inter = cfg.intermediateSize();
        a.xIn = xIn;
        // attention rmsnorm
        a.h1 = new double[tt * c];
        a.inv1 = new double[tt];
        Layers.rmsnormForward(a.h1, a.inv1, xIn, attnNorm[l], tt, c, cfg.rmsNormEps());
        // q, k, v projections with their adapters
        a.q = project(l, TargetModule.Q_PROJ, a.h1, w.wq(l), bq[l], tt, a, dropout, random);
        a.k = project(l, TargetModule.K_PROJ, a.h1, w.wk(l), bk[l], tt, a, dropout, random);
        a.v = project(l, TargetModule.V_PROJ, a.h1, w.wv(l), bv[l], tt, a, dropout, random);
        // per-head q and k norms (Qwen3): rows of HS, one per (token, head)
        if (cfg.qkNorm()) {
            a.qRaw = a.q;
            a.kRaw = a.k;
            a.q = new double[tt * qd];
            a.k = new double[tt * cfg.kvDim()];
            a.invQ = new double[tt * cfg.numHeads()];
            a.invK = new double[tt * cfg.numKvHeads()];
            Layers.rmsnormForward(a.q, a.invQ, a.qRaw, qNorm[l], tt * cfg.numHeads(), cfg.headDim(), cfg.rmsNormEps());
            Layers.rmsnormForward(a.k, a.invK, a.kRaw, kNorm[l], tt * cfg.numKvHeads(), cfg.headDim(), cfg.rmsNormEps());
        }
        // rotary embedding
        Layers.ropeForward(a.q, cos, sin, tt, cfg.numHeads(), cfg.headDim(), cfg.rotaryDim());
        Layers.ropeForward(a.k, cos, sin, tt, cfg.numKvHeads(), cfg.headDim(), cfg.rotaryDim());
        // causal attention
        a.att = new double[tt * qd];
        a.probs = new double[cfg.numHeads() * tt * tt];
        Layers.attentionForward(a.att, a.probs, a.q, a.k, a.v, tt, cfg.numHeads(), cfg.numKvHeads(), cfg.headDim(),
                cfg.windowFor(l), attentionScale(), cfg.attnLogitSoftcap());
        // output projection (Gemma: normed) and residual
        double[] o = project(l, TargetModule.O_PROJ, a.att, w.wo(l), bo[l], tt, a, dropout, random);
        if (cfg.postNorms()) {
            a.oRaw = o;
            a.invO = new double[tt];
            o = new double[tt * c];
            Layers.rmsnormForward(o, a.invO, a.oRaw, postAttnNorm[l], tt, c, cfg.rmsNormEps());
        }
        a.xMid = new double[tt * c];
        for (int i = 0; i < tt * c; i++) {
            a.xMid[i] = xIn[i] + o[i];
        }
        // MLP rmsnorm, SwiGLU, down projection and residual
        a.h2 = new double[tt * c];
        a.inv2 = new double[tt];
        Layers.rmsnormForward(a.h2, a.inv2, a.xMid, mlpNorm[l], tt, c, cfg.rmsNormEps());
        a.gate = project(l, TargetModule.GATE_PROJ, a.h2, w.wGate(l), bGate[l], tt, a, dropout, random);
        a.up = project(l, TargetModule.UP_PROJ, a.h2, w.wUp(l), bUp[l], tt, a, dropout, random);
        a.act = new double[tt * inter];
        if (cfg.gelu()) {
            Layers.gegluForward(a.act, a.gate, a.up, tt * inter);
        } else {
            Layers.swigluForward(a.act, a.gate, a.up, tt * inter);
        }
        double[] down = project(l, TargetModule.DOWN_PROJ, a.act, w.wDown(l), bDown[l], tt, a, dropout, random);
        if (cfg.postNorms()) {
            a.downRaw = down;
            a.invDown = new double[tt];
            down = new double[tt * c];
            Layers.rmsnormForward(down, a.invDown, a.downRaw, postMlpNorm[l], tt, c, cfg.rmsNormEps());
        }
        double[] xOut = new double[tt * c];
        for (int i = 0; i < tt * c; i++) {
            xOut[i] = a.xMid[i] + down[i];
        }
        return xOut;
    }

    /** Adds the gradient of layer l's input to dx (T, C), which holds the gradient of its output. */
    private void layerBackward(int l, double[] dx, LayerActs a, int tt, double[] cos, double[] sin, double dropout) {
        int c = cfg.hiddenSize();
        int qd = cfg.qDim();
        int kvd = cfg.kvDim();
        int inter = cfg.intermediateSize();
        // down projection (its output gradient is dx, through the residual; Gemma: back through its post-norm)
        double[] dDown = dx;
        if (cfg.postNorms()) {
            dDown = new double[tt * c];
            Layers.rmsnormBackward(dDown, dx, a.downRaw, a.invDown, postMlpNorm[l], tt, c);
        }
        double[] dAct = new double[tt * inter];
        projectBackward(l, TargetModule.DOWN_PROJ, dAct, dDown, w.wDown(l), tt, a, dropout);
        double[] dGate = new double[tt * inter];
        double[] dUp = new double[tt * inter];
        if (cfg.gelu()) {
            Layers.gegluBackward(dGate, dUp, dAct, a.gate, a.up, tt * inter);
        } else {
            Layers.swigluBackward(dGate, dUp, dAct, a.gate, a.up, tt * inter);
        }
        double[] dh2 = new double[tt * c];
        projectBackward(l, TargetModule.GATE_PROJ, dh2, dGate, w.wGate(l), tt, a, dropout);
        projectBackward(l, TargetModule.UP_PROJ, dh2, dUp, w.wUp(l), tt, a, dropout);
        Layers.rmsnormBackward(dx, dh2, a.xMid, a.inv2, mlpNorm[l], tt, c);
        // output projection (dx now holds the gradient of xMid; Gemma: back through the post-attention norm)
        double[] dO = dx;
        if (cfg.postNorms()) {
            dO = new double[tt * c];
            Layers.rmsnormBackward(dO, dx, a.oRaw, a.invO, postAttnNorm[l], tt, c);
        }
        double[] dAtt = new double[tt * qd];
        projectBackward(l, TargetModule.O_PROJ, dAtt, dO, w.wo(l), tt, a, dropout);
        double[] dq = new double[tt * qd];
        double[] dk = new double[tt * kvd];
        double[] dv = new double[tt * kvd];
        Layers.attentionBackward(dq, dk, dv, dAtt, a.probs, a.q, a.k, a.v, tt, cfg.numHeads(), cfg.numKvHeads(),
                cfg.headDim(), cfg.windowFor(l), attentionScale(), cfg.attnLogitSoftcap());
        Layers.ropeBackward(dq, cos, sin, tt, cfg.numHeads(), cfg.headDim(), cfg.rotaryDim());
        Layers.ropeBackward(dk, cos, sin, tt, cfg.numKvHeads(), cfg.headDim(), cfg.rotaryDim());
        if (cfg.qkNorm()) {
            // back through the per-head norms to the projections' outputs
            double[] dqRaw = new double[tt * qd];
            double[] dkRaw = new double[tt * kvd];
            Layers.rmsnormBackward(dqRaw, dq, a.qRaw, a.invQ, qNorm[l], tt * cfg.numHeads(), cfg.headDim());
            Layers.rmsnormBackward(dkRaw, dk, a.kRaw, a.invK, kNorm[l], tt * cfg.numKvHeads(), cfg.headDim());
            dq = dqRaw;
            dk = dkRaw;
        }
        double[] dh1 = new double[tt * c];
        projectBackward(l, TargetModule.Q_PROJ, dh1, dq, w.wq(l), tt, a, dropout);
        projectBackward(l, TargetModule.K_PROJ, dh1, dk, w.wk(l), tt, a, dropout);
        projectBackward(l, TargetModule.V_PROJ, dh1, dv, w.wv(l), tt, a, dropout);
        Layers.rmsnormBackward(dx, dh1, a.xIn, a.inv1, attnNorm[l], tt, c);
    }

    /** {@code x·Wᵀ + b + scale·(drop(x)·Aᵀ)·Bᵀ} (T, out), saving the adapter's activations. */
    private double[] project(int l, TargetModule t, double[] x, Tensor weight, float[] bias, int tt, LayerActs a,
            double dropout, SplittableRandom random) {
        int out = t.outFeatures(cfg);
        double[] y = new double[tt * out];
        linear.forward(y, x, weight, bias, tt);
        LoraParameters.Module m = lora.module(l, t);
        if (m != null) {
            int n = tt * m.in;
            boolean[] keep = null;
            double[] xd = x;
            if (dropout > 0) {
                keep = new boolean[n];
                for (int i = 0; i < n; i++) {
                    keep[i] = random.nextDouble() >= dropout;
                }
                xd = new double[n];
                Layers.dropoutForward(xd, x, keep, dropout, n);
            }
            double[] shrunk = new double[tt * m.rank];
            Layers.loraForward(y, shrunk, xd, m.a, m.b, tt, m.in, m.out, m.rank, m.scale);
            a.lora[t.ordinal()] = new LoraActs(keep, xd, shrunk);
        }
        return y;
    }

    /** Adds the input gradient of one projection to dx and its adapter's gradients to the parameters. */
    private void projectBackward(int l, TargetModule t, double[] dx, double[] dy, Tensor weight, int tt, LayerActs a,
            double dropout) {
        linear.backward(dx, dy, weight, tt);
        LoraParameters.Module m = lora.module(l, t);
        if (m != null) {
            LoraActs s = a.lora[t.ordinal()];
            if (s.keep() == null) {
                Layers.loraBackward(dx, m.gradA, m.gradB, dy, s.shrunk(), s.xd(), m.a, m.b, tt, m.in, m.out, m.rank, m.scale);
            } else {
                double[] dxd = new double[tt * m.in];
                Layers.loraBackward(dxd, m.gradA, m.gradB, dy, s.shrunk(), s.xd(), m.a, m.b, tt, m.in, m.out, m.rank, m.scale);
                Layers.dropoutBackward(dx, dxd, s.keep(), dropout, tt * m.in);
            }
        }
    }
}
