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
import io.loraplex.engine.model.WeightFormat;
import java.util.ArrayList;
import java.util.List;

/**
 * The fast CPU operations: Vector API kernels over the projections packed once at load into
 * {@link PanelMatrix} panels (f32, bf16 and f16 widened in registers, int8/int4 blocks dequantized in
 * registers; {@link PanelKernels}), split across a {@link WorkerPool} by panels, attention by
 * (query block, KV head) ({@link AttentionKernels}), LoRA by segments of one adapter's tokens read
 * from the page arena.
 * The layer sequence is {@link LayerSequence}'s. Results are bit-identical whatever the batch (see
 * {@link CpuKernels}).
 */
public final class CpuBackend implements BackendOperations {

    /** One slice of panels of one projection: a unit of parallel work. */
    private record RowTask(PanelMatrix weight, int panelStart, int panelEnd, TargetModule module) {
    }

    private final ModelConfig cfg;
    private final ModelWeights w;
    private final Rope rope;
    private final Rope localRope; // Gemma 3's sliding layers' RoPE, or null
    private final WorkerPool pool;
    private final int threads;
    private final float eps;
    private final float[][] attnNorm, mlpNorm; // (L) (C)
    private final float[][] qNorm, kNorm; // (L) (HS) or nulls
    private final float[][] postAttnNorm, postMlpNorm; // (L) (C) or nulls: Gemma's post-norms
    private final float[][][] bias; // (L, TargetModule.COUNT) (out) or nulls
    private final float[] finalNorm; // (C)
    /** (L, 2^TargetModule.COUNT) the row tasks of each set of projections given together, built on first use. */
    private final RowTask[][] projectTasks;
    private final RowTask[] lmHeadTasks;
    /** (L, TargetModule.COUNT) the projections packed into panels at load, and the lm head's. */
    private final PanelMatrix[][] panels;
    private final PanelMatrix lmHeadPanels;
    private final ThreadLocal<float[]> tileScratch = ThreadLocal.withInitial(PanelKernels::tileBuffer);
    private final ThreadLocal<AttentionKernels.Scratch> attentionScratch = ThreadLocal.withInitial(AttentionKernels.Scratch::new);
    private final float[][] projectOut = new float[TargetModule.COUNT][]; // outputs of the projections running now
    private Scratch scratch;

    // the step bound by begin()
    private ForwardBatch batch;
    private HostArena kv;
    private int[] segments;

    /** Activations of one step, grown when a step has more tokens than any before. */
    private static final class Scratch {
        final int capacity;
        final float[] x, h, q, k, v, att, delta, gate, up, cos, sin, localCos, localSin, fin;

        Scratch(ModelConfig c, int tokens) {
            capacity = tokens;
            x = new float[tokens * c.hiddenSize()];        // (T, C) residual stream
            h = new float[tokens * c.hiddenSize()];        // (T, C) normed
            q = new float[tokens * c.qDim()];              // (T, NH·HS)
            k = new float[tokens * c.kvDim()];             // (T, NKV·HS)
            v = new float[tokens * c.kvDim()];             // (T, NKV·HS)
            att = new float[tokens * c.qDim()];            // (T, NH·HS)
            delta = new float[tokens * c.hiddenSize()];    // (T, C)
            gate = new float[tokens * c.intermediateSize()]; // (T, I)
            up = new float[tokens * c.intermediateSize()];   // (T, I)
            cos = new float[tokens * c.headDim() / 2];     // (T, HS/2)
            sin = new float[tokens * c.headDim() / 2];     // (T, HS/2)
            boolean local = c.gemma() != null && c.gemma().localRopeTheta() != null;
            localCos = local ? new float[tokens * c.headDim() / 2] : null; // (T, HS/2) Gemma 3's sliding layers
            localSin = local ? new float[tokens * c.headDim() / 2] : null; // (T, HS/2)
            fin = new float[tokens * c.hiddenSize()];      // (rows, C)
        }

