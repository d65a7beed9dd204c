package io.loraplex.engine.model;

import java.io.IOException;

/**
 * The base model's weights by role, each a view into the mapped files, with every shape checked
 * against the config. Linear weights are {@code [out, in]}: {@code y = x · Wᵀ}.
 *
 * <p>Phi-3's fused {@code qkv_proj} (q, k, v rows stacked) and {@code gate_up_proj} (gate rows, then
 * up rows) are split here into row views, so every backend and the LoRA path see the same seven
 * projections whatever the checkpoint's layout.
 *
 * <p>Gemma's four norms per layer map to {@code attnNorm} (input_layernorm), {@code postAttnNorm}
 * (post_attention_layernorm, on the attention output), {@code mlpNorm} (pre_feedforward_layernorm)
 * and {@code postMlpNorm} (post_feedforward_layernorm); their weights are stored zero-centred (the
 * backends multiply by {@code 1 + w}). A {@code Gemma3ForConditionalGeneration} checkpoint keeps its
 * language model under {@code language_model.model.} (or {@code model.language_model.} as transformers
 * 4.52+ saves it); its vision tower is not read.
 */
public final class ModelWeights {

    public final Tensor embed;        // (V, C)
    public final Tensor[] attnNorm;   // (L) (C)
    private final Tensor[] wq;         // (L) (NH·HS, C)
    private final Tensor[] wk;         // (L) (NKV·HS, C)
    private final Tensor[] wv;         // (L) (NKV·HS, C)
    private final Tensor[] wo;         // (L) (C, NH·HS)
    public final Tensor[] bq;         // (L) (NH·HS) or nulls
    public final Tensor[] bk;         // (L) (NKV·HS) or nulls
    public final Tensor[] bv;         // (L) (NKV·HS) or nulls
    public final Tensor[] bo;         // (L) (C) or nulls
    public final Tensor[] qNorm;      // (L) (HS) or nulls: Qwen3's per-head norm of q
    public final Tensor[] kNorm;      // (L) (HS) or nulls: Qwen3's per-head norm of k
    public final Tensor[] mlpNorm;    // (L) (C) Gemma: pre_feedforward_layernorm
    public final Tensor[] postAttnNorm; // (L) (C) or nulls: Gemma's norm of the attention output
    public final Tensor[] postMlpNorm;  // (L) (C) or nulls: Gemma's norm of the MLP output
    private final Tensor[] wGate;      // (L) (I, C)
    private final Tensor[] wUp;        // (L) (I, C)
    private final Tensor[] wDown;      // (L) (C, I)
    public final Tensor[] bGate;      // (L) (I) or nulls
    public final Tensor[] bUp;        // (L) (I) or nulls
    public final Tensor[] bDown;      // (L) (C) or nulls
    public final Tensor finalNorm;    // (C)
    private final Tensor lmHead;      // (V, C), the embedding when tied: as the checkpoint stores it

    private final WeightFiles files;
    private final WeightFormat format; // null: the checkpoint's own dtype
    /** The projections and lm head in {@link #format}, each converted on first use (see {@link #converted}). */
    private final java.util.Map<Tensor, Tensor> converted = new java.util.IdentityHashMap<>();

    public ModelWeights(ModelConfig cfg, WeightFiles files) throws IOException {
        this(cfg, files, null);
    }

