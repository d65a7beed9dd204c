package io.loraplex.engine.train;

import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelWeights;
import io.loraplex.engine.model.Rope;
import io.loraplex.engine.model.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The training step in float32 over a batch of sequences that may train different adapters: one
 * base forward and backward for all of the batch's rows (the frozen projections as tiled matmuls
 * on the served weights, in the dtype they are served in), each sequence applying its own adapter's
 * LoRA and adding to its own adapter's gradients. Work is split over the worker threads by weight
 * rows or columns (projections), by (sequence, head) (attention) and by row chunks (activations).
 *
 * <p>The adapters' parameters and optimizer state stay in {@link LoraParameters} (the float64
 * master copy, a few MB); each pass works on float32 copies of A and B and adds its float32
 * gradients back at its end. The float64 reference it is tested against ({@code TrainingModel},
 * {@code Layers}) lives in test scope.
 *
 * <p>Rows: {@code T} is the batch's tokens, the sequences' tokens one after another.
 */
final class BatchTrainingModel {

    /** One example in a batch: its tokens, the adapter (index into the model's list) it trains, its loss gradient's weight. */
    record Sequence(EncodedExample example, int adapter, double gradScale) {
    }

    /** One adapted projection as float32 for one pass. */
    private static final class Lora32 {
        final LoraParameters.Module m;
        final int in, out, rank;
        final float scale;
        final float[] a, b;          // (R, in), (out, R)
        float[] gradA, gradB;        // as a, b; null in a forward-only pass

        Lora32(LoraParameters.Module m, boolean grads) {
            this.m = m;
            in = m.in;
            out = m.out;
            rank = m.rank;
            scale = (float) m.scale;
            a = narrow(m.a);
            b = narrow(m.b);
            if (grads) {
                gradA = new float[a.length];
                gradB = new float[b.length];
            }
        }
    }

    /** What the backward of one LoRA module needs over the batch. */
    private record LoraActs(boolean[] keep, float[] xd, float[][] shrunk) { // (T·in) or null, (T, in), per sequence (len, R) or null
    }

    /** What one decoder layer saved, all (T, ·) over the batch's rows. */
    private static final class LayerActs {
        float[] xIn, h1, inv1, q, k, v, att, xMid, h2, inv2, gate, up, act;
        float[][] probs; // per sequence (NH, len, len)
        float[] qRaw, kRaw, invQ, invK; // Qwen3: before the per-head norms; inv (T·NH), (T·NKV)
        float[] oRaw, invO, downRaw, invDown; // Gemma: before the post-norms; inv (T)
        final LoraActs[] lora = new LoraActs[TargetModule.COUNT];
    }

    /** The batch's geometry. */
    private static final class Batch {
        final List<Sequence> seqs;
        final int n;                 // sequences
        final int[] start, len;      // (n) first row and length of each sequence
        final int tokens;            // T
        final float[][] cos, sin;    // (n) (len, rotary/2)
        final float[][] localCos, localSin; // Gemma 3's sliding layers, or the same as cos/sin
        final int[] rows;            // (N) batch rows whose next token has a loss
        final int[] rowSeq;          // (N) the sequence of each
        final int[] targets;         // (N) the next tokens
        final Lora32[][][] lora;     // (n) (L, COUNT): each sequence's adapter's modules, null where not adapted
        final float[] dropout;       // (n) each sequence's adapter's dropout; 0 in a forward-only pass

        Batch(List<Sequence> seqs, int[] start, int[] len, int tokens, float[][] cos, float[][] sin, float[][] localCos,
                float[][] localSin, int[] rows, int[] rowSeq, int[] targets, Lora32[][][] lora, float[] dropout) {
            this.seqs = seqs;
            this.n = seqs.size();
            this.start = start;
            this.len = len;
            this.tokens = tokens;
            this.cos = cos;
            this.sin = sin;
            this.localCos = localCos;
            this.localSin = localSin;
            this.rows = rows;
            this.rowSeq = rowSeq;
            this.targets = targets;
            this.lora = lora;
            this.dropout = dropout;
        }

        Lora32 module(int s, int l, TargetModule t) {
            return lora[s][l][t.ordinal()];
        }
    }

