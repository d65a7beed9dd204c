package io.loraplex.engine.model;

/** The model families the engine runs: Llama's decoder with per-family differences. */
public enum Architecture {
    LLAMA("LlamaForCausalLM", "llama"),
    MISTRAL("MistralForCausalLM", "mistral"),
    QWEN2("Qwen2ForCausalLM", "qwen2");

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
                + "' (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)");
    }

    public static Architecture fromName(String name) {
        for (Architecture a : values()) {
            if (a.modelType.equalsIgnoreCase(name) || a.hfClass.equalsIgnoreCase(name)) {
                return a;
            }
        }
        throw new IllegalArgumentException("unknown architecture '" + name + "' (use llama, mistral or qwen2)");
    }
}
