package io.loraplex.engine.cli;

import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelShape;
import io.loraplex.engine.model.RopeScaling;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/** The shape flags shared by commands that generate a random model. */
final class ModelShapeFlags {

    private ModelShapeFlags() {
    }

    static Flags declare(Flags f, int hidden, int layers, int heads, int kvHeads, int intermediate, int vocab, String dtype) {
        return f.option("shape", null, "a published shape with random weights: " + String.join(" or ",
                        java.util.Arrays.stream(ModelShape.values()).map(ModelShape::flagName).toList())
                        + " (sets every shape flag but --dtype)")
                .option("arch", "llama", "architecture: llama, mistral, qwen2, qwen3, phi3, gemma2 or gemma3")
                .option("hidden", Integer.toString(hidden), "hidden size")
                .option("layers", Integer.toString(layers), "decoder layers")
                .option("heads", Integer.toString(heads), "attention heads")
                .option("kv-heads", Integer.toString(kvHeads), "key/value heads (grouped-query attention)")
                .option("head-dim", null, "head size (default hidden / heads; qwen3, gemma2 and gemma3: twice that)")
                .option("intermediate", Integer.toString(intermediate), "MLP intermediate size")
                .option("vocab", Integer.toString(vocab), "vocabulary size")
                .option("dtype", dtype, "weight dtype: f32, bf16 or f16")
                .option("rope-theta", null, "RoPE base (default 500000 for llama, 1000000 for qwen2 and qwen3, 10000 for mistral and phi3)")
                .option("rope-scaling", null, "llama3:FACTOR:LOW:HIGH:ORIGINAL_MAX or linear:FACTOR")
                .option("max-positions", "4096", "max_position_embeddings")
                .option("sliding-window", null, "attention window (mistral: every layer; qwen2: every layer; gemma2: even layers, "
                        + "gemma3: all but every third; default 16 for gemma)")
                .flag("tie", "tie the lm_head to the embedding (default for qwen2 and qwen3)")
                .flag("untie", "untie the lm_head (default for llama and mistral)");
    }

    /** The flags a named shape sets, which may not be given beside {@code --shape}. */
    private static final List<String> SHAPE_SET = List.of("arch", "hidden", "layers", "heads", "kv-heads", "head-dim",
            "intermediate", "vocab", "rope-theta", "rope-scaling", "max-positions", "sliding-window", "tie", "untie");

    /**
     * The named shape ({@code --shape}), or null when the shape flags give it; an unknown name is refused
     * listing the allowed ones, and so is a flag the shape sets given beside it (one of the two would be
     * silently ignored).
     */
    static ModelShape shape(Flags f) {
        if (!f.has("shape")) {
            return null;
        }
        ModelShape shape;
        try {
            shape = ModelShape.parse(f.required("shape"));
        } catch (IllegalArgumentException e) {
            throw f.bad("--shape: " + e.getMessage());
        }
        for (String name : SHAPE_SET) {
            if (f.has(name)) {
                throw f.bad("--shape " + shape.flagName() + " sets --" + name + "; give one or the other");
            }
        }
        return shape;
    }

