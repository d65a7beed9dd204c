package io.loraplex.engine.backend.cuda;

import io.loraplex.engine.backend.BackendOperations;
import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.backend.LayerSequence;
import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelWeights;
import io.loraplex.kernels.KernelSignature;
import io.loraplex.kernels.Kernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The forward pass on a GPU: {@link LayerSequence}'s operations as kernel launches and cuBLAS GEMMs
 * on a {@link Device}, bf16 weights and activations with f32 accumulation, the KV cache and the
 * adapters in one {@link DeviceArena}.
 *
 * <p>A step's host work is building its index tables ({@link RopeTables}, {@link AttentionTables},
 * {@link LoraTables}, as the kernels' headers read them) into one pinned buffer; {@link #begin} copies
 * that buffer to the device, so the kernels read tables that are part of the step's own stream of
 * work. A decode step (one token per sequence, at most {@link #MAX_GRAPH_TOKENS}) is padded to a
 * power-of-two token count and run as a captured graph keyed by its shape: padded rows carry token 0
 * at position 0 of a scratch page with no adapter, and the tables are laid out at the capacities of
 * the key, so the next step with that shape rewrites the tables in place and replays the graph. The
 * only copy back is the logits of the step's rows.
 *
 * <p>Covers Llama, Mistral, Qwen2, Qwen3 and Phi-3 in bf16; Gemma (per-layer RoPE bases, soft-caps,
 * GeGLU) and quantized weights are refused, and {@code Backends} then serves on the CPU.
 */
public final class CudaBackend implements BackendOperations {

    /** The largest decode step run as a captured graph; larger steps launch directly. */
    public static final int MAX_GRAPH_TOKENS = 256;
    /** The smallest LoRA rank capacity of a captured step (ranks are padded up to a power of two). */
    private static final int MIN_RANK_CAP = 8;
    private static final long TABLE_STAGING_BYTES = 4L << 20;

    private final ModelConfig cfg;
    private final Device device;
    private final DeviceWeights weights;
    private final boolean graphs;
    private final Map<StepKey, Device.Graph> captured = new HashMap<>();

    // buffers, grown on demand; growing drops every captured graph (their pointers would be stale)
    private final EnumMap<Activation, Long> activations = new EnumMap<>(Activation.class);
    private int tokenCapacity;
    private long shrunk;
    private long shrunkFloats;
    private long logitsDevice;
    private long sampling;
    private int logitRowCapacity;
    private MemorySegment logitsHost;
    private MemorySegment tableStaging;
    private long tableDevice;
    private long tableCapacity;

    private Step step;

    /**
     * Uploads {@code weights} to {@code device} in bf16.
     *
     * @param graphs capture decode steps as graphs (off only to compare with direct launches)
     * @throws IllegalArgumentException for an architecture or weight format this backend does not run
     */
    public CudaBackend(ModelConfig cfg, ModelWeights weights, Device device, boolean graphs) {
        refuseUnsupported(cfg, weights);
        this.cfg = cfg;
        this.device = device;
        this.graphs = graphs;
        this.weights = DeviceWeights.upload(cfg, weights, device);
        this.tableStaging = device.allocPinned(TABLE_STAGING_BYTES);
        this.tableDevice = device.alloc(TABLE_STAGING_BYTES);
        this.tableCapacity = TABLE_STAGING_BYTES;
    }

    public CudaBackend(ModelConfig cfg, ModelWeights weights, Device device) {
        this(cfg, weights, device, true);
    }

    /** Why this backend cannot run {@code cfg} with {@code weights}, or null when it can. */
    public static String unsupported(ModelConfig cfg, ModelWeights weights) {
        Architecture a = cfg.architecture();
        if (a == Architecture.GEMMA2 || a == Architecture.GEMMA3 || cfg.postNorms() || cfg.gelu() || cfg.normAddsOne()) {
            return "the CUDA backend does not run " + a.hfClass() + " yet (per-layer RoPE bases, soft-caps, GeGLU)";
        }
        if (cfg.embeddingScale() != 1f || cfg.attnLogitSoftcap() != 0f || cfg.finalLogitSoftcap() != 0f) {
            return "the CUDA backend has no embedding scale or soft-cap kernels";
        }
        if (cfg.headDim() > Kernels.MAX_HEAD_DIM || cfg.headDim() % 2 != 0) {
            return "head size " + cfg.headDim() + ": the attention kernel takes even sizes up to " + Kernels.MAX_HEAD_DIM;
        }
        if (cfg.rotaryDim() / 2 > Kernels.MAX_ROTARY_HALF) {
            return "rotary dimension " + cfg.rotaryDim() + " exceeds the RoPE kernel's " + 2 * Kernels.MAX_ROTARY_HALF;
        }
        if (weights != null && weights.format() != null && weights.format().dtype().quantized()) {
            return "the CUDA backend serves bf16 weights; --weights " + weights.format().flagName() + " runs on the CPU";
        }
        return null;
    }

    private static void refuseUnsupported(ModelConfig cfg, ModelWeights weights) {
        String why = unsupported(cfg, weights);
        if (why != null) {
            throw new IllegalArgumentException(why);
        }
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public ModelConfig config() {
        return cfg;
    }

    public Device device() {
        return device;
    }

    /** Graphs captured so far (one per decode shape seen since the buffers last grew). */
    public int capturedGraphs() {
        return captured.size();
    }

    @Override
    public PageArena allocateArena(ArenaLayout layout, int pages) {
        return new DeviceArena(device, layout, pages);
    }

    // ---------------------------------------------------------------- the step

    @Override
    public void forward(ForwardBatch batch, PageArena arena, float[] logits) {
        run(batch, arena, logits);
        // the one copy back: the logits of the batch's own rows (a padded step's extra rows come after them)
        int rows = batch.logitRows().length;
        long bytes = (long) rows * cfg.vocabSize() * Float.BYTES;
        device.download(logitsDevice, logitsHost, bytes);
        MemorySegment.copy(logitsHost, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, logits, 0, rows * cfg.vocabSize());
    }

    /**
     * A greedy step: runs {@code batch} like {@link #forward} but copies back only each logit row's
     * argmax ({@code loraplex_logits_argmax}: the smallest index of the largest logit; -1 for a row of
     * NaNs), not its V logits, into {@code tokens} (one per logit row).
     */
    public void forwardGreedy(ForwardBatch batch, PageArena arena, int[] tokens) {
        run(batch, arena, null);
        int rows = batch.logitRows().length;
        launch("loraplex_logits_argmax", LaunchShape.of(rows, 1, 256),
                sampling, sampling + 8L * logitRowCapacity, logitsDevice, rows, cfg.vocabSize(), cfg.vocabSize());
        MemorySegment host = MemorySegment.ofArray(new int[rows]);
        device.download(sampling + 8L * logitRowCapacity, host, 4L * rows);
        MemorySegment.copy(host, ValueLayout.JAVA_INT_UNALIGNED, 0, tokens, 0, rows);
    }

    private void run(ForwardBatch batch, PageArena arena, float[] logits) {
        if (!(arena instanceof DeviceArena da)) {
            throw new IllegalArgumentException("the CUDA backend steps over its own DeviceArena, got " + arena.getClass().getSimpleName());
        }
        boolean graph = graphs && isDecode(batch) && batch.numTokens() <= MAX_GRAPH_TOKENS
                && batch.adapters().length <= bucket(batch.numTokens());
        ForwardBatch run = graph ? padded(batch, bucket(batch.numTokens()), da.scratchPage()) : batch;
        Step s = plan(run, da, graph);
        device.awaitCopies(); // adapter pages loaded on the copy stream land before this step reads them
        this.step = s;
        if (graph) {
            Device.Graph g = captured.get(s.key);
            if (g == null) {
                device.beginCapture();
                try {
                    LayerSequence.forward(this, run, arena, logits);
                } finally {
                    g = device.endCapture();
                }
                captured.put(s.key, g);
            }
            g.replay();
        } else {
            LayerSequence.forward(this, run, arena, logits);
        }
    }

    /** One token per sequence and a logit row for each: a decode step. */
    static boolean isDecode(ForwardBatch batch) {
        if (batch.logitRows().length != batch.numTokens()) {
            return false;
        }
        boolean[] seen = new boolean[batch.blockTables().length];
        for (int seq : batch.sequence()) {
            if (seen[seq]) {
                return false;
            }
            seen[seq] = true;
        }
        return true;
    }

    /** The captured token counts: powers of two. */
    static int bucket(int tokens) {
        return Integer.highestOneBit(Math.max(1, tokens - 1)) << (tokens > 1 ? 1 : 0);
    }

    /**
     * {@code batch} with {@code tokens - T} rows appended: token 0 at position 0 of one more sequence,
     * whose only page is the scratch page, with no adapter and its logits wanted after the batch's own.
     */
    static ForwardBatch padded(ForwardBatch batch, int tokens, int scratchPage) {
        int t = batch.numTokens();
        if (tokens == t) {
            return batch;
        }
        int padSeq = batch.blockTables().length;
        int[][] tables = Arrays.copyOf(batch.blockTables(), padSeq + 1);
        tables[padSeq] = new int[] {scratchPage};
        int[] sequence = Arrays.copyOf(batch.sequence(), tokens);
        int[] adapter = Arrays.copyOf(batch.adapter(), tokens);
        int[] logitRows = Arrays.copyOf(batch.logitRows(), tokens);
        for (int i = t; i < tokens; i++) {
            sequence[i] = padSeq;
            adapter[i] = ForwardBatch.NO_ADAPTER;
            logitRows[i] = i;
        }
        return new ForwardBatch(Arrays.copyOf(batch.tokens(), tokens), Arrays.copyOf(batch.positions(), tokens), sequence,
                tables, adapter, batch.adapters(), logitRows);
    }

    /** The step's tables, packed at the capacities of its key, and the buffers sized for it. */
    private Step plan(ForwardBatch batch, DeviceArena arena, boolean graph) {
        ArenaLayout layout = arena.layout();
        StepTables tables = StepTables.of(batch, cfg, layout); // refuses token ids outside the vocabulary
        RopeTables rope = tables.rope();
        AttentionTables att = tables.attention();
        LoraTables lora = tables.lora();
        int t = batch.numTokens();
        int rows = batch.logitRows().length;
        int maxBlocks = graph ? Integer.highestOneBit(att.maxBlocks() * 2 - 1) : att.maxBlocks();
        boolean gathered = graph || isDecode(batch);
        int slots = Math.max(1, graph ? t : batch.adapters().length);
        int[] rankCap = new int[TargetModule.COUNT];
        for (TargetModule m : TargetModule.values()) {
            int r = 0;
            for (int l = 0; l < cfg.numLayers(); l++) {
                r = Math.max(r, lora.module(l, m).maxRank());
            }
            rankCap[m.ordinal()] = graph && r > 0 ? Math.max(MIN_RANK_CAP, Integer.highestOneBit(r * 2 - 1)) : r;
        }
        int maxRank = Arrays.stream(rankCap).max().orElse(0);
        int maxSegment = 1;
        for (int g = 0; g < lora.numSegments(); g++) {
            maxSegment = Math.max(maxSegment, lora.segStarts()[g + 1] - lora.segStarts()[g]);
        }
        StepKey key = new StepKey(t, rows, maxBlocks, gathered, Arrays.stream(rankCap).boxed().toList());

        // measure, grow what is short (dropping the graphs), then pack for real
        long bytes = pack(new TablePack(null), batch, rope, att, lora, maxBlocks, graph, gathered, slots, rankCap, null);
        ensureCapacity(t, rows, maxRank, bytes);
        Step s = new Step(key, batch, arena, t, rows, maxBlocks, gathered, rankCap, maxRank, maxSegment, lora.numSegments(),
                cfg.numLayers(), rope.rotaryDim(), rope.attentionScale());
        pack(new TablePack(tableStaging), batch, rope, att, lora, maxBlocks, graph, gathered, slots, rankCap, s);
        s.tableBytes = bytes;
        return s;
    }

    private long pack(TablePack p, ForwardBatch batch, RopeTables rope, AttentionTables att, LoraTables lora, int maxBlocks,
            boolean graph, boolean gathered, int slots, int[] rankCap, Step s) {
        int t = batch.numTokens();
        long tokens = p.ints(batch.tokens(), t, 0);
        long positions = p.ints(rope.positions(), t, 0);
        long invFreq = p.doubles(rope.invFreq());
        long freqRow = rope.freqRow() == null ? -1 : p.ints(rope.freqRow(), t, 0);
        int[] blockTables = new int[t * maxBlocks];
        Arrays.fill(blockTables, AttentionTables.NO_PAGE);
        for (int i = 0; i < t; i++) {
            System.arraycopy(att.blockTables(), i * att.maxBlocks(), blockTables, i * maxBlocks, att.maxBlocks());
        }
        long blocks = p.ints(blockTables, t * maxBlocks, AttentionTables.NO_PAGE);
        long contextLens = p.ints(att.contextLens(), t, 1);
        long logitRows = p.ints(batch.logitRows(), batch.logitRows().length, 0);
        // a step with prefill rows attends by tiles of consecutive rows of one sequence (decode rows are tiles of one)
        int[] tiles = gathered ? null : att.prefillTiles(batch, Kernels.PREFILL_TILE_ROWS);
        long tileStarts = tiles == null ? -1 : p.ints(tiles, tiles.length, t);
        long slotsAt = gathered ? p.ints(lora.slots(), t, LoraTables.NO_SLOT) : -1;
        long segStarts = gathered ? -1 : p.ints(lora.segStarts(), lora.segStarts().length, t);
        long segSlots = gathered ? -1 : p.ints(lora.segSlots(), lora.segSlots().length, LoraTables.NO_SLOT);
        long[][] module = new long[cfg.numLayers() * TargetModule.COUNT][];
        for (int l = 0; l < cfg.numLayers(); l++) {
            for (TargetModule m : TargetModule.values()) {
                LoraTables.ModuleTable mt = lora.module(l, m);
                int cap = rankCap[m.ordinal()];
                // a captured step has a section for every layer of each module its key adapts, at the key's capacities
                if (graph ? cap == 0 : mt.empty()) {
                    continue;
                }
                int rowsCap = graph ? slots * cap : mt.aRows().length;
                int slotCap = graph ? slots : mt.ranks().length;
                module[l * TargetModule.COUNT + m.ordinal()] = new long[] {
                        p.ints(mt.ranks(), slotCap, 0), p.ints(mt.rowStart(), slotCap, 0),
                        p.longs(mt.aRows(), rowsCap), p.longs(mt.bRows(), rowsCap), p.floats(mt.scales(), slotCap)};
            }
        }
        if (s != null) {
            long base = tableDevice;
            s.tokensAt = base + tokens;
            s.positions = base + positions;
            s.invFreq = base + invFreq;
            s.freqRow = freqRow < 0 ? 0 : base + freqRow;
            s.blockTables = base + blocks;
            s.contextLens = base + contextLens;
            s.logitRows = base + logitRows;
            s.tileStarts = tileStarts < 0 ? 0 : base + tileStarts;
            s.tiles = tiles == null ? 0 : tiles.length - 1;
            s.slots = slotsAt < 0 ? 0 : base + slotsAt;
            s.segStarts = segStarts < 0 ? 0 : base + segStarts;
            s.segSlots = segSlots < 0 ? 0 : base + segSlots;
            for (int i = 0; i < module.length; i++) {
                if (module[i] != null) {
                    long[] a = module[i];
                    s.module[i] = new long[] {base + a[0], base + a[1], base + a[2], base + a[3], base + a[4]};
                }
            }
        }
        return p.bytes();
    }

    private void ensureCapacity(int tokens, int rows, int maxRank, long tableBytes) {
        boolean grew = false;
        if (tokens > tokenCapacity) {
            int cap = Math.max(tokens, Math.max(16, tokenCapacity * 2));
            activations.values().forEach(device::free);
            activations.clear();
            for (Activation a : Activation.values()) {
                if (a != Activation.FINAL) {
                    activations.put(a, device.alloc((long) cap * width(a) * 2));
                }
            }
            tokenCapacity = cap;
            grew = true;
        }
        if (rows > logitRowCapacity) {
            int cap = Math.max(rows, Math.max(16, logitRowCapacity * 2));
            if (logitsDevice != 0) {
                device.free(logitsDevice);
                device.free(sampling);
                device.freePinned(logitsHost);
            }
            Long previous = activations.remove(Activation.FINAL);
            if (previous != null) {
                device.free(previous);
            }
            logitsDevice = device.alloc((long) cap * cfg.vocabSize() * Float.BYTES);
            sampling = device.alloc(12L * cap); // (rows, 2) f32 max and log-sum-exp, then (rows) int32 argmax
            logitsHost = device.allocPinned((long) cap * cfg.vocabSize() * Float.BYTES);
            logitRowCapacity = cap;
            grew = true;
        }
        if (!activations.containsKey(Activation.FINAL)) {
            activations.put(Activation.FINAL, device.alloc((long) logitRowCapacity * cfg.hiddenSize() * 2));
        }
        long floats = (long) tokenCapacity * Math.max(maxRank, 1);
        if (floats > shrunkFloats) {
            if (shrunk != 0) {
                device.free(shrunk);
            }
            shrunkFloats = Math.max(floats, shrunkFloats * 2);
            shrunk = device.alloc(shrunkFloats * Float.BYTES);
            grew = true;
        }
        if (tableBytes > tableCapacity) {
            device.synchronize();
            device.freePinned(tableStaging);
            device.free(tableDevice);
            tableCapacity = Math.max(tableBytes, tableCapacity * 2);
            tableStaging = device.allocPinned(tableCapacity);
            tableDevice = device.alloc(tableCapacity);
            grew = true;
        }
        if (grew) {
            captured.values().forEach(Device.Graph::close);
            captured.clear();
        }
    }

    private int width(Activation a) {
        return switch (a) {
            case X, H, DELTA, FINAL -> cfg.hiddenSize();
            case Q, ATT -> cfg.qDim();
            case K, V -> cfg.kvDim();
            case GATE, UP -> cfg.intermediateSize();
        };
    }

    private long at(Activation a) {
        return activations.get(a);
    }

    // ---------------------------------------------------------------- the operations

    @Override
    public void begin(ForwardBatch batch, PageArena arena) {
        if (step == null || step.batch != batch) {
            throw new IllegalStateException("the CUDA backend's steps start in forward(), which plans their tables");
        }
        device.upload(tableStaging, tableDevice, step.tableBytes);
    }

    @Override
    public void embed(Activation out) {
        launch("loraplex_embedding_gather", LaunchShape.of(step.tokens(), 1, 256),
                at(out), weights.embed, step.tokensAt, step.tokens(), cfg.hiddenSize(), cfg.vocabSize());
    }

    @Override
    public void rmsnorm(int layer, Norm norm, Activation in, Activation out) {
        DeviceWeights.Layer w = weights.layers[layer];
        int rows = step.tokens();
        int n = cfg.hiddenSize();
        long weight = switch (norm) {
            case ATTENTION -> w.attnNorm;
            case MLP -> w.mlpNorm;
            case QUERY -> w.qNorm;
            case KEY -> w.kNorm;
            case POST_ATTENTION, POST_MLP -> throw new IllegalStateException(norm + " norms are Gemma's, which this backend refuses");
        };
        if (norm == Norm.QUERY || norm == Norm.KEY) {
            // one row per head: the activation is contiguous (T, heads, HS)
            rows *= norm == Norm.QUERY ? cfg.numHeads() : cfg.numKvHeads();
            n = cfg.headDim();
        }
        launch("loraplex_rmsnorm", LaunchShape.of(rows, 1, 256), at(out), at(in), weight, rows, n, (float) cfg.rmsNormEps(), 0);
    }

    @Override
    public void project(int layer, Activation in, List<Projection> projections) {
        DeviceWeights.Layer w = weights.layers[layer];
        int t = step.tokens();
        for (Projection p : projections) {
            int k = p.module().inFeatures(cfg);
            int n = p.module().outFeatures(cfg);
            device.gemm(new Gemm(at(in), k, w.weight[p.module().ordinal()], k, at(p.out()), n, t, n, k, false));
            long bias = w.bias[p.module().ordinal()];
            if (bias != 0) {
                launch("loraplex_add_bias", LaunchShape.of(ceil(n, 256), t, 256), at(p.out()), bias, t, n, n);
            }
        }
    }

    @Override
    public void lora(int layer, TargetModule module, Activation in, Activation out) {
        long[] tables = step.module[layer * TargetModule.COUNT + module.ordinal()];
        if (tables == null) {
            return; // no slot adapts this module here (a captured step keeps every module its key adapts)
        }
        int rank = step.rankCap[module.ordinal()];
        int in0 = module.inFeatures(cfg);
        int outF = module.outFeatures(cfg);
        int t = step.tokens();
        long arena = step.arena.address();
        if (step.gathered) {
            launch("loraplex_lora_shrink_gathered", LaunchShape.of(ceil(rank, 8), t, 256),
                    shrunk, at(in), arena, step.slots, tables[0], tables[1], tables[2], t, in0, in0, rank);
            launch("loraplex_lora_expand_gathered", LaunchShape.of(ceil(outF, 256), t, 256),
                    at(out), shrunk, arena, step.slots, tables[0], tables[1], tables[3], tables[4], t, outF, outF, rank);
        } else {
            int g = step.segments;
            int z = Math.min(ceil(step.maxSegment, 4), 32);
            launch("loraplex_lora_shrink_segmented", LaunchShape.of(ceil(rank, 8), g, z, 256),
                    shrunk, at(in), arena, step.segStarts, step.segSlots, tables[0], tables[1], tables[2], g, in0, in0, rank);
            launch("loraplex_lora_expand_segmented", LaunchShape.of(ceil(outF, 256), g, z, 256),
                    at(out), shrunk, arena, step.segStarts, step.segSlots, tables[0], tables[1], tables[3], tables[4], g, outF,
                    outF, rank);
        }
    }

    @Override
    public void rope(int layer, Activation q, Activation k) {
        launch("loraplex_rope", LaunchShape.of(step.tokens(), 1, 128),
                at(q), at(k), step.positions, step.invFreq, step.freqRow, step.tokens(), cfg.numHeads(), cfg.numKvHeads(),
                cfg.headDim(), step.rotaryDim, cfg.qDim(), cfg.kvDim(), step.ropeScale);
    }

    @Override
    public void storeKv(int layer, Activation k, Activation v) {
        ArenaLayout layout = step.arena.layout();
        launch("loraplex_kv_store", LaunchShape.of(step.tokens(), 1, 128),
                step.arena.address(), at(k), at(v), step.blockTables, step.positions, step.tokens(), cfg.kvDim(), layer,
                layout.blockSize(), layout.pageFloats(), step.maxBlocks, cfg.kvDim(), cfg.kvDim());
    }

    @Override
    public void attention(int layer, Activation q, Activation out) {
        ArenaLayout layout = step.arena.layout();
        if (step.tiles > 0) {
            launch("loraplex_paged_attention_prefill", LaunchShape.of(cfg.numHeads(), step.tiles, 128),
                    at(out), at(q), step.arena.address(), step.blockTables, step.contextLens, step.tileStarts, step.tiles,
                    cfg.numHeads(), cfg.numKvHeads(), cfg.headDim(), layer, layout.blockSize(), layout.pageFloats(),
                    step.maxBlocks, cfg.windowFor(layer), cfg.attentionScale(), cfg.qDim(), cfg.qDim());
            return;
        }
        launch("loraplex_paged_attention_decode", LaunchShape.of(cfg.numHeads(), step.tokens(), 128),
                at(out), at(q), step.arena.address(), step.blockTables, step.contextLens, step.tokens(), cfg.numHeads(),
                cfg.numKvHeads(), cfg.headDim(), layer, layout.blockSize(), layout.pageFloats(), step.maxBlocks,
                cfg.windowFor(layer), cfg.attentionScale(), cfg.qDim(), cfg.qDim());
    }

    @Override
    public void swiglu(Activation gate, Activation up) {
        int i = cfg.intermediateSize();
        launch("loraplex_swiglu", LaunchShape.of(step.tokens(), 1, 256), at(gate), at(gate), at(up), step.tokens(), i, i, i, i);
    }

    @Override
    public void geglu(Activation gate, Activation up) {
        throw new IllegalStateException("GeGLU is Gemma's, which this backend refuses");
    }

    @Override
    public void residual(Activation delta, Activation x) {
        int c = cfg.hiddenSize();
        launch("loraplex_add", LaunchShape.of(ceil(c, 256), step.tokens(), 256), at(x), at(delta), step.tokens(), c, c, c);
    }

    @Override
    public void finalNorm(Activation in, Activation out) {
        launch("loraplex_rmsnorm_rows", LaunchShape.of(step.rows, 1, 256),
                at(out), at(in), weights.finalNorm, step.logitRows, step.rows, cfg.hiddenSize(), (float) cfg.rmsNormEps(), 0);
    }

    /** Queues the lm head into the device's logits buffer; {@link #forward} copies the rows back after the step. */
    @Override
    public void lmHead(Activation in, float[] logits) {
        int c = cfg.hiddenSize();
        device.gemm(new Gemm(at(in), c, weights.lmHead, c, logitsDevice, cfg.vocabSize(), step.rows, cfg.vocabSize(), c, true));
    }

    private void launch(String entryPoint, LaunchShape shape, Object... args) {
        device.launch(kernel(entryPoint), shape, args);
    }

    private static final Map<String, KernelSignature> BY_NAME = new HashMap<>();

    static {
        for (KernelSignature k : Kernels.ALL) {
            BY_NAME.put(k.entryPoint(), k);
        }
    }

    static KernelSignature kernel(String entryPoint) {
        KernelSignature k = BY_NAME.get(entryPoint);
        if (k == null) {
            throw new IllegalStateException("no kernel " + entryPoint + " in io.loraplex.kernels.Kernels");
        }
        return k;
    }

    private static int ceil(int a, int b) {
        return Math.max(1, (a + b - 1) / b);
    }

    @Override
    public void close() {
        device.synchronize();
        captured.values().forEach(Device.Graph::close);
        captured.clear();
        List<Long> buffers = new ArrayList<>(activations.values());
        buffers.add(tableDevice);
        if (shrunk != 0) {
            buffers.add(shrunk);
        }
        if (logitsDevice != 0) {
            buffers.add(logitsDevice);
            buffers.add(sampling);
            device.freePinned(logitsHost);
        }
        buffers.forEach(device::free);
        device.freePinned(tableStaging);
        weights.free(device);
    }

    /** What a captured graph depends on besides the buffers' addresses. */
    record StepKey(int tokens, int rows, int maxBlocks, boolean gathered, List<Integer> rankCaps) {
    }

    /** One step's shape and its tables' device addresses. */
    private static final class Step {
        final StepKey key;
        final ForwardBatch batch;
        final DeviceArena arena;
        final int tokens;
        final int rows;
        final int maxBlocks;
        final boolean gathered;
        final int[] rankCap;
        final int maxRank;
        final int maxSegment;
        final int segments;
        final int rotaryDim;
        final double ropeScale;
        long tableBytes;
        long tokensAt;
        long positions;
        long invFreq;
        long freqRow;
        long blockTables;
        long contextLens;
        long logitRows;
        long slots;
        long segStarts;
        long segSlots;
        long tileStarts;
        int tiles;
        final long[][] module;

        Step(StepKey key, ForwardBatch batch, DeviceArena arena, int tokens, int rows, int maxBlocks, boolean gathered,
                int[] rankCap, int maxRank, int maxSegment, int segments, int numLayers, int rotaryDim, double ropeScale) {
            this.key = key;
            this.batch = batch;
            this.arena = arena;
            this.tokens = tokens;
            this.rows = rows;
            this.maxBlocks = maxBlocks;
            this.gathered = gathered;
            this.rankCap = rankCap;
            this.maxRank = maxRank;
            this.maxSegment = maxSegment;
            this.segments = segments;
            this.rotaryDim = rotaryDim;
            this.ropeScale = ropeScale;
            this.module = new long[numLayers * TargetModule.COUNT][];
        }

        int tokens() {
            return tokens;
        }
    }
}
