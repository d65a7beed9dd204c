package io.loraplex.engine.backend;

import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.HostArena;
import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelWeights;
import io.loraplex.engine.model.Rope;
import io.loraplex.engine.model.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The fast CPU forward pass: Vector API kernels over the memory-mapped weights (f32, bf16 widened in
 * registers, f16 widened per tile), projections split across a {@link WorkerPool} by output rows,
 * attention by (token, head), LoRA by segments of one adapter's tokens read from the page arena.
 * Results are bit-identical whatever the batch (see {@link CpuKernels}).
 */
public final class CpuBackend implements Backend {

    /** One slice of output rows of one projection: a unit of parallel work. */
    private record RowTask(Tensor weight, int rowStart, int rowEnd, int target) {
    }

    private static final int Q = 0, K = 1, V = 2, O = 3, GATE = 4, UP = 5, DOWN = 6, LOGITS = 7;

    private final ModelConfig cfg;
    private final ModelWeights w;
    private final Rope rope;
    private final WorkerPool pool;
    private final float eps;
    private final float[][] attnNorm, mlpNorm; // (L) (C)
    private final float[][] bq, bk, bv, bo, bGate, bUp, bDown; // (L) (out) or nulls
    private final float[] finalNorm; // (C)
    private final RowTask[][] qkvTasks, oTasks, gateUpTasks, downTasks; // (L) (tasks)
    private final RowTask[] lmHeadTasks;
    private final ThreadLocal<float[]> widenScratch;
    private final ThreadLocal<float[]> scoreScratch = ThreadLocal.withInitial(() -> new float[1024]);
    private Scratch scratch;

    /** Activations of one step, grown when a step has more tokens than any before. */
    private static final class Scratch {
        final int capacity;
        final float[] x, h, q, k, v, att, tmp, gate, up, cos, sin, logitIn;

        Scratch(ModelConfig c, int tokens) {
            capacity = tokens;
            x = new float[tokens * c.hiddenSize()];        // (T, C) residual stream
            h = new float[tokens * c.hiddenSize()];        // (T, C) normed
            q = new float[tokens * c.qDim()];              // (T, NH·HS)
            k = new float[tokens * c.kvDim()];             // (T, NKV·HS)
            v = new float[tokens * c.kvDim()];             // (T, NKV·HS)
            att = new float[tokens * c.qDim()];            // (T, NH·HS)
            tmp = new float[tokens * c.hiddenSize()];      // (T, C)
            gate = new float[tokens * c.intermediateSize()]; // (T, I)
            up = new float[tokens * c.intermediateSize()];   // (T, I)
            cos = new float[tokens * c.headDim() / 2];     // (T, HS/2)
            sin = new float[tokens * c.headDim() / 2];     // (T, HS/2)
            logitIn = new float[tokens * c.hiddenSize()];  // (rows, C)
        }
    }

    public CpuBackend(ModelConfig cfg, ModelWeights weights, int threads) {
        this.cfg = cfg;
        this.w = weights;
        this.rope = new Rope(cfg);
        this.pool = new WorkerPool(threads);
        this.eps = (float) cfg.rmsNormEps();
        int n = cfg.numLayers();
        attnNorm = new float[n][];
        mlpNorm = new float[n][];
        bq = new float[n][];
        bk = new float[n][];
        bv = new float[n][];
        bo = new float[n][];
        bGate = new float[n][];
        bUp = new float[n][];
        bDown = new float[n][];
        qkvTasks = new RowTask[n][];
        oTasks = new RowTask[n][];
        gateUpTasks = new RowTask[n][];
        downTasks = new RowTask[n][];
        for (int l = 0; l < n; l++) {
            attnNorm[l] = w.attnNorm[l].toFloatArray();
            mlpNorm[l] = w.mlpNorm[l].toFloatArray();
            bq[l] = floats(w.bq[l]);
            bk[l] = floats(w.bk[l]);
            bv[l] = floats(w.bv[l]);
            bo[l] = floats(w.bo[l]);
            bGate[l] = floats(w.bGate[l]);
            bUp[l] = floats(w.bUp[l]);
            bDown[l] = floats(w.bDown[l]);
            qkvTasks[l] = split(threads, new Tensor[] {w.wq[l], w.wk[l], w.wv[l]}, new int[] {Q, K, V});
            oTasks[l] = split(threads, new Tensor[] {w.wo[l]}, new int[] {O});
            gateUpTasks[l] = split(threads, new Tensor[] {w.wGate[l], w.wUp[l]}, new int[] {GATE, UP});
            downTasks[l] = split(threads, new Tensor[] {w.wDown[l]}, new int[] {DOWN});
        }
        finalNorm = w.finalNorm.toFloatArray();
        lmHeadTasks = split(threads, new Tensor[] {w.lmHead}, new int[] {LOGITS});
        int widest = Math.max(Math.max(cfg.hiddenSize(), cfg.intermediateSize()), cfg.qDim());
        widenScratch = ThreadLocal.withInitial(() -> new float[4 * widest]);
        scratch = new Scratch(cfg, 16);
    }