        float[] of(Activation a) {
            return switch (a) {
                case X -> x;
                case H -> h;
                case Q -> q;
                case K -> k;
                case V -> v;
                case ATT -> att;
                case DELTA -> delta;
                case GATE -> gate;
                case UP -> up;
                case FINAL -> fin;
            };
        }
    }

    public CpuBackend(ModelConfig cfg, ModelWeights weights, int threads) {
        this.cfg = cfg;
        this.w = weights;
        this.rope = new Rope(cfg);
        this.localRope = cfg.gemma() != null && cfg.gemma().localRopeTheta() != null ? new Rope(cfg.localRopeConfig()) : null;
        this.pool = new WorkerPool(threads);
        this.threads = threads;
        this.eps = (float) cfg.rmsNormEps();
        int n = cfg.numLayers();
        attnNorm = new float[n][];
        mlpNorm = new float[n][];
        qNorm = new float[n][];
        kNorm = new float[n][];
        postAttnNorm = new float[n][];
        postMlpNorm = new float[n][];
        bias = new float[n][TargetModule.COUNT][];
        projectTasks = new RowTask[n * (1 << TargetModule.COUNT)][];
        panels = new PanelMatrix[n][];
        WeightFormat format = weights.format();
        for (int l = 0; l < n; l++) {
            Tensor[] stored = weights.storedProjections(l);
            panels[l] = new PanelMatrix[TargetModule.COUNT];
            for (TargetModule m : TargetModule.values()) {
                Tensor t = stored[m.ordinal()];
                panels[l][m.ordinal()] = PanelMatrix.pack(t, format == null ? t.dtype() : format.dtype());
                releaseMapped(t);
            }
            attnNorm[l] = normWeight(cfg, w.attnNorm[l]);
            mlpNorm[l] = normWeight(cfg, w.mlpNorm[l]);
            if (cfg.qkNorm()) {
                qNorm[l] = normWeight(cfg, w.qNorm[l]);
                kNorm[l] = normWeight(cfg, w.kNorm[l]);
            }
            if (cfg.postNorms()) {
                postAttnNorm[l] = normWeight(cfg, w.postAttnNorm[l]);
                postMlpNorm[l] = normWeight(cfg, w.postMlpNorm[l]);
            }
            for (TargetModule m : TargetModule.values()) {
                Tensor b = LayerWeights.bias(w, l, m);
                bias[l][m.ordinal()] = b == null ? null : b.toFloatArray();
            }
        }
        finalNorm = normWeight(cfg, w.finalNorm);
        Tensor head = weights.storedLmHead();
        lmHeadPanels = PanelMatrix.pack(head, format == null ? head.dtype() : format.lmHeadDtype());
        if (head != weights.embed) {
            releaseMapped(head); // a tied head is the embedding, whose rows embed() reads
        }
        lmHeadTasks = split(threads, new PanelMatrix[] {lmHeadPanels}, new TargetModule[] {null});
        scratch = new Scratch(cfg, 16);
    }

    /**
     * Drops a packed tensor's mapped pages from this process's memory: the panels hold its values
     * now, and a checkpoint read once must not stay resident beside its packed copy (an 8B model
     * would be counted twice). The mapping stays valid; a later reader (the reference backend,
     * training) faults its pages in again from the file.
     */
    private static void releaseMapped(Tensor t) {
        if (t.data().isMapped()) {
            t.data().unload();
        }
    }

    /** A norm's multiplier: its weight, or Gemma's {@code 1 + w} (in f32, as HF computes it), taken once at load. */
    private static float[] normWeight(ModelConfig cfg, Tensor weight) {
        float[] v = weight.toFloatArray();
        if (cfg.normAddsOne()) {
            for (int i = 0; i < v.length; i++) {
                v[i] = 1f + v[i];
            }
        }
        return v;
    }

