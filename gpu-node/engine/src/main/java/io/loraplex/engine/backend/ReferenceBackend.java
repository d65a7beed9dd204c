package io.loraplex.engine.backend;

import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.HostArena;
import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.LoraWeights;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelWeights;
import io.loraplex.engine.model.Rope;
import io.loraplex.engine.model.Tensor;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The plain operations: one token at a time, scalar loops, weights read element by element, and
 * adapters read from their unpaged source. Slow and obviously correct; every fast path is tested
 * against it. The layer sequence is {@link LayerSequence}'s.
 */
public final class ReferenceBackend implements BackendOperations {

    private final ModelConfig cfg;
    private final ModelWeights w;
    private final Rope rope;
    private final Rope localRope; // Gemma 3's sliding layers' RoPE, or null

    // the step bound by begin()
    private ForwardBatch batch;
    private HostArena kv;
    private final Map<Activation, float[][]> act = new EnumMap<>(Activation.class); // (T or rows) (width)
    private float[][] cos, sin; // (T) (HS/2)
    private float[][] localCos, localSin; // (T) (HS/2) Gemma 3's sliding layers, or null

    public ReferenceBackend(ModelConfig cfg, ModelWeights weights) {
        this.cfg = cfg;
        this.w = weights;
        this.rope = new Rope(cfg);
        this.localRope = cfg.gemma() != null && cfg.gemma().localRopeTheta() != null ? new Rope(cfg.localRopeConfig()) : null;
    }