    /**
     * The weights with the seven projections and the lm head converted to {@code format} once, here
     * ({@code null}: as the checkpoint stores them, mapped). A tied lm head becomes its own converted
     * copy; the embedding it shares stays as stored.
     */
    public ModelWeights(ModelConfig cfg, WeightFiles files, WeightFormat format) throws IOException {
        this.files = files;
        this.format = format;
        int n = cfg.numLayers();
        long c = cfg.hiddenSize();
        long q = cfg.qDim();
        long kv = cfg.kvDim();
        long inter = cfg.intermediateSize();
        String m = decoderPrefix(cfg, files);
        embed = get(m + "embed_tokens.weight", cfg.vocabSize(), c);
        attnNorm = new Tensor[n];
        wq = new Tensor[n];
        wk = new Tensor[n];
        wv = new Tensor[n];
        wo = new Tensor[n];
        bq = new Tensor[n];
        bk = new Tensor[n];
        bv = new Tensor[n];
        bo = new Tensor[n];
        qNorm = new Tensor[n];
        kNorm = new Tensor[n];
        mlpNorm = new Tensor[n];
        postAttnNorm = new Tensor[n];
        postMlpNorm = new Tensor[n];
        wGate = new Tensor[n];
        wUp = new Tensor[n];
        wDown = new Tensor[n];
        bGate = new Tensor[n];
        bUp = new Tensor[n];
        bDown = new Tensor[n];
        for (int l = 0; l < n; l++) {
            String p = m + "layers." + l + ".";
            attnNorm[l] = get(p + "input_layernorm.weight", c);
            if (cfg.architecture() == Architecture.PHI3) {
                Tensor qkv = get(p + "self_attn.qkv_proj.weight", q + 2 * kv, c);
                wq[l] = projection(qkv.rows(p + "self_attn.qkv_proj.weight[q]", 0, q));
                wk[l] = projection(qkv.rows(p + "self_attn.qkv_proj.weight[k]", q, kv));
                wv[l] = projection(qkv.rows(p + "self_attn.qkv_proj.weight[v]", q + kv, kv));
            } else {
                wq[l] = projection(get(p + "self_attn.q_proj.weight", q, c));
                wk[l] = projection(get(p + "self_attn.k_proj.weight", kv, c));
                wv[l] = projection(get(p + "self_attn.v_proj.weight", kv, c));
            }
            wo[l] = projection(get(p + "self_attn.o_proj.weight", c, q));
            if (cfg.qkvBias()) {
                bq[l] = get(p + "self_attn.q_proj.bias", q);
                bk[l] = get(p + "self_attn.k_proj.bias", kv);
                bv[l] = get(p + "self_attn.v_proj.bias", kv);
            }
            if (cfg.oBias()) {
                bo[l] = get(p + "self_attn.o_proj.bias", c);
            }
            if (cfg.qkNorm()) {
                qNorm[l] = get(p + "self_attn.q_norm.weight", cfg.headDim());
                kNorm[l] = get(p + "self_attn.k_norm.weight", cfg.headDim());
            }
            if (cfg.postNorms()) {
                postAttnNorm[l] = get(p + "post_attention_layernorm.weight", c);
                mlpNorm[l] = get(p + "pre_feedforward_layernorm.weight", c);
                postMlpNorm[l] = get(p + "post_feedforward_layernorm.weight", c);
            } else {
                mlpNorm[l] = get(p + "post_attention_layernorm.weight", c);
            }
            if (cfg.architecture() == Architecture.PHI3) {
                Tensor gateUp = get(p + "mlp.gate_up_proj.weight", 2 * inter, c);
                wGate[l] = projection(gateUp.rows(p + "mlp.gate_up_proj.weight[gate]", 0, inter));
                wUp[l] = projection(gateUp.rows(p + "mlp.gate_up_proj.weight[up]", inter, inter));
            } else {
                wGate[l] = projection(get(p + "mlp.gate_proj.weight", inter, c));
                wUp[l] = projection(get(p + "mlp.up_proj.weight", inter, c));
            }
            wDown[l] = projection(get(p + "mlp.down_proj.weight", c, inter));
            if (cfg.mlpBias()) {
                bGate[l] = get(p + "mlp.gate_proj.bias", inter);
                bUp[l] = get(p + "mlp.up_proj.bias", inter);
                bDown[l] = get(p + "mlp.down_proj.bias", c);
            }
        }
        finalNorm = get(m + "norm.weight", c);
        Tensor head;
        if (cfg.tieWordEmbeddings()) {
            head = embed;
        } else if (files.contains("lm_head.weight")) {
            head = get("lm_head.weight", cfg.vocabSize(), c);
        } else {
            throw new IOException("missing weight tensor 'lm_head.weight' (config.json has tie_word_embeddings: false)");
        }
        if (format != null) {
            check(head, format.lmHeadDtype());
        }
        lmHead = head;
    }

