package io.loraplex.engine.model;

/** The model families the engine runs: Llama's decoder with per-family differences. */
public enum Architecture {
    LLAMA("LlamaForCausalLM", "llama"),
    MISTRAL("MistralForCausalLM", "mistral"),
    QWEN2("Qwen2ForCausalLM", "qwen2"),
    /** Qwen2 without the q/k/v bias, with a per-head RMSNorm of q and k before RoPE. */
    QWEN3("Qwen3ForCausalLM", "qwen3"),
    /** Phi-3 / Phi-4-mini: fused qkv_proj and gate_up_proj (split at load), LongRoPE, partial rotary. */
    PHI3("Phi3ForCausalLM", "phi3"),
    /**
     * Gemma 2: (1 + w) RMSNorms before and after attention and the MLP, GeGLU (tanh GELU), embeddings
     * scaled by √C, {@code query_pre_attn_scalar}, attention and final logit soft-capping, sliding
     * window on every other layer.
     */
    GEMMA2("Gemma2ForCausalLM", "gemma2"),
    /**
     * Gemma 3 text: Gemma 2's layer with q/k norms, one global layer in {@code sliding_window_pattern}
     * and a RoPE base of its own for the sliding ones. {@code Gemma3ForConditionalGeneration}
     * checkpoints load as this, their text part only.
     */
    GEMMA3("Gemma3ForCausalLM", "gemma3_text");

    /** The multimodal Gemma 3 class, whose language model (config under {@code text_config}) is served as {@link #GEMMA3}. */
    public static final String GEMMA3_MULTIMODAL_CLASS = "Gemma3ForConditionalGeneration";

    private final String hfClass;
    private final String modelType;

    Architecture(String hfClass, String modelType) {
        this.hfClass = hfClass;
        this.modelType = modelType;
    }

    /** The {@code architectures[0]} value of a Hugging Face config.json. */
    public String hfClass() {
        return hfClass;
    }

    /** Whether each head of q and k is RMS-normed (its own {@code q_norm}/{@code k_norm} weight over HS) before RoPE. */
    public boolean qkNorm() {
        return this == QWEN3 || this == GEMMA3;
    }

    /** Gemma's decoder: (1 + w) norms, post-norms, GeGLU, scaled embeddings, query_pre_attn_scalar. */
    public boolean gemma() {
        return this == GEMMA2 || this == GEMMA3;
    }

    /** The {@code model_type} value of a Hugging Face config.json. */
    public String modelType() {
        return modelType;
    }

    public static Architecture fromHfClass(String name) {
        if (GEMMA3_MULTIMODAL_CLASS.equals(name)) {
            return GEMMA3;
        }
        for (Architecture a : values()) {
            if (a.hfClass.equals(name)) {
                return a;
            }
        }
        throw new IllegalArgumentException("unsupported architecture '" + name
                + "' (supported: " + supportedHfClasses() + ")");
    }

    public static Architecture fromName(String name) {
        for (Architecture a : values()) {
            // "gemma3" (the multimodal model_type) names Gemma 3 as well as gemma3_text
            if (a.modelType.equalsIgnoreCase(name) || a.hfClass.equalsIgnoreCase(name)
                    || a == GEMMA3 && name.equalsIgnoreCase("gemma3")) {
                return a;
            }
        }
        throw new IllegalArgumentException("unknown architecture '" + name + "' (use " + supportedModelTypes() + ")");
    }

    /** "LlamaForCausalLM, MistralForCausalLM, …": every supported class, for refusals. */
    public static String supportedHfClasses() {
        return String.join(", ", java.util.stream.Stream.concat(java.util.Arrays.stream(values()).map(Architecture::hfClass),
                java.util.stream.Stream.of(GEMMA3_MULTIMODAL_CLASS)).toList());
    }

    /** "llama, mistral, …, gemma2, gemma3": the names {@link #fromName} takes, for refusals. */
    public static String supportedModelTypes() {
        return String.join(", ", java.util.Arrays.stream(values()).map(a -> a == GEMMA3 ? "gemma3" : a.modelType).toList());
    }
}