    @Override
    public String name() {
        return "reference";
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
    public void begin(ForwardBatch batch, PageArena arena) {
        this.batch = batch;
        this.kv = (HostArena) arena;
        int nTokens = batch.numTokens();
        int half = rope.pairs();
        act.clear();
        for (Activation a : Activation.values()) {
            act.put(a, new float[a == Activation.FINAL ? batch.logitRows().length : nTokens][]);
        }
        cos = new float[nTokens][half];
        sin = new float[nTokens][half];
        int[] lengths = batch.sequenceLengths();
        for (int t = 0; t < nTokens; t++) {
            rope.angles(batch.positions()[t], lengths[batch.sequence()[t]], cos[t], sin[t], 0);
        }
        if (localRope != null) {
            localCos = new float[nTokens][half];
            localSin = new float[nTokens][half];
            for (int t = 0; t < nTokens; t++) {
                localRope.angles(batch.positions()[t], lengths[batch.sequence()[t]], localCos[t], localSin[t], 0);
            }
        }
    }

    @Override
    public void embed(Activation out) {
        for (int t = 0; t < batch.numTokens(); t++) {
            float[] x = row(w.embed, batch.tokens()[t], cfg.hiddenSize());
            float scale = cfg.embeddingScale();
            for (int i = 0; i < x.length; i++) {
                x[i] *= scale;
            }
            act.get(out)[t] = x;
        }
    }

    @Override
    public void rmsnorm(int layer, Norm norm, Activation in, Activation out) {
        Tensor weight = switch (norm) {
            case ATTENTION -> w.attnNorm[layer];
            case MLP -> w.mlpNorm[layer];
            case QUERY -> w.qNorm[layer];
            case KEY -> w.kNorm[layer];
            case POST_ATTENTION -> w.postAttnNorm[layer];
            case POST_MLP -> w.postMlpNorm[layer];
        };
        int hs = cfg.headDim();
        for (int t = 0; t < batch.numTokens(); t++) {
            float[] x = act.get(in)[t];
            if (norm == Norm.QUERY || norm == Norm.KEY) {
                // each head on its own: (heads, HS)
                float[] y = new float[x.length];
                for (int head = 0; head < x.length / hs; head++) {
                    float[] normed = rmsnorm(java.util.Arrays.copyOfRange(x, head * hs, (head + 1) * hs), weight);
                    System.arraycopy(normed, 0, y, head * hs, hs);
                }
                act.get(out)[t] = y;
            } else {
                act.get(out)[t] = rmsnorm(x, weight);
            }
        }
    }

    @Override
    public void project(int layer, Activation in, List<Projection> projections) {
        for (Projection p : projections) {
            Tensor weight = LayerWeights.weight(w, layer, p.module());
            Tensor bias = LayerWeights.bias(w, layer, p.module());
            for (int t = 0; t < batch.numTokens(); t++) {
                act.get(p.out())[t] = linear(act.get(in)[t], weight, bias);
            }
        }
    }

    /** {@code y += scale·(x·Aᵀ)·Bᵀ} for each token with an adapter that targets the module. */
    @Override
    public void lora(int layer, TargetModule module, Activation in, Activation out) {
        for (int t = 0; t < batch.numTokens(); t++) {
            LoraAdapter adapter = adapterOf(batch, t);
            LoraWeights lw = adapter == null ? null : adapter.weights(layer, module);
            if (lw == null) {
                continue;
            }
            float[] x = act.get(in)[t];
            float[] y = act.get(out)[t];
            int inDim = x.length;
            float[] shrunk = new float[lw.rank()];
            for (int r = 0; r < lw.rank(); r++) {
                float sum = 0;
                for (int i = 0; i < inDim; i++) {
                    sum += x[i] * lw.a()[r * inDim + i];
                }
                shrunk[r] = sum;
            }
            for (int o = 0; o < y.length; o++) {
                float sum = 0;
                for (int r = 0; r < lw.rank(); r++) {
                    sum += shrunk[r] * lw.b()[o * lw.rank() + r];
                }
                y[o] += lw.scale() * sum;
            }
        }
    }

    @Override
    public void rope(int layer, Activation q, Activation k) {
        int hs = cfg.headDim();
        int half = rope.pairs(); // rotary/2: a partial rotary leaves the rest of each head as it is
        boolean local = cfg.localRope(layer);
        float[][] cos = local ? localCos : this.cos;
        float[][] sin = local ? localSin : this.sin;
        for (int t = 0; t < batch.numTokens(); t++) {
            for (int head = 0; head < cfg.numHeads(); head++) {
                Rope.rotate(act.get(q)[t], head * hs, cos[t], sin[t], 0, half);
            }
            for (int head = 0; head < cfg.numKvHeads(); head++) {
                Rope.rotate(act.get(k)[t], head * hs, cos[t], sin[t], 0, half);
            }
        }
    }

    @Override
    public void storeKv(int layer, Activation k, Activation v) {
        for (int t = 0; t < batch.numTokens(); t++) {
            int[] table = batch.blockTables()[batch.sequence()[t]];
            float[] key = act.get(k)[t];
            float[] value = act.get(v)[t];
            System.arraycopy(key, 0, kv.data, kv.keyOffset(table, layer, batch.positions()[t]), key.length);
            System.arraycopy(value, 0, kv.data, kv.valueOffset(table, layer, batch.positions()[t]), value.length);
        }
    }

    @Override
    public void attention(int layer, Activation q, Activation out) {
        for (int t = 0; t < batch.numTokens(); t++) {
            act.get(out)[t] = attention(act.get(q)[t], kv, layer, batch.blockTables()[batch.sequence()[t]],
                    batch.positions()[t]);
        }
    }

    @Override
    public void swiglu(Activation gate, Activation up) {
        for (int t = 0; t < batch.numTokens(); t++) {
            float[] g = act.get(gate)[t];
            float[] u = act.get(up)[t];
            for (int i = 0; i < g.length; i++) {
                g[i] = silu(g[i]) * u[i];
            }
        }
    }

    @Override
    public void geglu(Activation gate, Activation up) {
        for (int t = 0; t < batch.numTokens(); t++) {
            float[] g = act.get(gate)[t];
            float[] u = act.get(up)[t];
            for (int i = 0; i < g.length; i++) {
                g[i] = geluTanh(g[i]) * u[i];
            }
        }
    }

    @Override
    public void residual(Activation delta, Activation x) {
        for (int t = 0; t < batch.numTokens(); t++) {
            add(act.get(x)[t], act.get(delta)[t]);
        }
    }

    @Override
    public void finalNorm(Activation in, Activation out) {
        int[] rows = batch.logitRows();
        for (int r = 0; r < rows.length; r++) {
            act.get(out)[r] = rmsnorm(act.get(in)[rows[r]], w.finalNorm);
        }
    }

    @Override
    public void lmHead(Activation in, float[] logits) {
        int vocab = cfg.vocabSize();
        float[][] rows = act.get(in);
        for (int r = 0; r < rows.length; r++) {
            float[] out = linear(rows[r], w.lmHead(), null);
            System.arraycopy(out, 0, logits, r * vocab, vocab);
        }
    }

    /** Causal GQA attention of one query (NH·HS) over positions 0..position of its sequence. */
    private float[] attention(float[] q, HostArena kv, int layer, int[] table, int position) {
        int hs = cfg.headDim();
        int group = cfg.numHeads() / cfg.numKvHeads();
        int window = cfg.windowFor(layer);
        int first = window > 0 ? Math.max(0, position - window + 1) : 0;
        float scale = cfg.attentionScale();
        float cap = cfg.attnLogitSoftcap();
        float[] out = new float[cfg.qDim()];
        float[] scores = new float[position + 1];
        for (int head = 0; head < cfg.numHeads(); head++) {
            int kvHead = head / group;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = first; j <= position; j++) {
                int off = kv.keyOffset(table, layer, j) + kvHead * hs;
                float dot = 0;
                for (int i = 0; i < hs; i++) {
                    dot += q[head * hs + i] * kv.data[off + i];
                }
                scores[j] = dot * scale;
                if (cap != 0f) {
                    scores[j] = cap * (float) Math.tanh(scores[j] / cap);
                }
                max = Math.max(max, scores[j]);
            }
            float sum = 0;
            for (int j = first; j <= position; j++) {
                scores[j] = (float) Math.exp(scores[j] - max);
                sum += scores[j];
            }
            for (int j = first; j <= position; j++) {
                int off = kv.valueOffset(table, layer, j) + kvHead * hs;
                float p = scores[j] / sum;
                for (int i = 0; i < hs; i++) {
                    out[head * hs + i] += p * kv.data[off + i];
                }
            }
        }
        return out;
    }

