package io.loraplex.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.loraplex.cluster.node.GpuNodeProtocol.GenerationParams;
import io.loraplex.cluster.node.GpuNodeProtocol.OutputConstraint;
import io.loraplex.cluster.node.SamplingLimits;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The sampling fields chat and completions share, validated. Null means "not given": the node
 * applies the base model's generation config, then its own defaults.
 *
 * @param maxTokensParam the field max_tokens came from (max_tokens or max_completion_tokens), for errors
 * @param constraint     what {@code response_format} asks the output to be; null: free text
 */
public record Sampling(
        Double temperature,
        Double topP,
        Integer topK,
        Double minP,
        Double repetitionPenalty,
        Double presencePenalty,
        Double frequencyPenalty,
        Map<Integer, Double> logitBias,
        Long seed,
        Integer maxTokens,
        String maxTokensParam,
        List<String> stop,
        boolean ignoreEos,
        OutputConstraint constraint) {

    /** The fields {@link #parse} reads; both endpoints accept them. */
    static final Set<String> FIELDS = Set.of("temperature", "top_p", "top_k", "min_p", "repetition_penalty", "presence_penalty",
            "frequency_penalty", "logit_bias", "seed", "stop", "ignore_eos", "max_tokens", ResponseFormat.FIELD);

    public Sampling {
        logitBias = logitBias == null ? Map.of() : Map.copyOf(logitBias);
        stop = stop == null ? List.of() : List.copyOf(stop);
    }

    /** The most negative logit bias, as the messages print it. */
    private static final int BIAS = -(int) SamplingLimits.MAX_ABS_LOGIT_BIAS;

    /** The fields, each within its {@link SamplingLimits} range (the engine checks by the same numbers). */
    static Sampling parse(Fields f, Integer maxTokens, String maxTokensParam) {
        Integer topK = f.integer32("top_k", SamplingLimits.MIN_TOP_K, Integer.MAX_VALUE);
        return new Sampling(
                f.number("temperature", SamplingLimits.MIN_TEMPERATURE, SamplingLimits.MAX_TEMPERATURE),
                f.numberAbove("top_p", 0, SamplingLimits.MAX_TOP_P),
                topK == null || topK <= 0 ? null : topK, // vLLM: -1 and 0 turn top-k off
                f.number("min_p", 0, SamplingLimits.MAX_MIN_P),
                f.numberAbove("repetition_penalty", 0, SamplingLimits.MAX_REPETITION_PENALTY),
                f.number("presence_penalty", -SamplingLimits.MAX_ABS_PENALTY, SamplingLimits.MAX_ABS_PENALTY),
                f.number("frequency_penalty", -SamplingLimits.MAX_ABS_PENALTY, SamplingLimits.MAX_ABS_PENALTY),
                logitBias(f),
                f.integer("seed", Long.MIN_VALUE, Long.MAX_VALUE),
                maxTokens,
                maxTokensParam,
                stop(f),
                f.bool("ignore_eos", false),
                ResponseFormat.parse(f));
    }

    private static Map<Integer, Double> logitBias(Fields f) {
        JsonNode v = f.get("logit_bias");
        if (v == null) {
            return Map.of();
        }
        if (!v.isObject()) {
            throw ApiError.wrongType("logit_bias", "an object mapping token ids to numbers from " + BIAS + " to "
                    + (int) SamplingLimits.MAX_ABS_LOGIT_BIAS).toException();
        }
        Map<Integer, Double> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : v.properties()) {
            String param = "logit_bias." + e.getKey();
            int token;
            try {
                token = Integer.parseInt(e.getKey());
            } catch (NumberFormatException ex) {
                throw ApiError.invalid("logit_bias", "'logit_bias' keys must be token ids (integers as strings), got '"
                        + e.getKey() + "'").toException();
            }
            if (token < 0) {
                throw ApiError.invalid("logit_bias", "'logit_bias' token ids must not be negative, got " + token).toException();
            }
            JsonNode bias = e.getValue();
            if (!bias.isNumber()) {
                throw ApiError.wrongType(param, "a number").toException();
            }
            double b = bias.doubleValue();
            if (!(b >= -SamplingLimits.MAX_ABS_LOGIT_BIAS && b <= SamplingLimits.MAX_ABS_LOGIT_BIAS)) {
                throw ApiError.invalid(param, "'" + param + "' must be between " + BIAS + " and "
                        + (int) SamplingLimits.MAX_ABS_LOGIT_BIAS + ", got " + bias.asText()).toException();
            }
            out.put(token, b);
        }
        return out;
    }

    private static List<String> stop(Fields f) {
        int max = SamplingLimits.MAX_STOP_STRINGS;
        JsonNode v = f.get("stop");
        if (v == null) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        if (v.isTextual()) {
            out.add(v.textValue());
        } else if (v.isArray()) {
            for (int i = 0; i < v.size(); i++) {
                JsonNode s = v.get(i);
                if (!s.isTextual()) {
                    throw ApiError.wrongType("stop[" + i + "]", "a string").toException();
                }
                out.add(s.textValue());
            }
        } else {
            throw ApiError.wrongType("stop", "a string or an array of strings").toException();
        }
        if (out.size() > max) {
            throw ApiError.invalid("stop", "'stop' may hold at most " + max + " sequences, got " + out.size()).toException();
        }
        for (int i = 0; i < out.size(); i++) {
            if (out.get(i).isEmpty()) {
                throw ApiError.invalid(v.isArray() ? "stop[" + i + "]" : "stop", "stop sequences must not be empty").toException();
            }
        }
        return out;
    }

    /**
     * The node's parameters for choice {@code choice} of {@code n}: seeds {@code seed + choice}, so
     * choices differ yet the request stays reproducible. {@code maxTokens}: as the router settled it
     * (the tenant's cap, the endpoint's default).
     */
    GenerationParams params(int choice, Integer maxTokens, boolean logprobs, int topLogprobs, long deadlineEpochMillis,
            double weight) {
        return new GenerationParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty,
                logitBias, seed == null ? null : seed + choice, maxTokens, stop, ignoreEos, logprobs, topLogprobs, 0,
                deadlineEpochMillis, weight, constraint);
    }
}
