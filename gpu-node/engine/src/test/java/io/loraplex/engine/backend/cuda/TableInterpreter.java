package io.loraplex.engine.backend.cuda;

import io.loraplex.engine.backend.BackendOperations;
import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.HostArena;
import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelWeights;
import io.loraplex.engine.model.Tensor;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * A plain-Java stand-in for the CUDA kernels: every operation that a kernel runs from a host table
 * (embedding, RoPE, KV write, paged attention, LoRA shrink and expand) reads only the
 * {@link StepTables} of the step and the arena, and walks them as the {@code .cu} headers say; the
 * batch itself is not consulted there. The rest (norms, base projections, SwiGLU) are plain loops.
 * Table-driven sums are f64, so a difference from the CPU backend is the tables' fault, not rounding.
 */
final class TableInterpreter implements BackendOperations {

    /** Which LoRA form to interpret: per-token slots (decode kernels) or segments (prefill kernels). */
    enum LoraForm { GATHERED, SEGMENTED }

    private final ModelConfig cfg;
    private final ModelWeights w;
    private final LoraForm form;
    private StepTables tables;
    private HostArena arena;
    private final Map<Activation, float[][]> act = new EnumMap<>(Activation.class); // (T or rows) (width)

    TableInterpreter(ModelConfig cfg, ModelWeights weights, LoraForm form) {
        this.cfg = cfg;
        this.w = weights;
        this.form = form;
    }

    @Override
    public String name() {
        return "table-interpreter";
    }

    @Override
    public ModelConfig config() {
        return cfg;
    }

    @Override
    public PageArena allocateArena(ArenaLayout layout, int pages) {
        return new HostArena(layout, pages);
    }

    @Override
    public void begin(ForwardBatch batch, PageArena pageArena) {
        this.arena = (HostArena) pageArena;
        this.tables = StepTables.of(batch, cfg, arena.layout());
        int t = tables.tokens().length;
        act.clear();
        for (Activation a : Activation.values()) {
            act.put(a, new float[a == Activation.FINAL ? tables.logitRows().length : t][]);
        }
    }

    /** embedding.cu: {@code out[t] = table[tokens[t]]}. */
    @Override
    public void embed(Activation out) {
        int c = cfg.hiddenSize();
        for (int t = 0; t < tables.tokens().length; t++) {
            float[] row = new float[c];
            w.embed.copyTo((long) tables.tokens()[t] * c, row, 0, c);
            act.get(out)[t] = row;
        }
    }

    @Override
    public void rmsnorm(int layer, Norm norm, Activation in, Activation out) {
        Tensor weight = switch (norm) {
            case ATTENTION -> w.attnNorm[layer];
            case MLP -> w.mlpNorm[layer];
            case QUERY -> w.qNorm[layer];
            case KEY -> w.kNorm[layer];
            case POST_ATTENTION, POST_MLP -> throw new IllegalStateException("Gemma's post-norms: StepTables refuses Gemma");
        };
        int width = (int) weight.dim(0);
        float[][] x = act.get(in);
        float[][] y = act.get(out);
        for (int t = 0; t < x.length; t++) {
            float[] row = new float[x[t].length];
            for (int off = 0; off < row.length; off += width) {
                double ss = 0;
                for (int i = 0; i < width; i++) {
                    ss += (double) x[t][off + i] * x[t][off + i];
                }
                double inv = 1.0 / Math.sqrt(ss / width + cfg.rmsNormEps());
                for (int i = 0; i < width; i++) {
                    row[off + i] = (float) (x[t][off + i] * inv * weight.get(i));
                }
            }
            y[t] = row;
        }
    }

    @Override
    public void project(int layer, Activation in, List<Projection> projections) {
        for (Projection p : projections) {
            Tensor weight = weight(layer, p.module());
            Tensor bias = bias(layer, p.module());
            float[][] x = act.get(in);
            for (int t = 0; t < x.length; t++) {
                act.get(p.out())[t] = linear(x[t], weight, bias);
            }
        }
    }

    /**
     * lora_shrink.cu then lora_expand.cu, in the chosen form: {@code shrunk[t, r] = x[t]·arena[a_rows[row_start[s] + r]…]}
     * for {@code r < ranks[s]}, then {@code y[t, o] += scales[s]·Σ_r shrunk[t, r]·arena[b_rows[row_start[s] + r] + o]}.
     */
    @Override
    public void lora(int layer, TargetModule module, Activation in, Activation out) {
        LoraTables lt = tables.lora();
        LoraTables.ModuleTable m = lt.module(layer, module);
        float[][] x = act.get(in);
        float[][] y = act.get(out);
        switch (form) {
            case GATHERED -> {
                for (int t = 0; t < lt.slots().length; t++) {
                    applyToken(m, lt.slots()[t], x[t], y[t]);
                }
            }
            case SEGMENTED -> {
                for (int g = 0; g < lt.numSegments(); g++) {
                    for (int t = lt.segStarts()[g]; t < lt.segStarts()[g + 1]; t++) {
                        applyToken(m, lt.segSlots()[g], x[t], y[t]);
                    }
                }
            }
        }
    }

