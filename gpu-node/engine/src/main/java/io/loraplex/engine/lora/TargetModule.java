package io.loraplex.engine.lora;

import io.loraplex.engine.model.ModelConfig;

/** The seven linear projections of a Llama-family decoder layer that an adapter can target. */
public enum TargetModule {
    Q_PROJ("self_attn", "q_proj"),
    K_PROJ("self_attn", "k_proj"),
    V_PROJ("self_attn", "v_proj"),
    O_PROJ("self_attn", "o_proj"),
    GATE_PROJ("mlp", "gate_proj"),
    UP_PROJ("mlp", "up_proj"),
    DOWN_PROJ("mlp", "down_proj");

    public static final int COUNT = values().length;

    private final String block;
    private final String shortName;

    TargetModule(String block, String shortName) {
        this.block = block;
        this.shortName = shortName;
    }

    /** "q_proj", as PEFT's target_modules name it. */
    public String shortName() {
        return shortName;
    }

    /** The module's name in the base model, as PEFT matches patterns against it. */
    public String moduleName(int layer) {
        return "model.layers." + layer + "." + block + "." + shortName;
    }

    /** "self_attn.q_proj". */
    public String path() {
        return block + "." + shortName;
    }

    public int inFeatures(ModelConfig c) {
        return switch (this) {
            case Q_PROJ, K_PROJ, V_PROJ, GATE_PROJ, UP_PROJ -> c.hiddenSize();
            case O_PROJ -> c.qDim();
            case DOWN_PROJ -> c.intermediateSize();
        };
    }

    public int outFeatures(ModelConfig c) {
        return switch (this) {
            case Q_PROJ -> c.qDim();
            case K_PROJ, V_PROJ -> c.kvDim();
            case O_PROJ, DOWN_PROJ -> c.hiddenSize();
            case GATE_PROJ, UP_PROJ -> c.intermediateSize();
        };
    }

    /** The module for "self_attn" + "q_proj", or null when this architecture has no such module. */
    public static TargetModule of(String block, String shortName) {
        for (TargetModule m : values()) {
            if (m.block.equals(block) && m.shortName.equals(shortName)) {
                return m;
            }
        }
        return null;
    }

    public static TargetModule ofShortName(String shortName) {
        for (TargetModule m : values()) {
            if (m.shortName.equals(shortName)) {
                return m;
            }
        }
        return null;
    }
}