    /** {@code y = x·Wᵀ (+ b)}. */
    private static float[] linear(float[] x, Tensor weight, Tensor bias) {
        int out = (int) weight.dim(0);
        int in = (int) weight.dim(1);
        float[] y = new float[out];
        for (int o = 0; o < out; o++) {
            float sum = 0;
            long base = (long) o * in;
            for (int i = 0; i < in; i++) {
                sum += x[i] * weight.get(base + i);
            }
            y[o] = bias == null ? sum : sum + bias.get(o);
        }
        return y;
    }

    private float[] rmsnorm(float[] x, Tensor weight) {
        double ss = 0;
        for (float v : x) {
            ss += (double) v * v;
        }
        float inv = (float) (1.0 / Math.sqrt(ss / x.length + cfg.rmsNormEps()));
        float[] y = new float[x.length];
        boolean addOne = cfg.normAddsOne();
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i] * inv * (addOne ? 1f + weight.get(i) : weight.get(i));
        }
        return y;
    }

    /** GELU, tanh approximation (PyTorch's {@code gelu(approximate="tanh")}), in double then rounded. */
    static float geluTanh(float v) {
        double x = v;
        return (float) (0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))));
    }

    private static float silu(float v) {
        return (float) (v / (1.0 + Math.exp(-v)));
    }

    private static void add(float[] x, float[] delta) {
        for (int i = 0; i < x.length; i++) {
            x[i] += delta[i];
        }
    }

    private static float[] row(Tensor t, int row, int width) {
        float[] out = new float[width];
        t.copyTo((long) row * width, out, 0, width);
        return out;
    }

    private static LoraAdapter adapterOf(ForwardBatch batch, int t) {
        int index = batch.adapter()[t];
        return index == ForwardBatch.NO_ADAPTER ? null : batch.adapters()[index].source();
    }
}
