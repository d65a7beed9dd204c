package io.loraplex.engine.sample;

import java.util.Map;

/**
 * A model's preferred sampling settings, as in its {@code generation_config.json}; null means the
 * model states nothing. {@link SamplingParams#withDefaults} applies them to the fields a request
 * left unset and validates the result, so a bad value fails there with the field's name.
 *
 * <p>The fields are the ones vLLM takes from a generation config. {@code do_sample} is ignored, as
 * vLLM ignores it: a model that wants greedy decoding says {@code temperature: 0}.
 */
public record GenerationDefaults(
        Double temperature, Double topP, Integer topK, Double minP, Double repetitionPenalty, Integer maxNewTokens) {

    public static final GenerationDefaults NONE = new GenerationDefaults(null, null, null, null, null, null);

    /** Reads the keys of a parsed {@code generation_config.json}; other keys are ignored. */
    public static GenerationDefaults fromGenerationConfig(Map<String, ?> config) {
        return new GenerationDefaults(
                decimal(config, "temperature"),
                decimal(config, "top_p"),
                integer(config, "top_k"),
                decimal(config, "min_p"),
                decimal(config, "repetition_penalty"),
                integer(config, "max_new_tokens"));
    }

    private static Double decimal(Map<String, ?> config, String key) {
        Object value = config.get(key);
        if (value == null) {
            return null;
        }
        if (value instanceof Number n) {
            return n.doubleValue();
        }
        throw new IllegalArgumentException("generation config " + key + " must be a number, got " + value);
    }

    private static Integer integer(Map<String, ?> config, String key) {
        Object value = config.get(key);
        if (value == null) {
            return null;
        }
        if (value instanceof Number n && n.doubleValue() == Math.rint(n.doubleValue())
                && Math.abs(n.doubleValue()) <= Integer.MAX_VALUE) {
            return n.intValue();
        }
        throw new IllegalArgumentException("generation config " + key + " must be an integer, got " + value);
    }
}