    private void applyToken(LoraTables.ModuleTable m, int slot, float[] x, float[] y) {
        if (slot < 0 || m.ranks()[slot] == 0) {
            return;
        }
        int rank = m.ranks()[slot];
        double[] shrunk = new double[rank]; // (R) the shrink kernel's output row
        for (int r = 0; r < rank; r++) {
            int a = Math.toIntExact(m.aRows()[m.rowStart()[slot] + r]);
            double sum = 0;
            for (int i = 0; i < x.length; i++) {
                sum += (double) x[i] * arena.data[a + i];
            }
            shrunk[r] = (float) sum; // the shrink kernel stores f32
        }
        for (int o = 0; o < y.length; o++) {
            double sum = 0;
            for (int r = 0; r < rank; r++) {
                sum += shrunk[r] * arena.data[Math.toIntExact(m.bRows()[m.rowStart()[slot] + r]) + o];
            }
            y[o] = (float) (y[o] + m.scales()[slot] * sum);
        }
    }

    /** rope.cu: angles from {@code positions} and the token's {@code inv_freq} row, in f64. */
    @Override
    public void rope(int layer, Activation q, Activation k) { // one RoPE for every layer: StepTables refuses Gemma
        RopeTables rt = tables.rope();
        int half = rt.rotaryDim() / 2;
        int hs = cfg.headDim();
        for (int t = 0; t < rt.positions().length; t++) {
            int row = rt.freqRow() == null ? 0 : rt.freqRow()[t];
            float[] cos = new float[half];
            float[] sin = new float[half];
            for (int i = 0; i < half; i++) {
                double angle = rt.positions()[t] * rt.invFreq()[row * half + i];
                cos[i] = (float) (Math.cos(angle) * rt.attentionScale());
                sin[i] = (float) (Math.sin(angle) * rt.attentionScale());
            }
            for (float[] x : new float[][] {act.get(q)[t], act.get(k)[t]}) {
                for (int head = 0; head < x.length / hs; head++) {
                    for (int i = 0; i < half; i++) {
                        float a = x[head * hs + i];
                        float b = x[head * hs + i + half];
                        x[head * hs + i] = a * cos[i] - b * sin[i];
                        x[head * hs + i + half] = b * cos[i] + a * sin[i];
                    }
                }
            }
        }
    }

    /** Writes each row's key and value at its last context position, through its block-table row. */
    @Override
    public void storeKv(int layer, Activation k, Activation v) {
        AttentionTables at = tables.attention();
        for (int t = 0; t < at.numRows(); t++) {
            int j = at.contextLens()[t] - 1;
            System.arraycopy(act.get(k)[t], 0, arena.data, Math.toIntExact(kvOffset(at, t, layer, 0, j)), cfg.kvDim());
            System.arraycopy(act.get(v)[t], 0, arena.data, Math.toIntExact(kvOffset(at, t, layer, 1, j)), cfg.kvDim());
        }
    }

    /** paged_attention.cu's address: {@code table[j / P]·page_elems + ((2·l + kv)·P + j % P)·NKV·HS}. */
    private long kvOffset(AttentionTables at, int row, int layer, int kv, int j) {
        int page = at.blockTables()[row * at.maxBlocks() + j / at.blockSize()];
        if (page == AttentionTables.NO_PAGE) {
            throw new AssertionError("row " + row + " reads position " + j + " beyond its block table");
        }
        return (long) page * at.pageElems() + ((long) (2 * layer + kv) * at.blockSize() + j % at.blockSize()) * cfg.kvDim();
    }

