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

/**
 * The plain forward pass: one token at a time, scalar loops, weights read element by element, and
 * adapters read from their unpaged source. Slow and obviously correct; every fast path is tested
 * against it.
 */
public final class ReferenceBackend implements Backend {

    private final ModelConfig cfg;
    private final ModelWeights w;
    private final Rope rope;

    public ReferenceBackend(ModelConfig cfg, ModelWeights weights) {
        this.cfg = cfg;
        this.w = weights;
        this.rope = new Rope(cfg);
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
    public void forward(ForwardBatch batch, PageArena pageArena, float[] logits) {
        HostArena kv = (HostArena) pageArena;
        int nTokens = batch.numTokens();
        int c = cfg.hiddenSize();
        int hs = cfg.headDim();
        int half = hs / 2;
        float[][] x = new float[nTokens][]; // (T) (C) residual stream
        float[][] cos = new float[nTokens][half];
        float[][] sin = new float[nTokens][half];
        for (int t = 0; t < nTokens; t++) {
            x[t] = row(w.embed, batch.tokens()[t], c);
            rope.angles(batch.positions()[t], cos[t], sin[t], 0);
        }
        for (int l = 0; l < cfg.numLayers(); l++) {
            // attention: project every token and store its keys and values first
            float[][] q = new float[nTokens][];
            for (int t = 0; t < nTokens; t++) {
                LoraAdapter a = adapterOf(batch, t);
                float[] h = rmsnorm(x[t], w.attnNorm[l]);
                q[t] = linear(h, w.wq[l], w.bq[l], a, l, TargetModule.Q_PROJ);
                float[] k = linear(h, w.wk[l], w.bk[l], a, l, TargetModule.K_PROJ);
                float[] v = linear(h, w.wv[l], w.bv[l], a, l, TargetModule.V_PROJ);
                for (int head = 0; head < cfg.numHeads(); head++) {
                    Rope.rotate(q[t], head * hs, cos[t], sin[t], 0, half);
                }
                for (int head = 0; head < cfg.numKvHeads(); head++) {
                    Rope.rotate(k, head * hs, cos[t], sin[t], 0, half);
                }
                int[] table = batch.blockTables()[batch.sequence()[t]];
                System.arraycopy(k, 0, kv.data, kv.keyOffset(table, l, batch.positions()[t]), k.length);
                System.arraycopy(v, 0, kv.data, kv.valueOffset(table, l, batch.positions()[t]), v.length);
            }
            for (int t = 0; t < nTokens; t++) {
                float[] att = attention(q[t], kv, l, batch.blockTables()[batch.sequence()[t]], batch.positions()[t]);
                float[] o = linear(att, w.wo[l], w.bo[l], adapterOf(batch, t), l, TargetModule.O_PROJ);
                add(x[t], o);
            }
            // MLP
            for (int t = 0; t < nTokens; t++) {
                LoraAdapter a = adapterOf(batch, t);
                float[] h = rmsnorm(x[t], w.mlpNorm[l]);
                float[] gate = linear(h, w.wGate[l], w.bGate[l], a, l, TargetModule.GATE_PROJ);
                float[] up = linear(h, w.wUp[l], w.bUp[l], a, l, TargetModule.UP_PROJ);
                for (int i = 0; i < gate.length; i++) {
                    gate[i] = silu(gate[i]) * up[i];
                }
                add(x[t], linear(gate, w.wDown[l], w.bDown[l], a, l, TargetModule.DOWN_PROJ));
            }
        }
        int vocab = cfg.vocabSize();
        for (int r = 0; r < batch.logitRows().length; r++) {
            float[] h = rmsnorm(x[batch.logitRows()[r]], w.finalNorm);
            float[] out = linear(h, w.lmHead, null, null, 0, null);
            System.arraycopy(out, 0, logits, r * vocab, vocab);
        }
    }

    /** Causal GQA attention of one query (NH·HS) over positions 0..position of its sequence. */
    private float[] attention(float[] q, HostArena kv, int layer, int[] table, int position) {
        int hs = cfg.headDim();
        int group = cfg.numHeads() / cfg.numKvHeads();
        int window = cfg.windowFor(layer);
        int first = window > 0 ? Math.max(0, position - window + 1) : 0;
        float scale = (float) (1.0 / Math.sqrt(hs));
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

    /** {@code y = x·Wᵀ (+ b) + scale·(x·Aᵀ)·Bᵀ}. */
    private static float[] linear(float[] x, Tensor weight, Tensor bias, LoraAdapter adapter, int layer, TargetModule module) {
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
        LoraWeights lw = adapter == null ? null : adapter.weights(layer, module);
        if (lw != null) {
            float[] shrunk = new float[lw.rank()];
            for (int r = 0; r < lw.rank(); r++) {
                float sum = 0;
                for (int i = 0; i < in; i++) {
                    sum += x[i] * lw.a()[r * in + i];
                }
                shrunk[r] = sum;
            }
            for (int o = 0; o < out; o++) {
                float sum = 0;
                for (int r = 0; r < lw.rank(); r++) {
                    sum += shrunk[r] * lw.b()[o * lw.rank() + r];
                }
                y[o] += lw.scale() * sum;
            }
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
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i] * inv * weight.get(i);
        }
        return y;
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