    private static float[] floats(Tensor t) {
        return t == null ? null : t.toFloatArray();
    }

    /** Splits the rows of the given projections into tasks of a multiple of 4 rows, ~8 per thread. */
    private static RowTask[] split(int threads, Tensor[] weights, int[] targets) {
        long totalRows = 0;
        for (Tensor t : weights) {
            totalRows += t.dim(0);
        }
        int chunk = (int) Math.max(16, (totalRows / (threads * 8L) + 3) / 4 * 4);
        List<RowTask> tasks = new ArrayList<>();
        for (int i = 0; i < weights.length; i++) {
            int rows = (int) weights[i].dim(0);
            for (int r = 0; r < rows; r += chunk) {
                tasks.add(new RowTask(weights[i], r, Math.min(rows, r + chunk), targets[i]));
            }
        }
        return tasks.toArray(RowTask[]::new);
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public ModelConfig config() {
        return cfg;
    }

    public int threads() {
        return pool.threads();
    }

    @Override
    public PageArena allocateArena(ArenaLayout layout, int pages) {
        return new HostArena(layout, pages);
    }

    @Override
    public void forward(ForwardBatch batch, PageArena pageArena, float[] logits) {
        HostArena kv = (HostArena) pageArena;
        int nt = batch.numTokens();
        if (scratch.capacity < nt) {
            scratch = new Scratch(cfg, Math.max(nt, scratch.capacity * 2));
        }
        Scratch s = scratch;
        int c = cfg.hiddenSize();
        int half = cfg.headDim() / 2;

        int[] segments = adapterSegments(batch);
        // token embeddings and rotary angles
        for (int t = 0; t < nt; t++) {
            w.embed.copyTo((long) batch.tokens()[t] * c, s.x, t * c, c);
            rope.angles(batch.positions()[t], s.cos, s.sin, t * half);
        }
        for (int l = 0; l < cfg.numLayers(); l++) {
            // attention rmsnorm
            for (int t = 0; t < nt; t++) {
                CpuKernels.rmsnorm(s.x, t * c, attnNorm[l], eps, s.h, t * c, c);
            }
            // qkv matmuls, biases, adapters
            project(qkvTasks[l], s.h, c, nt, s);
            addBias(bq[l], s.q, cfg.qDim(), nt);
            addBias(bk[l], s.k, cfg.kvDim(), nt);
            addBias(bv[l], s.v, cfg.kvDim(), nt);
            lora(batch, segments, kv, l, TargetModule.Q_PROJ, s.h, s.q);
            lora(batch, segments, kv, l, TargetModule.K_PROJ, s.h, s.k);
            lora(batch, segments, kv, l, TargetModule.V_PROJ, s.h, s.v);
            // rotary embedding, then keys and values into the cache
            for (int t = 0; t < nt; t++) {
                for (int head = 0; head < cfg.numHeads(); head++) {
                    Rope.rotate(s.q, t * cfg.qDim() + head * cfg.headDim(), s.cos, s.sin, t * half, half);
                }
                for (int head = 0; head < cfg.numKvHeads(); head++) {
                    Rope.rotate(s.k, t * cfg.kvDim() + head * cfg.headDim(), s.cos, s.sin, t * half, half);
                }
                int[] table = batch.blockTables()[batch.sequence()[t]];
                System.arraycopy(s.k, t * cfg.kvDim(), kv.data, kv.keyOffset(table, l, batch.positions()[t]), cfg.kvDim());
                System.arraycopy(s.v, t * cfg.kvDim(), kv.data, kv.valueOffset(table, l, batch.positions()[t]), cfg.kvDim());
            }
            // causal attention over each token's sequence
            int layer = l;
            pool.run(nt * cfg.numHeads(), i -> attend(batch, kv, layer, i / cfg.numHeads(), i % cfg.numHeads(), s));
            // output projection and residual
            project(oTasks[l], s.att, cfg.qDim(), nt, s);
            addBias(bo[l], s.tmp, c, nt);
            lora(batch, segments, kv, l, TargetModule.O_PROJ, s.att, s.tmp);
            CpuKernels.add(s.tmp, 0, s.x, 0, nt * c);
            // MLP rmsnorm, SwiGLU, down projection and residual
            for (int t = 0; t < nt; t++) {
                CpuKernels.rmsnorm(s.x, t * c, mlpNorm[l], eps, s.h, t * c, c);
            }
            project(gateUpTasks[l], s.h, c, nt, s);
            addBias(bGate[l], s.gate, cfg.intermediateSize(), nt);
            addBias(bUp[l], s.up, cfg.intermediateSize(), nt);
            lora(batch, segments, kv, l, TargetModule.GATE_PROJ, s.h, s.gate);
            lora(batch, segments, kv, l, TargetModule.UP_PROJ, s.h, s.up);
            CpuKernels.swiglu(s.gate, s.up, 0, nt * cfg.intermediateSize());
            project(downTasks[l], s.gate, cfg.intermediateSize(), nt, s);
            addBias(bDown[l], s.tmp, c, nt);
            lora(batch, segments, kv, l, TargetModule.DOWN_PROJ, s.gate, s.tmp);
            CpuKernels.add(s.tmp, 0, s.x, 0, nt * c);
        }
        // final norm and lm head, only for the rows whose logits are wanted
        int[] rows = batch.logitRows();
        for (int r = 0; r < rows.length; r++) {
            CpuKernels.rmsnorm(s.x, rows[r] * c, finalNorm, eps, s.logitIn, r * c, c);
        }
        int nRows = rows.length;
        pool.run(lmHeadTasks.length, i -> {
            RowTask task = lmHeadTasks[i];
            CpuKernels.matmul(s.logitIn, c, nRows, task.weight.data(), task.weight.dtype(), c,
                    task.rowStart, task.rowEnd, logits, cfg.vocabSize(), 0, widenScratch.get());
        });
    }

    /** Runs the row tasks of one or more projections of {@code in} (T, n) into their outputs. */
    private void project(RowTask[] tasks, float[] in, int n, int nt, Scratch s) {
        pool.run(tasks.length, i -> {
            RowTask task = tasks[i];
            float[] out = output(task.target, s);
            int width = (int) task.weight.dim(0);
            CpuKernels.matmul(in, n, nt, task.weight.data(), task.weight.dtype(), n,
                    task.rowStart, task.rowEnd, out, width, 0, widenScratch.get());
        });
    }

    private static float[] output(int target, Scratch s) {
        return switch (target) {
            case Q -> s.q;
            case K -> s.k;
            case V -> s.v;
            case O, DOWN -> s.tmp;
            case GATE -> s.gate;
            case UP -> s.up;
            default -> throw new IllegalArgumentException("no buffer for target " + target);
        };
    }

    private static void addBias(float[] bias, float[] y, int width, int nt) {
        if (bias == null) {
            return;
        }
        for (int t = 0; t < nt; t++) {
            CpuKernels.add(bias, 0, y, t * width, width);
        }
    }

    /** Longest run of one adapter's tokens a LoRA task takes (SGMV segments are split for parallelism). */
    private static final int SEGMENT_TOKENS = 16;

    /**
     * Runs of consecutive tokens with the same adapter, as {@code [start, end)} pairs; runs without
     * an adapter are left out. A prefill chunk is one run (SGMV); decode tokens are runs of one (BGMV).
     */
    private static int[] adapterSegments(ForwardBatch batch) {
        if (batch.adapters().length == 0) {
            return new int[0];
        }
        int[] adapter = batch.adapter();
        int[] out = new int[2 * adapter.length];
        int n = 0;
        for (int start = 0; start < adapter.length; ) {
            int end = start + 1;
            while (end < adapter.length && adapter[end] == adapter[start] && end - start < SEGMENT_TOKENS) {
                end++;
            }
            if (adapter[start] != ForwardBatch.NO_ADAPTER) {
                out[n++] = start;
                out[n++] = end;
            }
            start = end;
        }
        return java.util.Arrays.copyOf(out, n);
    }

    /**
     * Adds each token's adapter delta {@code scale·(x·Aᵀ)·Bᵀ} for one projection, segment by
     * segment. Shrink: a segment's tokens against the adapter's A rows, 4×4 tiles (a lone token uses
     * plain dots; both give the same bits). Expand: the rank-weighted sum of B's columns, then
     * scaled into {@code y}. Ranks differ per adapter and nothing is padded.
     */
    private void lora(ForwardBatch batch, int[] segments, HostArena arena, int layer, TargetModule module, float[] in,
            float[] y) {
        if (segments.length == 0) {
            return;
        }
        int inDim = module.inFeatures(cfg);
        int outDim = module.outFeatures(cfg);
        pool.run(segments.length / 2, task -> {
            int start = segments[2 * task];
            int end = segments[2 * task + 1];
            PagedAdapter.Module m = batch.adapters()[batch.adapter()[start]].module(layer, module);
            if (m == null) {
                return;
            }
            int rank = m.rank();
            int n = end - start;
            float[] shrunk = loraScratch.get().shrunk(n * rank);   // (n, R)
            float[] delta = loraScratch.get().delta(outDim);       // (out)
            if (n == 1) {
                for (int r = 0; r < rank; r++) {
                    shrunk[r] = CpuKernels.dot(in, start * inDim, arena.data, m.aRows()[r], inDim);
                }
            } else {
                CpuKernels.matmulRows(in, inDim, start, n, arena.data, m.aRows(), inDim, shrunk, rank);
            }
            for (int t = 0; t < n; t++) {
                java.util.Arrays.fill(delta, 0, outDim, 0f);
                for (int r = 0; r < rank; r++) {
                    CpuKernels.axpy(shrunk[t * rank + r], arena.data, m.bRows()[r], delta, 0, outDim);
                }
                CpuKernels.axpy(m.scale(), delta, 0, y, (start + t) * outDim, outDim);
            }
        });
    }

    private final ThreadLocal<LoraScratch> loraScratch = ThreadLocal.withInitial(LoraScratch::new);
    /** Per-thread buffers of the LoRA path, grown on demand. */
    private static final class LoraScratch {
        private float[] shrunk = new float[256];
        private float[] delta = new float[1024];

        float[] shrunk(int n) {
            if (shrunk.length < n) {
                shrunk = new float[n];
            }
            return shrunk;
        }

        float[] delta(int n) {
            if (delta.length < n) {
                delta = new float[n];
            }
            return delta;
        }
    }

    /** Attention of token {@code t}, head {@code head} over positions 0..position of its sequence. */
    private void attend(ForwardBatch batch, HostArena kv, int layer, int t, int head, Scratch s) {
        int hs = cfg.headDim();
        int kvHead = head / (cfg.numHeads() / cfg.numKvHeads());
        int position = batch.positions()[t];
        int[] table = batch.blockTables()[batch.sequence()[t]];
        int window = cfg.windowFor(layer);
        int first = window > 0 ? Math.max(0, position - window + 1) : 0;
        float scale = (float) (1.0 / Math.sqrt(hs));
        float[] scores = scoreScratch.get();
        if (scores.length < position + 1) {
            scores = new float[Math.max(position + 1, scores.length * 2)];
            scoreScratch.set(scores);
        }
        int qOff = t * cfg.qDim() + head * hs;
        float[] data = kv.data;
        float max = Float.NEGATIVE_INFINITY;
        for (int j = first; j <= position; j++) {
            float score = CpuKernels.dot(s.q, qOff, data, kv.keyOffset(table, layer, j) + kvHead * hs, hs) * scale;
            scores[j] = score;
            max = Math.max(max, score);
        }
        float sum = 0;
        for (int j = first; j <= position; j++) {
            float e = (float) Math.exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        java.util.Arrays.fill(s.att, qOff, qOff + hs, 0f);
        for (int j = first; j <= position; j++) {
            CpuKernels.axpy(scores[j] * inv, data, kv.valueOffset(table, layer, j) + kvHead * hs, s.att, qOff, hs);
        }
    }

    @Override
    public void close() {
        pool.close();
    }
}