    /** Splits the panels of the given projections into tasks of whole panel groups, ~8 per thread. */
    private static RowTask[] split(int threads, PanelMatrix[] weights, TargetModule[] modules) {
        long totalPanels = 0;
        for (PanelMatrix t : weights) {
            totalPanels += t.panels();
        }
        int group = PanelMatrix.GROUP;
        int chunk = (int) Math.max(group, (totalPanels / (threads * 8L) + group - 1) / group * group);
        List<RowTask> tasks = new ArrayList<>();
        for (int i = 0; i < weights.length; i++) {
            int count = weights[i].panels();
            for (int p = 0; p < count; p += chunk) {
                tasks.add(new RowTask(weights[i], p, Math.min(count, p + chunk), modules[i]));
            }
        }
        return tasks.toArray(RowTask[]::new);
    }

    @Override
    public String name() {
        return "cpu";
    }

    /** Bytes of the packed projections and lm head this backend holds (native memory, padding included). */
    public long packedWeightBytes() {
        long bytes = lmHeadPanels.byteSize();
        for (PanelMatrix[] layer : panels) {
            for (PanelMatrix m : layer) {
                bytes += m.byteSize();
            }
        }
        return bytes;
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
    public void begin(ForwardBatch batch, PageArena arena) {
        this.batch = batch;
        this.kv = (HostArena) arena;
        int nt = batch.numTokens();
        if (scratch.capacity < nt) {
            scratch = new Scratch(cfg, Math.max(nt, scratch.capacity * 2));
        }
        int half = rope.pairs();
        int[] lengths = batch.sequenceLengths();
        for (int t = 0; t < nt; t++) {
            rope.angles(batch.positions()[t], lengths[batch.sequence()[t]], scratch.cos, scratch.sin, t * half);
            if (localRope != null) {
                localRope.angles(batch.positions()[t], lengths[batch.sequence()[t]], scratch.localCos, scratch.localSin, t * half);
            }
        }
        segments = adapterSegments(batch);
    }

    @Override
    public void embed(Activation out) {
        int c = cfg.hiddenSize();
        float[] x = scratch.of(out);
        for (int t = 0; t < batch.numTokens(); t++) {
            w.embed.copyTo((long) batch.tokens()[t] * c, x, t * c, c);
        }
        float scale = cfg.embeddingScale();
        if (scale != 1f) {
            for (int i = 0; i < batch.numTokens() * c; i++) {
                x[i] *= scale;
            }
        }
    }

    @Override
    public void rmsnorm(int layer, Norm norm, Activation in, Activation out) {
        // rows of C, or for q and k one row per head, HS wide (in place is safe: each element is read before written)
        float[] weight = switch (norm) {
            case ATTENTION -> attnNorm[layer];
            case MLP -> mlpNorm[layer];
            case QUERY -> qNorm[layer];
            case KEY -> kNorm[layer];
            case POST_ATTENTION -> postAttnNorm[layer];
            case POST_MLP -> postMlpNorm[layer];
        };
        int width = weight.length;
        int rows = batch.numTokens() * switch (norm) {
            case ATTENTION, MLP, POST_ATTENTION, POST_MLP -> 1;
            case QUERY -> cfg.numHeads();
            case KEY -> cfg.numKvHeads();
        };
        float[] x = scratch.of(in);
        float[] y = scratch.of(out);
        for (int r = 0; r < rows; r++) {
            CpuKernels.rmsnorm(x, r * width, weight, eps, y, r * width, width);
        }
    }

    @Override
    public void project(int layer, Activation in, List<Projection> projections) {
        int mask = 0;
        for (Projection p : projections) {
            mask |= 1 << p.module().ordinal();
            projectOut[p.module().ordinal()] = scratch.of(p.out());
        }
        RowTask[] tasks = tasksFor(layer, mask);
        float[] x = scratch.of(in);
        int n = projections.getFirst().module().inFeatures(cfg);
        int nt = batch.numTokens();
        pool.run(tasks.length, i -> {
            RowTask task = tasks[i];
            float[] y = projectOut[task.module.ordinal()];
            PanelKernels.matmul(x, n, nt, task.weight, task.panelStart, task.panelEnd, y, task.weight.rows(), 0, tileScratch.get());
        });
        for (Projection p : projections) {
            addBias(bias[layer][p.module().ordinal()], scratch.of(p.out()), p.module().outFeatures(cfg), nt);
        }
    }

    /** The row tasks of the projections in {@code mask} (bits by module ordinal), split together as one. */
    private RowTask[] tasksFor(int layer, int mask) {
        int key = layer * (1 << TargetModule.COUNT) + mask;
        RowTask[] tasks = projectTasks[key];
        if (tasks == null) {
            List<PanelMatrix> weights = new ArrayList<>();
            List<TargetModule> modules = new ArrayList<>();
            for (TargetModule m : TargetModule.values()) {
                if ((mask & (1 << m.ordinal())) != 0) {
                    weights.add(panels[layer][m.ordinal()]);
                    modules.add(m);
                }
            }
            tasks = split(threads, weights.toArray(PanelMatrix[]::new), modules.toArray(TargetModule[]::new));
            projectTasks[key] = tasks;
        }
        return tasks;
    }

    @Override
    public void rope(int layer, Activation q, Activation k) {
        float[] qs = scratch.of(q);
        float[] ks = scratch.of(k);
        int half = rope.pairs(); // rotary/2: a partial rotary leaves the rest of each head as it is
        boolean local = cfg.localRope(layer);
        float[] cos = local ? scratch.localCos : scratch.cos;
        float[] sin = local ? scratch.localSin : scratch.sin;
        for (int t = 0; t < batch.numTokens(); t++) {
            for (int head = 0; head < cfg.numHeads(); head++) {
                Rope.rotate(qs, t * cfg.qDim() + head * cfg.headDim(), cos, sin, t * half, half);
            }
            for (int head = 0; head < cfg.numKvHeads(); head++) {
                Rope.rotate(ks, t * cfg.kvDim() + head * cfg.headDim(), cos, sin, t * half, half);
            }
        }
    }

    @Override
    public void storeKv(int layer, Activation k, Activation v) {
        float[] ks = scratch.of(k);
        float[] vs = scratch.of(v);
        int kvDim = cfg.kvDim();
        for (int t = 0; t < batch.numTokens(); t++) {
            int[] table = batch.blockTables()[batch.sequence()[t]];
            System.arraycopy(ks, t * kvDim, kv.data, kv.keyOffset(table, layer, batch.positions()[t]), kvDim);
            System.arraycopy(vs, t * kvDim, kv.data, kv.valueOffset(table, layer, batch.positions()[t]), kvDim);
        }
    }

    @Override
    public void attention(int layer, Activation q, Activation out) {
        float[] qs = scratch.of(q);
        float[] att = scratch.of(out);
        ForwardBatch batch = this.batch;
        HostArena arena = kv;
        AttentionKernels.Shape shape = new AttentionKernels.Shape(cfg.numHeads(), cfg.numKvHeads(), cfg.headDim(),
                cfg.windowFor(layer), cfg.attentionScale(), cfg.attnLogitSoftcap());
        // decode tokens are blocks of one; a prompt chunk's tokens share each key and value load
        int[] blocks = AttentionKernels.queryBlocks(batch.sequence(), batch.positions(), batch.numTokens(),
                AttentionKernels.PREFILL_BLOCK);
        int kvHeads = cfg.numKvHeads();
        pool.run(blocks.length / 2 * kvHeads, i -> {
            int start = blocks[2 * (i / kvHeads)];
            int end = blocks[2 * (i / kvHeads) + 1];
            AttentionKernels.attendBlock(shape, arena, layer, batch.blockTables()[batch.sequence()[start]], batch.positions(),
                    start, end, i % kvHeads, qs, att, attentionScratch.get());
        });
    }

    @Override
    public void swiglu(Activation gate, Activation up) {
        CpuKernels.swiglu(scratch.of(gate), scratch.of(up), 0, batch.numTokens() * cfg.intermediateSize());
    }

    @Override
    public void geglu(Activation gate, Activation up) {
        CpuKernels.geglu(scratch.of(gate), scratch.of(up), 0, batch.numTokens() * cfg.intermediateSize());
    }

    @Override
    public void residual(Activation delta, Activation x) {
        CpuKernels.add(scratch.of(delta), 0, scratch.of(x), 0, batch.numTokens() * cfg.hiddenSize());
    }

    @Override
    public void finalNorm(Activation in, Activation out) {
        int c = cfg.hiddenSize();
        int[] rows = batch.logitRows();
        float[] x = scratch.of(in);
        float[] y = scratch.of(out);
        for (int r = 0; r < rows.length; r++) {
            CpuKernels.rmsnorm(x, rows[r] * c, finalNorm, eps, y, r * c, c);
        }
    }

    @Override
    public void lmHead(Activation in, float[] logits) {
        int c = cfg.hiddenSize();
        int nRows = batch.logitRows().length;
        float[] x = scratch.of(in);
        pool.run(lmHeadTasks.length, i -> {
            RowTask task = lmHeadTasks[i];
            PanelKernels.matmul(x, c, nRows, task.weight, task.panelStart, task.panelEnd, logits, cfg.vocabSize(), 0, tileScratch.get());
        });
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
    @Override
    public void lora(int layer, TargetModule module, Activation input, Activation output) {
        lora(layer, input, List.of(new Projection(module, output)));
    }

    /** Every (projection, segment) pair of the given projections as one parallel region. */
    @Override
    public void lora(int layer, Activation input, List<Projection> projections) {
        if (segments.length == 0) {
            return;
        }
        int perModule = segments.length / 2;
        pool.run(perModule * projections.size(), task -> {
            Projection p = projections.get(task / perModule);
            int segment = task % perModule;
            loraSegment(layer, p.module(), scratch.of(input), scratch.of(p.out()), segments[2 * segment], segments[2 * segment + 1]);
        });
    }

    /**
     * One segment's adapter delta {@code scale·(x·Aᵀ)·Bᵀ} for one projection. Shrink: the segment's
     * tokens against the adapter's A rows in 4×4 tiles (a lone token: plain dots; the same bits).
     * Expand: a GEMM of the shrunk rows and B's rows ({@link CpuKernels#expand}), each element the
     * rank-ordered fma chain a lone token's axpy gives. Ranks differ per adapter; nothing is padded.
     */
    private void loraSegment(int layer, TargetModule module, float[] in, float[] y, int start, int end) {
        HostArena arena = kv;
        ForwardBatch batch = this.batch;
        PagedAdapter.Module m = batch.adapters()[batch.adapter()[start]].module(layer, module);
        if (m == null) {
            return;
        }
        int inDim = module.inFeatures(cfg);
        int outDim = module.outFeatures(cfg);
        int rank = m.rank();
        int n = end - start;
        float[] shrunk = loraScratch.get().shrunk(n * rank);   // (n, R)
        if (n == 1) {
            for (int r = 0; r < rank; r++) {
                shrunk[r] = CpuKernels.dot(in, start * inDim, arena.data, m.aRows()[r], inDim);
            }
        } else {
            CpuKernels.matmulRows(in, inDim, start, n, arena.data, m.aRows(), inDim, shrunk, rank);
        }
        CpuKernels.expand(shrunk, rank, n, arena.data, m.bRows(), outDim, m.scale(), y, start * outDim, outDim,
                loraScratch.get().delta(outDim));
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

    @Override
    public void close() {
        pool.close();
    }
}