    /** paged_attention.cu: positions {@code [first, n)} of the row's block table, GQA heads, f64 softmax. */
    @Override
    public void attention(int layer, Activation q, Activation out) {
        AttentionTables at = tables.attention();
        int hs = cfg.headDim();
        int group = cfg.numHeads() / cfg.numKvHeads();
        int window = cfg.windowFor(layer);
        double scale = 1.0 / Math.sqrt(hs);
        for (int t = 0; t < at.numRows(); t++) {
            int n = at.contextLens()[t];
            int first = window > 0 ? Math.max(0, n - window) : 0;
            float[] qs = act.get(q)[t];
            float[] o = new float[cfg.qDim()];
            for (int head = 0; head < cfg.numHeads(); head++) {
                int g = head / group;
                double[] scores = new double[n];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = first; j < n; j++) {
                    long key = kvOffset(at, t, layer, 0, j) + (long) g * hs;
                    double dot = 0;
                    for (int i = 0; i < hs; i++) {
                        dot += (double) qs[head * hs + i] * arena.data[Math.toIntExact(key + i)];
                    }
                    scores[j] = dot * scale;
                    max = Math.max(max, scores[j]);
                }
                double sum = 0;
                for (int j = first; j < n; j++) {
                    scores[j] = Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int i = 0; i < hs; i++) {
                    double acc = 0;
                    for (int j = first; j < n; j++) {
                        acc += scores[j] / sum * arena.data[Math.toIntExact(kvOffset(at, t, layer, 1, j) + (long) g * hs + i)];
                    }
                    o[head * hs + i] = (float) acc;
                }
            }
            act.get(out)[t] = o;
        }
    }

    @Override
    public void swiglu(Activation gate, Activation up) {
        float[][] g = act.get(gate);
        float[][] u = act.get(up);
        for (int t = 0; t < g.length; t++) {
            for (int i = 0; i < g[t].length; i++) {
                g[t][i] = (float) (g[t][i] / (1.0 + Math.exp(-g[t][i])) * u[t][i]);
            }
        }
    }

    @Override
    public void geglu(Activation gate, Activation up) {
        float[][] g = act.get(gate);
        float[][] u = act.get(up);
        for (int t = 0; t < g.length; t++) {
            for (int i = 0; i < g[t].length; i++) {
                double x = g[t][i];
                g[t][i] = (float) (0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))) * u[t][i]);
            }
        }
    }

    @Override
    public void residual(Activation delta, Activation x) {
        float[][] d = act.get(delta);
        float[][] y = act.get(x);
        for (int t = 0; t < y.length; t++) {
            for (int i = 0; i < y[t].length; i++) {
                y[t][i] += d[t][i];
            }
        }
    }

    @Override
    public void finalNorm(Activation in, Activation out) {
        float[][] x = act.get(in);
        float[][] y = act.get(out);
        int[] rows = tables.logitRows();
        for (int r = 0; r < rows.length; r++) {
            double ss = 0;
            for (float v : x[rows[r]]) {
                ss += (double) v * v;
            }
            double inv = 1.0 / Math.sqrt(ss / x[rows[r]].length + cfg.rmsNormEps());
            y[r] = new float[x[rows[r]].length];
            for (int i = 0; i < y[r].length; i++) {
                y[r][i] = (float) (x[rows[r]][i] * inv * w.finalNorm.get(i));
            }
        }
    }

    @Override
    public void lmHead(Activation in, float[] logits) {
        float[][] rows = act.get(in);
        for (int r = 0; r < rows.length; r++) {
            System.arraycopy(linear(rows[r], w.lmHead(), null), 0, logits, r * cfg.vocabSize(), cfg.vocabSize());
        }
    }

    private static float[] linear(float[] x, Tensor weight, Tensor bias) {
        int out = (int) weight.dim(0);
        int in = (int) weight.dim(1);
        float[] y = new float[out];
        for (int o = 0; o < out; o++) {
            double sum = 0;
            for (int i = 0; i < in; i++) {
                sum += (double) x[i] * weight.get((long) o * in + i);
            }
            y[o] = (float) (bias == null ? sum : sum + bias.get(o));
        }
        return y;
    }

    private Tensor weight(int layer, TargetModule m) {
        return switch (m) {
            case Q_PROJ -> w.wq(layer);
            case K_PROJ -> w.wk(layer);
            case V_PROJ -> w.wv(layer);
            case O_PROJ -> w.wo(layer);
            case GATE_PROJ -> w.wGate(layer);
            case UP_PROJ -> w.wUp(layer);
            case DOWN_PROJ -> w.wDown(layer);
        };
    }

    private Tensor bias(int layer, TargetModule m) {
        return switch (m) {
            case Q_PROJ -> w.bq[layer];
            case K_PROJ -> w.bk[layer];
            case V_PROJ -> w.bv[layer];
            case O_PROJ -> w.bo[layer];
            case GATE_PROJ -> w.bGate[layer];
            case UP_PROJ -> w.bUp[layer];
            case DOWN_PROJ -> w.bDown[layer];
        };
    }
}