    /** A projection's weight as stored, checked now against the chosen format (converted on first use). */
    private Tensor projection(Tensor t) throws IOException {
        if (format != null) {
            check(t, format.dtype());
        }
        return t;
    }

    private static void check(Tensor t, DType target) throws IOException {
        try {
            WeightFormat.checkConvertible(t, target);
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    /**
     * {@code stored} in the chosen format, converted once on first use: a backend that packs the
     * stored tensors its own way (the CPU backend's panels) never makes this row-major copy, so an
     * int8 8B model is not held twice.
     */
    private Tensor converted(Tensor stored, DType target) {
        if (format == null || stored.dtype() == target) {
            return stored;
        }
        synchronized (converted) {
            return converted.computeIfAbsent(stored, t -> WeightFormat.convert(t, target));
        }
    }

    /** The chosen format's projection dtype, or null for the checkpoint's own. */
    private DType projectionDtype() {
        return format == null ? null : format.dtype();
    }

    /** Layer {@code l}'s q projection in the chosen format. */
    public Tensor wq(int l) {
        return converted(wq[l], projectionDtype());
    }

    public Tensor wk(int l) {
        return converted(wk[l], projectionDtype());
    }

    public Tensor wv(int l) {
        return converted(wv[l], projectionDtype());
    }

    public Tensor wo(int l) {
        return converted(wo[l], projectionDtype());
    }

    public Tensor wGate(int l) {
        return converted(wGate[l], projectionDtype());
    }

    public Tensor wUp(int l) {
        return converted(wUp[l], projectionDtype());
    }

    public Tensor wDown(int l) {
        return converted(wDown[l], projectionDtype());
    }

    /** The lm head in the chosen format (the embedding's converted copy when tied). */
    public Tensor lmHead() {
        return converted(lmHead, format == null ? null : format.lmHeadDtype());
    }

    /** The seven projections of layer {@code l} as the checkpoint stores them (q, k, v, o, gate, up, down), mapped. */
    public Tensor[] storedProjections(int l) {
        return new Tensor[] {wq[l], wk[l], wv[l], wo[l], wGate[l], wUp[l], wDown[l]};
    }

    /** Decoder layers. */
    public int layers() {
        return wq.length;
    }

    /** The lm head as the checkpoint stores it (the embedding when tied), mapped. */
    public Tensor storedLmHead() {
        return lmHead;
    }

    /** The format the projections were converted to, or null where they are the checkpoint's own. */
    public WeightFormat format() {
        return format;
    }

    /**
     * "model." for every causal-LM checkpoint; a multimodal Gemma 3's language model sits under
     * "language_model.model." (as Google published them) or "model.language_model." (transformers 4.52+).
     */
    static String decoderPrefix(ModelConfig cfg, WeightFiles files) throws IOException {
        if (files.contains("model.embed_tokens.weight") || cfg.architecture() != Architecture.GEMMA3) {
            return "model.";
        }
        for (String prefix : new String[] {"language_model.model.", "model.language_model."}) {
            if (files.contains(prefix + "embed_tokens.weight")) {
                return prefix;
            }
        }
        throw new IOException("missing weight tensor 'model.embed_tokens.weight' (nor a Gemma 3 language model's "
                + "'language_model.model.embed_tokens.weight' or 'model.language_model.embed_tokens.weight')");
    }

    private Tensor get(String name, long... shape) throws IOException {
        Tensor t = files.tensor(name);
        if (!t.hasShape(shape)) {
            throw new IOException("weight tensor '" + name + "' has shape " + t.shapeString() + ", config.json implies "
                    + java.util.Arrays.toString(shape));
        }
        return t;
    }

    public WeightFiles files() {
        return files;
    }
}
