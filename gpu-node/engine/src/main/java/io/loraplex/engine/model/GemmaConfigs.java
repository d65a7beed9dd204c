package io.loraplex.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Set;
import java.util.TreeSet;

/**
 * Reading and writing the Gemma 2 / Gemma 3 parts of a {@code config.json}, as transformers'
 * {@code Gemma2Config} and {@code Gemma3TextConfig} define them (their defaults fill what a
 * checkpoint leaves out, as the multimodal Gemma 3 checkpoints' {@code text_config} does).
 */
final class GemmaConfigs {

    /** The MLP activation every Gemma 2 and 3 checkpoint names: GELU with the tanh approximation. */
    static final String ACTIVATION = "gelu_pytorch_tanh";

    private GemmaConfigs() {
    }

    /** Gemma2Config's defaults for the keys the engine reads. */
    private static ObjectNode gemma2Defaults() {
        ObjectNode d = common(256000, 8192, 10000.0);
        d.put("attn_logit_softcapping", 50.0);
        d.put("final_logit_softcapping", 30.0);
        return d;
    }

    /** Gemma3TextConfig's defaults for the keys the engine reads. */
    private static ObjectNode gemma3Defaults() {
        ObjectNode d = common(262208, 131072, 1000000.0);
        d.putNull("attn_logit_softcapping");
        d.putNull("final_logit_softcapping");
        d.put("rope_local_base_freq", 10000.0);
        d.put("sliding_window_pattern", 6);
        return d;
    }

    private static ObjectNode common(int vocab, int maxPositions, double ropeTheta) {
        ObjectNode d = JsonNodeFactory.instance.objectNode();
        d.put("vocab_size", vocab);
        d.put("hidden_size", 2304);
        d.put("intermediate_size", 9216);
        d.put("num_hidden_layers", 26);
        d.put("num_attention_heads", 8);
        d.put("num_key_value_heads", 4);
        d.put("head_dim", 256);
        d.put("max_position_embeddings", maxPositions);
        d.put("rms_norm_eps", 1e-6);
        d.put("bos_token_id", 2);
        d.put("eos_token_id", 1);
        d.put("tie_word_embeddings", true);
        d.put("rope_theta", ropeTheta);
        d.put("query_pre_attn_scalar", 256);
        d.put("sliding_window", 4096);
        return d;
    }

    /**
     * The language model's config with the class's defaults filled in: for
     * {@code Gemma3ForConditionalGeneration} its {@code text_config} (the dtype and special token ids
     * taken from the top level where the text config lacks them). Refuses what the engine does not
     * implement, naming it.
     */
    static JsonNode textConfig(JsonNode root, String hfClass) {
        boolean multimodal = Architecture.GEMMA3_MULTIMODAL_CLASS.equals(hfClass);
        Architecture arch = Architecture.fromHfClass(hfClass);
        JsonNode source = root;
        if (multimodal) {
            source = root.get("text_config");
            if (source == null || !source.isObject()) {
                throw new IllegalArgumentException(hfClass + " needs 'text_config' (its language model's config) as an object, got "
                        + source);
            }
        }
        ObjectNode merged = arch == Architecture.GEMMA2 ? gemma2Defaults() : gemma3Defaults();
        merged.setAll((ObjectNode) source);
        if (multimodal) {
            for (String key : new String[] {"torch_dtype", "dtype", "bos_token_id", "eos_token_id"}) {
                if (!source.has(key) && root.has(key)) {
                    merged.set(key, root.get(key));
                }
            }
        }
        String act = merged.hasNonNull("hidden_activation") ? merged.get("hidden_activation").asText() : ACTIVATION;
        if (!act.equals(ACTIVATION)) {
            throw new IllegalArgumentException("hidden_activation '" + act + "' is not supported for " + hfClass
                    + " (only " + ACTIVATION + ")");
        }
        if (merged.path("use_bidirectional_attention").asBoolean(false)) {
            throw new IllegalArgumentException("use_bidirectional_attention: true is not supported (only causal attention)");
        }
        readRopeParameters(merged, arch);
        return merged;
    }