    private final ModelConfig cfg;
    private final ModelWeights w;
    private final List<LoraParameters> adapters;
    private final WorkerPool pool;
    private final Runnable yieldPoint;          // called between layers, forward and backward
    private final Rope rope;
    private final Rope localRope;               // Gemma 3's sliding layers' RoPE, or null
    private final float[][] attnNorm, mlpNorm;  // (L) (C); Gemma: 1 + w
    private final float[][] postAttnNorm, postMlpNorm; // (L) (C) or nulls
    private final float[][] qNorm, kNorm;       // (L) (HS) or nulls
    private final float[][] bq, bk, bv, bo, bGate, bUp, bDown; // (L) (out) or nulls
    private final float[] finalNorm;            // (C)

    BatchTrainingModel(ModelConfig cfg, ModelWeights weights, List<LoraParameters> adapters, WorkerPool pool,
            Runnable yieldPoint) {
        this.cfg = cfg;
        this.w = weights;
        this.adapters = List.copyOf(adapters);
        this.pool = pool;
        this.yieldPoint = yieldPoint;
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

    private float[] norm(Tensor t) {
        float[] g = floats(t);
        if (g != null && cfg.normAddsOne()) {
            for (int i = 0; i < g.length; i++) {
                g[i] = 1f + g[i];
            }
        }
        return g;
    }

    private static float[] narrow(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }

    /** Each sequence's summed loss over its target tokens, without dropout or gradients. */
    double[] loss(List<Sequence> seqs) {
        return run(seqs, false, null, null);
    }

    /**
     * Each sequence's summed loss; adds {@code gradScale · ∂loss/∂(A, B)} of every sequence to its
     * adapter's gradients. Dropout {@code dropouts[adapter]} on each LoRA input, each adapter's masks
     * drawn from its own {@code randoms[adapter]} in the batch's order, so an adapter's draws do not
     * depend on its batch-mates.
     */
    double[] forwardBackward(List<Sequence> seqs, double[] dropouts, SplittableRandom[] randoms) {
        return run(seqs, true, dropouts, randoms);
    }

    private Batch batch(List<Sequence> seqs, boolean grads, double[] dropouts) {
        int n = seqs.size();
        float[] dropout = new float[n];
        int[] start = new int[n];
        int[] len = new int[n];
        int tokens = 0;
        int half = rope.pairs();
        float[][] cos = new float[n][], sin = new float[n][], localCos = new float[n][], localSin = new float[n][];
        List<int[]> rowList = new ArrayList<>(); // (row, seq, target)
        Lora32[][][] lora = new Lora32[n][][];
        Lora32[][][] byAdapter = new Lora32[adapters.size()][][];
        for (int s = 0; s < n; s++) {
            EncodedExample ex = seqs.get(s).example();
            start[s] = tokens;
            len[s] = ex.tokens().length;
            // each sequence is whole: its length picks LongRoPE's factors, as at inference
            cos[s] = new float[len[s] * half];
            sin[s] = new float[len[s] * half];
            for (int t = 0; t < len[s]; t++) {
                rope.angles(t, len[s], cos[s], sin[s], t * half);
            }
            localCos[s] = cos[s];
            localSin[s] = sin[s];
            if (localRope != null) {
                localCos[s] = new float[len[s] * half];
                localSin[s] = new float[len[s] * half];
                for (int t = 0; t < len[s]; t++) {
                    localRope.angles(t, len[s], localCos[s], localSin[s], t * half);
                }
            }
            for (int t = 1; t < len[s]; t++) {
                if (ex.target()[t]) {
                    rowList.add(new int[] {tokens + t - 1, s, ex.tokens()[t]});
                }
            }
            int adapter = seqs.get(s).adapter();
            dropout[s] = dropouts == null ? 0f : (float) dropouts[adapter];
            if (byAdapter[adapter] == null) {
                LoraParameters p = adapters.get(adapter);
                Lora32[][] mods = new Lora32[cfg.numLayers()][TargetModule.COUNT];
                for (LoraParameters.Module m : p.all()) {
                    mods[m.layer][m.target.ordinal()] = new Lora32(m, grads);
                }
                byAdapter[adapter] = mods;
            }
            lora[s] = byAdapter[adapter];
            tokens += len[s];
        }
        int[] rows = new int[rowList.size()], rowSeq = new int[rows.length], targets = new int[rows.length];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = rowList.get(i)[0];
            rowSeq[i] = rowList.get(i)[1];
            targets[i] = rowList.get(i)[2];
        }
        return new Batch(List.copyOf(seqs), start, len, tokens, cos, sin, localCos, localSin, rows, rowSeq, targets, lora, dropout);
    }

