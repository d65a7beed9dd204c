package io.loraplex.engine.model;

import io.loraplex.engine.tokenizer.ChatStyle;
import io.loraplex.engine.tokenizer.TokenizerKind;
import java.util.Arrays;

/**
 * Published model shapes that a generated model can take ({@code --shape}), with random weights: the
 * numbers are those of the models' {@code config.json} on the Hugging Face hub, so load time, memory
 * and tokens/s measured on them are those of the real model (the weights' values do not change the
 * work). The tokenizer stays the generated small one: the model's vocabulary keeps its published size
 * (the embedding and lm head are the real size) and the ids past the tokenizer are padding, as in
 * Qwen's checkpoints, whose vocab_size exceeds their tokenizer too.
 */
public enum ModelShape {

    /** meta-llama/Llama-3.2-1B: 1.24B parameters, the lm head tied to the embedding. */
    LLAMA_3_2_1B("llama-3.2-1b", 2048, 16, 32, 8, 64, 8192, 128256, true, 500000.0,
            RopeScaling.llama3(32.0, 1.0, 4.0, 8192), 131072),
    /** meta-llama/Llama-3.1-8B: 8.03B parameters, its own lm head; RoPE scaled by 8 (3.2 scales by 32). */
    LLAMA_3_1_8B("llama-3.1-8b", 4096, 32, 32, 8, 128, 14336, 128256, false, 500000.0,
            RopeScaling.llama3(8.0, 1.0, 4.0, 8192), 131072);

    private final String flagName;
    private final int hidden;        // C
    private final int layers;        // L
    private final int heads;         // NH
    private final int kvHeads;       // NKV
    private final int headDim;       // HS
    private final int intermediate;  // I
    private final int vocab;         // V
    private final boolean tie;
    private final double ropeTheta;
    private final RopeScaling ropeScaling;
    private final int maxPositions;

    ModelShape(String flagName, int hidden, int layers, int heads, int kvHeads, int headDim, int intermediate, int vocab,
            boolean tie, double ropeTheta, RopeScaling ropeScaling, int maxPositions) {
        this.flagName = flagName;
        this.hidden = hidden;
        this.layers = layers;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.intermediate = intermediate;
        this.vocab = vocab;
        this.tie = tie;
        this.ropeTheta = ropeTheta;
        this.ropeScaling = ropeScaling;
        this.maxPositions = maxPositions;
    }

    /** The name {@code --shape} takes. */
    public String flagName() {
        return flagName;
    }

    /** The shape named {@code value}, or an exception naming it and the allowed names. */
    public static ModelShape parse(String value) {
        for (ModelShape s : values()) {
            if (s.flagName.equals(value)) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown shape '" + value + "' (use "
                + String.join(", ", Arrays.stream(values()).map(ModelShape::flagName).toList()) + ")");
    }

    /** A generated Llama of this shape, its weights in {@code dtype}, seeded by {@code seed}, in one file. */
    public TinyModel.Spec spec(DType dtype, long seed) {
        return spec(dtype, null, null, 1, seed);
    }

    /** A generated Llama of this shape with the given tokenizer and chat style (null: the defaults) in {@code shards} files. */
    public TinyModel.Spec spec(DType dtype, TokenizerKind tokenizer, ChatStyle chatStyle, int shards, long seed) {
        return new TinyModel.Spec(Architecture.LLAMA, hidden, layers, heads, kvHeads, headDim, intermediate, vocab, dtype,
                ropeTheta, ropeScaling, maxPositions, tie, 0, tokenizer, chatStyle, shards, seed);
    }

    /** The shape's config with the given token ids (no tokenizer involved): what {@code bench} generates. */
    public ModelConfig config(DType dtype, Integer bosId, java.util.List<Integer> eosIds) {
        return new ModelConfig(Architecture.LLAMA, hidden, intermediate, layers, heads, kvHeads, headDim, vocab, 1e-5, ropeTheta,
                ropeScaling, maxPositions, tie, false, false, false, 0, java.util.Set.of(), dtype, bosId, eosIds, 1.0, null);
    }
}