    static ModelConfig config(Flags f, Integer bosId, List<Integer> eosIds) {
        ModelShape shape = shape(f);
        if (shape != null) {
            return shape.config(dtype(f), bosId, eosIds);
        }
        Architecture arch = parseArch(f);
        int hidden = f.integer("hidden");
        int heads = f.integer("heads");
        int headDim = f.string("head-dim") == null ? io.loraplex.engine.model.TinyModel.defaultHeadDim(arch, hidden, heads)
                : f.integer("head-dim");
        double theta = f.string("rope-theta") != null ? f.decimal("rope-theta")
                : switch (arch) {
                    case LLAMA -> 500000.0;
                    case QWEN2, QWEN3 -> 1000000.0;
                    case MISTRAL, PHI3, GEMMA2 -> 10000.0;
                    case GEMMA3 -> 1000000.0;
                };
        boolean tie = f.has("tie") || ((arch == Architecture.QWEN2 || arch == Architecture.QWEN3 || arch.gemma()) && !f.has("untie"));
        int window = f.string("sliding-window") == null
                ? arch.gemma() ? io.loraplex.engine.model.TinyModel.GEMMA_SLIDING_WINDOW : 0 : f.integer("sliding-window");
        int layers = f.integer("layers");
        Set<Integer> windowLayers = io.loraplex.engine.model.TinyModel.slidingLayers(arch, layers, window);
        DType dtype;
        try {
            dtype = DType.fromTorchName(f.required("dtype"));
        } catch (IllegalArgumentException e) {
            throw f.bad("--dtype: " + e.getMessage());
        }
        try {
            double partialRotary = arch == Architecture.PHI3 ? io.loraplex.engine.model.TinyModel.PHI3_PARTIAL_ROTARY : 1.0;
            RopeScaling scaling = ropeScaling(f) == null && arch == Architecture.PHI3
                    ? io.loraplex.engine.model.TinyModel.phi3Longrope((int) (headDim * partialRotary), f.integer("max-positions"))
                    : ropeScaling(f);
            return new ModelConfig(arch, hidden, f.integer("intermediate"), layers, heads, f.integer("kv-heads"), headDim,
                    f.integer("vocab"), 1e-5, theta, scaling, f.integer("max-positions"), tie,
                    arch == Architecture.QWEN2, false, false, window, windowLayers, dtype, bosId, eosIds, partialRotary,
                    io.loraplex.engine.model.TinyModel.gemmaFeatures(arch, hidden, heads));
        } catch (IllegalArgumentException e) {
            throw f.bad(e.getMessage());
        }
    }

    /** The flags as a generated-model spec (tokenizer and chat style chosen by the caller). */
    static io.loraplex.engine.model.TinyModel.Spec spec(Flags f, io.loraplex.engine.tokenizer.TokenizerKind tokenizer,
            io.loraplex.engine.tokenizer.ChatStyle style, int shards, long seed) {
        ModelShape shape = shape(f);
        DType dtype = dtype(f);
        if (shape != null) {
            return shape.spec(dtype, tokenizer, style, shards, seed);
        }
        Architecture arch = parseArch(f);
        Boolean tie = f.has("tie") ? Boolean.TRUE : f.has("untie") ? Boolean.FALSE : null;
        return new io.loraplex.engine.model.TinyModel.Spec(arch, f.integer("hidden"), f.integer("layers"), f.integer("heads"),
                f.integer("kv-heads"), f.optionalInteger("head-dim"), f.integer("intermediate"), f.integer("vocab"), dtype,
                f.optionalDecimal("rope-theta"), ropeScaling(f), f.integer("max-positions"), tie,
                f.string("sliding-window") == null ? 0 : f.integer("sliding-window"), tokenizer, style, shards, seed);
    }

    private static DType dtype(Flags f) {
        try {
            return DType.fromTorchName(f.required("dtype"));
        } catch (IllegalArgumentException e) {
            throw f.bad("--dtype: " + e.getMessage());
        }
    }

    static Architecture parseArch(Flags f) {
        try {
            return Architecture.fromName(f.required("arch"));
        } catch (IllegalArgumentException e) {
            throw f.bad("--arch: " + e.getMessage());
        }
    }

    private static RopeScaling ropeScaling(Flags f) {
        String spec = f.string("rope-scaling");
        if (spec == null) {
            return null;
        }
        String[] parts = spec.split(":");
        try {
            if (parts[0].equals("linear") && parts.length == 2) {
                return RopeScaling.linear(Double.parseDouble(parts[1]));
            }
            if (parts[0].equals("llama3") && parts.length == 5) {
                return RopeScaling.llama3(Double.parseDouble(parts[1]), Double.parseDouble(parts[2]),
                        Double.parseDouble(parts[3]), Integer.parseInt(parts[4]));
            }
        } catch (NumberFormatException e) {
            // falls through to the refusal
        }
        throw f.bad("--rope-scaling must be llama3:FACTOR:LOW:HIGH:ORIGINAL_MAX or linear:FACTOR, got '" + spec + "'");
    }
}
