package io.loraplex.engine.model;

/** The model families the engine runs: Llama's decoder with per-family differences. */
public enum Architecture {
    LLAMA("LlamaForCausalLM", "llama"),
    MISTRAL("MistralForCausalLM", "mistral"),
    QWEN2("Qwen2ForCausalLM", "qwen2"),
    /** Qwen2 without the q/k/v bias, with a per-head RMSNorm of q and k before RoPE. */
    QWEN3("Qwen3ForCausalLM", "qwen3"),
    /** Phi-3 / Phi-4-mini: fused qkv_proj and gate_up_proj (split at load), LongRoPE, partial rotary. */
    PHI3("Phi3ForCausalLM", "phi3");

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
        return this == QWEN3;
    }

    /** The {@code model_type} value of a Hugging Face config.json. */
    public String modelType() {
        return modelType;
    }

    public static Architecture fromHfClass(String name) {
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
            if (a.modelType.equalsIgnoreCase(name) || a.hfClass.equalsIgnoreCase(name)) {
                return a;
            }
        }
        throw new IllegalArgumentException("unknown architecture '" + name + "' (use " + supportedModelTypes() + ")");
    }

    /** "LlamaForCausalLM, MistralForCausalLM, …": every supported class, for refusals. */
    public static String supportedHfClasses() {
        return String.join(", ", java.util.Arrays.stream(values()).map(Architecture::hfClass).toList());
    }

    /** "llama, mistral, …": every supported model_type, for refusals. */
    public static String supportedModelTypes() {
        return String.join(", ", java.util.Arrays.stream(values()).map(Architecture::modelType).toList());
    }
}