    private double[] run(List<Sequence> seqs, boolean backward, double[] dropouts, SplittableRandom[] randoms) {
        Batch b = batch(seqs, backward, dropouts);
        double[] losses = new double[b.n];
        int nRows = b.rows.length;
        if (nRows == 0) {
            return losses;
        }
        int tt = b.tokens;
        int c = cfg.hiddenSize();
        // embedding (Gemma: times √C)
        float[] x = new float[tt * c];               // (T, C) residual stream
        float embedScale = cfg.embeddingScale();
        int pos = 0;
        for (Sequence s : seqs) {
            for (int token : s.example().tokens()) {
                w.embed.copyTo((long) token * c, x, pos * c, c);
                pos++;
            }
        }
        if (embedScale != 1) {
            for (int i = 0; i < tt * c; i++) {
                x[i] *= embedScale;
            }
        }
        LayerActs[] acts = new LayerActs[cfg.numLayers()];
        for (int l = 0; l < cfg.numLayers(); l++) {
            acts[l] = new LayerActs();
            x = layerForward(l, x, acts[l], b, randoms);
            if (!backward) {
                acts[l] = null; // a forward-only pass keeps no activations
            }
            yieldPoint.run();
        }
        // final norm and lm head, only for the rows with a loss
        float[] xRows = new float[nRows * c];        // (N, C)
        for (int r = 0; r < nRows; r++) {
            System.arraycopy(x, b.rows[r] * c, xRows, r * c, c);
        }
        float[] invF = new float[nRows];             // (N)
        float[] hRows = new float[nRows * c];        // (N, C)
        TrainKernels.rmsnormForward(hRows, invF, xRows, finalNorm, nRows, c, (float) cfg.rmsNormEps());
        int vocab = cfg.vocabSize();
        float[] logits = new float[nRows * vocab];   // (N, V)
        TrainKernels.linearForward(pool, logits, hRows, nRows, w.lmHead(), null);
        float finalCap = cfg.finalLogitSoftcap();
        float[] rowLoss = new float[nRows];          // (N)
        float[] dLogits = backward ? new float[nRows * vocab] : null; // (N, V)
        parallelRows(nRows, 8L * vocab, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int off = r * vocab;
                if (finalCap != 0) {
                    for (int i = off; i < off + vocab; i++) {
                        logits[i] = (float) (finalCap * Math.tanh(logits[i] / finalCap));
                    }
                }
                rowLoss[r] = crossEntropy(dLogits, logits, off, b.targets[r], vocab,
                        backward ? (float) seqs.get(b.rowSeq[r]).gradScale() : 0f);
                if (backward && finalCap != 0) {
                    for (int i = off; i < off + vocab; i++) {
                        float t = logits[i] / finalCap;
                        dLogits[i] *= 1 - t * t;
                    }
                }
            }
        });
        for (int r = 0; r < nRows; r++) {
            losses[b.rowSeq[r]] += rowLoss[r];
        }
        if (!backward) {
            return losses;
        }

        float[] dhRows = new float[nRows * c];       // (N, C)
        TrainKernels.linearBackward(pool, dhRows, dLogits, nRows, w.lmHead());
        float[] dxRows = new float[nRows * c];       // (N, C)
        TrainKernels.rmsnormBackward(dxRows, dhRows, xRows, invF, finalNorm, nRows, c);
        float[] dx = new float[tt * c];              // (T, C)
        for (int r = 0; r < nRows; r++) {
            System.arraycopy(dxRows, r * c, dx, b.rows[r] * c, c);
        }
        for (int l = cfg.numLayers() - 1; l >= 0; l--) {
            layerBackward(l, dx, acts[l], b);
            acts[l] = null;
            yieldPoint.run();
        }
        // the float32 gradients into each adapter's master gradients
        java.util.Set<Lora32[][]> flushed = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (Lora32[][] adapter : b.lora) {
            if (!flushed.add(adapter)) {
                continue;
            }
            for (Lora32[] layer : adapter) {
                for (Lora32 m : layer) {
                    if (m != null) {
                        for (int i = 0; i < m.gradA.length; i++) {
                            m.m.gradA[i] += m.gradA[i];
                        }
                        for (int i = 0; i < m.gradB.length; i++) {
                            m.m.gradB[i] += m.gradB[i];
                        }
                    }
                }
            }
        }
        return losses;
    }

    /**
     * Cross-entropy of one row of logits against its target: returns the loss and writes
     * {@code dLogits = weight · (softmax − onehot)} when dLogits is not null.
     */
    private static float crossEntropy(float[] dLogits, float[] logits, int off, int target, int vocab, float weight) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = off; i < off + vocab; i++) {
            max = Math.max(max, logits[i]);
        }
        double sum = 0;
        for (int i = off; i < off + vocab; i++) {
            sum += Math.exp(logits[i] - max);
        }
        float logSum = (float) (max + Math.log(sum));
        if (dLogits != null) {
            for (int i = off; i < off + vocab; i++) {
                dLogits[i] = weight * (float) Math.exp(logits[i] - logSum);
            }
            dLogits[off + target] -= weight;
        }
        return logSum - logits[off + target];
    }

    private interface RowRange {
        void run(int from, int to);
    }

    /** Splits {@code rows} of {@code work} multiply-adds (or costlier steps such as an exp) each into about four chunks per thread. */
    private void parallelRows(int rows, long work, RowRange body) {
        int tasks = Math.min(rows, pool.threads() * 4);
        if (tasks <= 0) {
            return;
        }
        TrainKernels.parallel(pool, tasks, rows * work, task -> body.run((int) ((long) rows * task / tasks), (int) ((long) rows * (task + 1) / tasks)));
    }

    /** One decoder layer over the batch; returns the new residual stream (T, C). */
    private float[] layerForward(int l, float[] xIn, LayerActs a, Batch b, SplittableRandom[] randoms) {
        int tt = b.tokens;
        int c = cfg.hiddenSize();
        int qd = cfg.qDim();
        int inter = cfg.intermediateSize();
        float eps = (float) cfg.rmsNormEps();
        boolean local = cfg.localRope(l);
        a.xIn = xIn;
        // attention rmsnorm
        a.h1 = new float[tt * c];
        a.inv1 = new float[tt];
        TrainKernels.rmsnormForward(a.h1, a.inv1, xIn, attnNorm[l], tt, c, eps);
        // q, k, v projections with their adapters
        a.q = project(l, TargetModule.Q_PROJ, a.h1, w.wq(l), bq[l], b, a, randoms);
        a.k = project(l, TargetModule.K_PROJ, a.h1, w.wk(l), bk[l], b, a, randoms);
        a.v = project(l, TargetModule.V_PROJ, a.h1, w.wv(l), bv[l], b, a, randoms);
        // per-head q and k norms (Qwen3): rows of HS, one per (token, head)
        if (cfg.qkNorm()) {
            a.qRaw = a.q;
            a.kRaw = a.k;
            a.q = new float[tt * qd];
            a.k = new float[tt * cfg.kvDim()];
            a.invQ = new float[tt * cfg.numHeads()];
            a.invK = new float[tt * cfg.numKvHeads()];
            TrainKernels.rmsnormForward(a.q, a.invQ, a.qRaw, qNorm[l], tt * cfg.numHeads(), cfg.headDim(), eps);
            TrainKernels.rmsnormForward(a.k, a.invK, a.kRaw, kNorm[l], tt * cfg.numKvHeads(), cfg.headDim(), eps);
        }
        // rotary embedding, positions from 0 in every sequence
        rope(a.q, b, local, cfg.numHeads(), 1);
        rope(a.k, b, local, cfg.numKvHeads(), 1);
        // causal attention per sequence
        a.att = new float[tt * qd];
        a.probs = new float[b.n][];
        attentionForward(a, b, l);
        // output projection (Gemma: normed) and residual
        float[] o = project(l, TargetModule.O_PROJ, a.att, w.wo(l), bo[l], b, a, randoms);
        if (cfg.postNorms()) {
            a.oRaw = o;
            a.invO = new float[tt];
            o = new float[tt * c];
            TrainKernels.rmsnormForward(o, a.invO, a.oRaw, postAttnNorm[l], tt, c, eps);
        }
        a.xMid = xIn.clone();
        TrainKernels.add(o, 0, a.xMid, 0, tt * c);
        // MLP rmsnorm, SwiGLU / GeGLU, down projection and residual
        a.h2 = new float[tt * c];
        a.inv2 = new float[tt];
        TrainKernels.rmsnormForward(a.h2, a.inv2, a.xMid, mlpNorm[l], tt, c, eps);
        a.gate = project(l, TargetModule.GATE_PROJ, a.h2, w.wGate(l), bGate[l], b, a, randoms);
        a.up = project(l, TargetModule.UP_PROJ, a.h2, w.wUp(l), bUp[l], b, a, randoms);
        a.act = new float[tt * inter];
        gluForward(a.act, a.gate, a.up, tt * inter);
        float[] down = project(l, TargetModule.DOWN_PROJ, a.act, w.wDown(l), bDown[l], b, a, randoms);
        if (cfg.postNorms()) {
            a.downRaw = down;
            a.invDown = new float[tt];
            down = new float[tt * c];
            TrainKernels.rmsnormForward(down, a.invDown, a.downRaw, postMlpNorm[l], tt, c, eps);
        }
        float[] xOut = a.xMid.clone();
        TrainKernels.add(down, 0, xOut, 0, tt * c);
        return xOut;
    }

    /** Adds the gradient of layer l's input to dx (T, C), which holds the gradient of its output. */
    private void layerBackward(int l, float[] dx, LayerActs a, Batch b) {
        int tt = b.tokens;
        int c = cfg.hiddenSize();
        int qd = cfg.qDim();
        int kvd = cfg.kvDim();
        int inter = cfg.intermediateSize();
        boolean local = cfg.localRope(l);
        // down projection (its output gradient is dx, through the residual; Gemma: back through its post-norm)
        float[] dDown = dx;
        if (cfg.postNorms()) {
            dDown = new float[tt * c];
            TrainKernels.rmsnormBackward(dDown, dx, a.downRaw, a.invDown, postMlpNorm[l], tt, c);
        }
        float[] dAct = new float[tt * inter];
        projectBackward(l, TargetModule.DOWN_PROJ, dAct, dDown, w.wDown(l), b, a);
        float[] dGate = new float[tt * inter];
        float[] dUp = new float[tt * inter];
        gluBackward(dGate, dUp, dAct, a.gate, a.up, tt * inter);
        float[] dh2 = new float[tt * c];
        projectBackward(l, TargetModule.GATE_PROJ, dh2, dGate, w.wGate(l), b, a);
        projectBackward(l, TargetModule.UP_PROJ, dh2, dUp, w.wUp(l), b, a);
        TrainKernels.rmsnormBackward(dx, dh2, a.xMid, a.inv2, mlpNorm[l], tt, c);
        // output projection (dx now holds the gradient of xMid; Gemma: back through the post-attention norm)
        float[] dO = dx;
        if (cfg.postNorms()) {
            dO = new float[tt * c];
            TrainKernels.rmsnormBackward(dO, dx, a.oRaw, a.invO, postAttnNorm[l], tt, c);
        }
        float[] dAtt = new float[tt * qd];
        projectBackward(l, TargetModule.O_PROJ, dAtt, dO, w.wo(l), b, a);
        float[] dq = new float[tt * qd];
        float[] dk = new float[tt * kvd];
        float[] dv = new float[tt * kvd];
        attentionBackward(dq, dk, dv, dAtt, a, b, l);
        rope(dq, b, local, cfg.numHeads(), -1);
        rope(dk, b, local, cfg.numKvHeads(), -1);
        if (cfg.qkNorm()) {
            // back through the per-head norms to the projections' outputs
            float[] dqRaw = new float[tt * qd];
            float[] dkRaw = new float[tt * kvd];
            TrainKernels.rmsnormBackward(dqRaw, dq, a.qRaw, a.invQ, qNorm[l], tt * cfg.numHeads(), cfg.headDim());
            TrainKernels.rmsnormBackward(dkRaw, dk, a.kRaw, a.invK, kNorm[l], tt * cfg.numKvHeads(), cfg.headDim());
            dq = dqRaw;
            dk = dkRaw;
        }
        float[] dh1 = new float[tt * c];
        projectBackward(l, TargetModule.Q_PROJ, dh1, dq, w.wq(l), b, a);
        projectBackward(l, TargetModule.K_PROJ, dh1, dk, w.wk(l), b, a);
        projectBackward(l, TargetModule.V_PROJ, dh1, dv, w.wv(l), b, a);
        TrainKernels.rmsnormBackward(dx, dh1, a.xIn, a.inv1, attnNorm[l], tt, c);
    }

    // ---- RoPE -----------------------------------------------------------------------------

    /** Rotates every head of x (T, heads·HS) in place (sign −1: the transposed rotation, the gradient). */
    private void rope(float[] x, Batch b, boolean local, int heads, int sign) {
        int hs = cfg.headDim();
        int half = cfg.rotaryDim() / 2;
        int pairs = rope.pairs();
        for (int s = 0; s < b.n; s++) {
            float[] cos = local ? b.localCos[s] : b.cos[s];
            float[] sin = local ? b.localSin[s] : b.sin[s];
            for (int t = 0; t < b.len[s]; t++) {
                int row = b.start[s] + t;
                for (int h = 0; h < heads; h++) {
                    int off = (row * heads + h) * hs;
                    for (int i = 0; i < half; i++) {
                        float x0 = x[off + i];
                        float x1 = x[off + i + half];
                        float co = cos[t * pairs + i];
                        float si = sign * sin[t * pairs + i];
                        x[off + i] = x0 * co - x1 * si;
                        x[off + i + half] = x1 * co + x0 * si;
                    }
                }
            }
        }
    }

    // ---- attention ------------------------------------------------------------------------

    private float attentionScale() {
        return (float) (1.0 / Math.sqrt(cfg.gemma() != null ? cfg.gemma().queryPreAttnScalar() : cfg.headDim()));
    }

    /** Causal GQA attention of every sequence, one task per (sequence, head); probabilities saved per sequence. */
    private void attentionForward(LayerActs a, Batch b, int l) {
        int nh = cfg.numHeads();
        int nkv = cfg.numKvHeads();
        int hs = cfg.headDim();
        int group = nh / nkv;
        int window = cfg.windowFor(l);
        float scale = attentionScale();
        float cap = cfg.attnLogitSoftcap();
        for (int s = 0; s < b.n; s++) {
            a.probs[s] = new float[nh * b.len[s] * b.len[s]];
        }
        long work = attentionWork(b);
        TrainKernels.parallel(pool, b.n * nh, work, task -> {
            int s = task / nh;
            int h = task % nh;
            int kvh = h / group;
            int len = b.len[s];
            int st = b.start[s];
            float[] probs = a.probs[s];
            for (int i = 0; i < len; i++) {
                int first = window > 0 ? Math.max(0, i - window + 1) : 0;
                int row = (h * len + i) * len;
                int qOff = ((st + i) * nh + h) * hs;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = first; j <= i; j++) {
                    float score = TrainKernels.dot(a.q, qOff, a.k, ((st + j) * nkv + kvh) * hs, hs) * scale;
                    if (cap != 0) {
                        score = (float) (cap * Math.tanh(score / cap));
                    }
                    probs[row + j] = score;
                    max = Math.max(max, score);
                }
                float sum = 0;
                for (int j = first; j <= i; j++) {
                    float e = (float) Math.exp(probs[row + j] - max);
                    probs[row + j] = e;
                    sum += e;
                }
                float invSum = 1f / sum;
                for (int j = first; j <= i; j++) {
                    probs[row + j] *= invSum;
                    TrainKernels.axpy(probs[row + j], a.v, ((st + j) * nkv + kvh) * hs, a.att, qOff, hs);
                }
            }
        });
    }

    /** Adds the gradients of q, k and v given dOut (T, NH·HS); one task per (sequence, KV head), which owns its dk and dv. */
    private void attentionBackward(float[] dq, float[] dk, float[] dv, float[] dOut, LayerActs a, Batch b, int l) {
        int nh = cfg.numHeads();
        int nkv = cfg.numKvHeads();
        int hs = cfg.headDim();
        int group = nh / nkv;
        int window = cfg.windowFor(l);
        float scale = attentionScale();
        float cap = cfg.attnLogitSoftcap();
        TrainKernels.parallel(pool, b.n * nkv, 2 * attentionWork(b), task -> {
            int s = task / nkv;
            int kvh = task % nkv;
            int len = b.len[s];
            int st = b.start[s];
            float[] probs = a.probs[s];
            float[] dp = new float[len]; // (len) one row of dL/dP
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                for (int i = 0; i < len; i++) {
                    int first = window > 0 ? Math.max(0, i - window + 1) : 0;
                    int row = (h * len + i) * len;
                    int oOff = ((st + i) * nh + h) * hs;
                    float rowDot = 0;
                    for (int j = first; j <= i; j++) {
                        int vOff = ((st + j) * nkv + kvh) * hs;
                        float g = TrainKernels.dot(dOut, oOff, a.v, vOff, hs);
                        TrainKernels.axpy(probs[row + j], dOut, oOff, dv, vOff, hs);
                        dp[j] = g;
                        rowDot += probs[row + j] * g;
                    }
                    for (int j = first; j <= i; j++) {
                        float ds = probs[row + j] * (dp[j] - rowDot) * scale;
                        int kOff = ((st + j) * nkv + kvh) * hs;
                        if (cap != 0) {
                            float t = (float) Math.tanh(TrainKernels.dot(a.q, oOff, a.k, kOff, hs) * scale / cap);
                            ds *= 1 - t * t;
                        }
                        TrainKernels.axpy(ds, a.k, kOff, dq, oOff, hs);
                        TrainKernels.axpy(ds, a.q, oOff, dk, kOff, hs);
                    }
                }
            }
        });
    }

    // ---- SwiGLU / GeGLU -------------------------------------------------------------------

    private static final double GELU_K = Math.sqrt(2 / Math.PI);

    /** {@code act = silu(gate)·up} (GeGLU: gelu_tanh) over n elements, in row chunks over the threads. */
    private void gluForward(float[] act, float[] gate, float[] up, int n) {
        boolean gelu = cfg.gelu();
        parallelRows(n, 8, (from, to) -> {
            for (int i = from; i < to; i++) {
                float g = gate[i];
                act[i] = gelu ? (float) (0.5 * g * (1 + Math.tanh(GELU_K * (g + 0.044715 * g * g * g)))) * up[i]
                        : g / (1f + (float) Math.exp(-g)) * up[i];
            }
        });
    }

    /** {@code dGate = dAct·up·act'(gate)}, {@code dUp = dAct·act(gate)}. */
    private void gluBackward(float[] dGate, float[] dUp, float[] dAct, float[] gate, float[] up, int n) {
        boolean gelu = cfg.gelu();
        parallelRows(n, 8, (from, to) -> {
            for (int i = from; i < to; i++) {
                float g = gate[i];
                if (gelu) {
                    double t = Math.tanh(GELU_K * (g + 0.044715 * g * g * g));
                    float f = (float) (0.5 * g * (1 + t));
                    float df = (float) (0.5 * (1 + t) + 0.5 * g * (1 - t * t) * GELU_K * (1 + 3 * 0.044715 * g * g));
                    dGate[i] = dAct[i] * up[i] * df;
                    dUp[i] = dAct[i] * f;
                } else {
                    float sig = 1f / (1f + (float) Math.exp(-g));
                    dGate[i] = dAct[i] * up[i] * sig * (1 + g * (1 - sig));
                    dUp[i] = dAct[i] * g * sig;
                }
            }
        });
    }

    // ---- projections with LoRA ------------------------------------------------------------

    /** {@code x·Wᵀ + b + scale·(drop(x)·Aᵀ)·Bᵀ} (T, out), each sequence with its own adapter, saving the adapters' activations. */
    private float[] project(int l, TargetModule t, float[] x, Tensor weight, float[] bias, Batch b, LayerActs a,
            SplittableRandom[] randoms) {
        int out = t.outFeatures(cfg);
        int in = t.inFeatures(cfg);
        int tt = b.tokens;
        float[] y = new float[tt * out];
        TrainKernels.linearForward(pool, y, x, tt, weight, bias);
        boolean adapted = false;
        boolean dropped = false;
        for (int s = 0; s < b.n; s++) {
            adapted |= b.module(s, l, t) != null;
            dropped |= b.module(s, l, t) != null && b.dropout[s] > 0;
        }
        if (!adapted) {
            return y;
        }
        boolean[] keep = null;
        float[] xd = x;
        if (dropped) {
            // drawn in the batch's order from each sequence's adapter's own generator
            keep = new boolean[tt * in];
            xd = new float[tt * in];
            for (int s = 0; s < b.n; s++) {
                if (b.module(s, l, t) == null) {
                    continue;
                }
                float p = b.dropout[s];
                float inverse = 1f / (1f - p);
                SplittableRandom random = randoms[b.seqs.get(s).adapter()];
                for (int i = b.start[s] * in; i < (b.start[s] + b.len[s]) * in; i++) {
                    keep[i] = p == 0 || random.nextDouble() >= p;
                    xd[i] = keep[i] ? x[i] * inverse : 0f;
                }
            }
        }
        float[] source = xd;
        float[][] shrunk = new float[b.n][];
        TrainKernels.parallel(pool, b.n, (long) tt * (in + out) * maxRank(b, l, t), s -> {
            Lora32 m = b.module(s, l, t);
            if (m == null) {
                return;
            }
            int r = m.rank;
            float[] sh = new float[b.len[s] * r]; // (len, R)
            for (int i = 0; i < b.len[s]; i++) {
                int row = b.start[s] + i;
                for (int k = 0; k < r; k++) {
                    sh[i * r + k] = TrainKernels.dot(source, row * in, m.a, k * in, in);
                }
                for (int o = 0; o < out; o++) {
                    y[row * out + o] += m.scale * TrainKernels.dot(sh, i * r, m.b, o * r, r);
                }
            }
            shrunk[s] = sh;
        });
        a.lora[t.ordinal()] = new LoraActs(keep, xd, shrunk);
        return y;
    }

    /** Adds the input gradient of one projection to dx and each adapter's gradients to its float32 copy. */
    private void projectBackward(int l, TargetModule t, float[] dx, float[] dy, Tensor weight, Batch b, LayerActs a) {
        int tt = b.tokens;
        int out = t.outFeatures(cfg);
        int in = t.inFeatures(cfg);
        TrainKernels.linearBackward(pool, dx, dy, tt, weight);
        LoraActs acts = a.lora[t.ordinal()];
        if (acts == null) {
            return;
        }
        // ds = scale·dy·B (len, R) per sequence, and the input gradient ds·A, sequence by sequence
        float[] dxd = acts.keep() == null ? dx : new float[tt * in];
        float[][] ds = new float[b.n][];
        TrainKernels.parallel(pool, b.n, (long) tt * (in + out) * maxRank(b, l, t), s -> {
            Lora32 m = b.module(s, l, t);
            if (m == null) {
                return;
            }
            int r = m.rank;
            float[] d = new float[b.len[s] * r];
            for (int i = 0; i < b.len[s]; i++) {
                int row = b.start[s] + i;
                for (int o = 0; o < out; o++) {
                    float g = m.scale * dy[row * out + o];
                    if (g != 0) {
                        TrainKernels.axpy(g, m.b, o * r, d, i * r, r);
                    }
                }
                for (int k = 0; k < r; k++) {
                    TrainKernels.axpy(d[i * r + k], m.a, k * in, dxd, row * in, in);
                }
            }
            ds[s] = d;
        });
        // dB += scale·dyᵀ·shrunk and dA += dsᵀ·xd, per adapter over its sequences in the batch's order
        // (split by rows of dB and of A, so each sum runs in the same order whatever the threads)
        for (int s = 0; s < b.n; s++) {
            Lora32 m = b.module(s, l, t);
            if (m == null || firstOf(b, s, l, t) != s) {
                continue;
            }
            int first = s;
            int r = m.rank;
            parallelRows(out, (long) b.tokens * r, (o0, o1) -> {
                for (int q = first; q < b.n; q++) {
                    if (b.module(q, l, t) != m) {
                        continue;
                    }
                    for (int i = 0; i < b.len[q]; i++) {
                        int row = b.start[q] + i;
                        for (int o = o0; o < o1; o++) {
                            float g = m.scale * dy[row * out + o];
                            if (g != 0) {
                                TrainKernels.axpy(g, acts.shrunk()[q], i * r, m.gradB, o * r, r);
                            }
                        }
                    }
                }
            });
            TrainKernels.parallel(pool, r, (long) b.tokens * in * r, k -> {
                for (int q = first; q < b.n; q++) {
                    if (b.module(q, l, t) != m) {
                        continue;
                    }
                    for (int i = 0; i < b.len[q]; i++) {
                        TrainKernels.axpy(ds[q][i * r + k], acts.xd(), (b.start[q] + i) * in, m.gradA, k * in, in);
                    }
                }
            });
        }
        if (acts.keep() != null) {
            boolean[] keep = acts.keep();
            for (int s = 0; s < b.n; s++) {
                if (b.module(s, l, t) == null) {
                    continue;
                }
                float inverse = 1f / (1f - b.dropout[s]);
                for (int i = b.start[s] * in; i < (b.start[s] + b.len[s]) * in; i++) {
                    if (keep[i]) {
                        dx[i] += dxd[i] * inverse;
                    }
                }
            }
        }
    }

    /** The largest rank among the batch's adapters of one projection. */
    private static int maxRank(Batch b, int l, TargetModule t) {
        int r = 0;
        for (int s = 0; s < b.n; s++) {
            Lora32 m = b.module(s, l, t);
            r = m == null ? r : Math.max(r, m.rank);
        }
        return r;
    }

    /** Multiply-adds of one attention pass over the batch: Σ len²·NH·HS. */
    private long attentionWork(Batch b) {
        long work = 0;
        for (int s = 0; s < b.n; s++) {
            work += (long) b.len[s] * b.len[s] * cfg.numHeads() * cfg.headDim();
        }
        return work;
    }

    /** The first sequence of the batch that uses the same module as sequence s. */
    private static int firstOf(Batch b, int s, int l, TargetModule t) {
        Lora32 m = b.module(s, l, t);
        for (int q = 0; q < s; q++) {
            if (b.module(q, l, t) == m) {
                return q;
            }
        }
        return s;
    }
}