    /**
     * transformers 5 keeps RoPE under {@code rope_parameters} (Gemma 3: one entry per layer type);
     * read into the keys the rest of the parser knows.
     */
    private static void readRopeParameters(ObjectNode cfg, Architecture arch) {
        JsonNode params = cfg.get("rope_parameters");
        if (params == null || params.isNull()) {
            return;
        }
        JsonNode global = params.has("full_attention") ? params.get("full_attention") : params;
        if (global.hasNonNull("rope_theta")) {
            cfg.set("rope_theta", global.get("rope_theta"));
        }
        String type = global.hasNonNull("rope_type") ? global.get("rope_type").asText() : "default";
        if (!type.equals("default")) {
            ObjectNode scaling = global.deepCopy();
            scaling.remove("rope_theta");
            cfg.set("rope_scaling", scaling);
        }
        JsonNode local = params.get("sliding_attention");
        if (local != null && arch == Architecture.GEMMA3) {
            String localType = local.hasNonNull("rope_type") ? local.get("rope_type").asText() : "default";
            if (!localType.equals("default")) {
                throw new IllegalArgumentException("rope_parameters.sliding_attention.rope_type '" + localType
                        + "' is not supported (Gemma 3's sliding layers take plain RoPE)");
            }
            if (local.hasNonNull("rope_theta")) {
                cfg.set("rope_local_base_freq", local.get("rope_theta"));
            }
        }
    }

    /**
     * The sliding-window layers: {@code layer_types} when present; else Gemma 2's even layers, or
     * Gemma 3's all but every {@code sliding_window_pattern}-th (layers 5, 11, … global for 6).
     */
    static Set<Integer> slidingLayers(JsonNode cfg, Architecture arch, int layers) {
        Set<Integer> sliding = new TreeSet<>();
        JsonNode types = cfg.get("layer_types");
        if (types != null && !types.isNull()) {
            if (!types.isArray() || types.size() != layers) {
                throw new IllegalArgumentException("layer_types must list " + layers + " layer types (num_hidden_layers), got "
                        + types);
            }
            for (int l = 0; l < layers; l++) {
                String t = types.get(l).asText();
                switch (t) {
                    case "sliding_attention" -> sliding.add(l);
                    case "full_attention" -> {
                    }
                    default -> throw new IllegalArgumentException("layer_types[" + l + "] '" + t
                            + "' is not supported (sliding_attention or full_attention)");
                }
            }
            return sliding;
        }
        int pattern = arch == Architecture.GEMMA2 ? 2 : cfg.path("sliding_window_pattern").asInt(6);
        if (pattern < 1) {
            throw new IllegalArgumentException("sliding_window_pattern must be >= 1, got " + cfg.get("sliding_window_pattern"));
        }
        for (int l = 0; l < layers; l++) {
            if ((l + 1) % pattern != 0) {
                sliding.add(l);
            }
        }
        return sliding;
    }

    static GemmaFeatures features(JsonNode cfg, Architecture arch) {
        return new GemmaFeatures(
                number(cfg, "query_pre_attn_scalar"),
                nullableNumber(cfg, "attn_logit_softcapping"),
                nullableNumber(cfg, "final_logit_softcapping"),
                arch == Architecture.GEMMA3 ? number(cfg, "rope_local_base_freq") : null);
    }

    private static double number(JsonNode cfg, String field) {
        JsonNode n = cfg.get(field);
        if (n == null || !n.isNumber()) {
            throw new IllegalArgumentException("'" + field + "' must be a number, got " + n);
        }
        return n.asDouble();
    }

    private static Double nullableNumber(JsonNode cfg, String field) {
        JsonNode n = cfg.get(field);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isNumber()) {
            throw new IllegalArgumentException("'" + field + "' must be a number or null, got " + n);
        }
        return n.asDouble();
    }

    /** The Gemma keys of {@link ModelConfig#toJson}, as Gemma2Config / Gemma3TextConfig write them. */
    static void write(ModelConfig c, ObjectNode o) {
        GemmaFeatures g = c.gemma();
        o.put("hidden_activation", ACTIVATION);
        // an integer as the published configs write it (256, 144), a decimal only where it has a fraction
        if (g.queryPreAttnScalar() == Math.rint(g.queryPreAttnScalar())) {
            o.put("query_pre_attn_scalar", (long) g.queryPreAttnScalar());
        } else {
            o.put("query_pre_attn_scalar", g.queryPreAttnScalar());
        }
        putNullable(o, "attn_logit_softcapping", g.attnLogitSoftcap());
        putNullable(o, "final_logit_softcapping", g.finalLogitSoftcap());
        if (g.localRopeTheta() != null) {
            o.put("rope_local_base_freq", g.localRopeTheta());
        }
        o.put("attention_bias", c.qkvBias());
        ArrayNode types = o.putArray("layer_types");
        for (int l = 0; l < c.numLayers(); l++) {
            types.add(c.slidingLayers().contains(l) ? "sliding_attention" : "full_attention");
        }
    }

    private static void putNullable(ObjectNode o, String field, Double value) {
        if (value == null) {
            o.putNull(field);
        } else {
            o.put(field, value);
        }
    }
}
