package io.loraplex.cluster.node;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The range of every sampling parameter, defined once. The router's request parsing refuses a value
 * outside it in its own OpenAI-style words (and JSON types); the engine's {@code SamplingParams}, which
 * every request preparation (the GPU node's and the CLI's) goes through, refuses it with the
 * {@link Violation} a check below returns. The values are OpenAI's where OpenAI documents one
 * (temperature 0..2, penalties -2..2, logit bias -100..100, top_logprobs 0..20), vLLM's otherwise.
 *
 * <p>Plain Java, no Pekko: the engine uses it too. Each check is written as
 * {@code !(lo <= x && x <= hi)} so that NaN is refused.
 */
public final class SamplingLimits {

    /** 0 is greedy (argmax). */
    public static final double MIN_TEMPERATURE = 0;
    public static final double MAX_TEMPERATURE = 2;
    /** The smallest {@code top_k}: -1 (vLLM's "off") and 0 turn top-k off; 1 and above keep that many tokens. */
    public static final int MIN_TOP_K = -1;
    /** {@code top_p} lies in (0, MAX_TOP_P]; 1 is off. */
    public static final double MAX_TOP_P = 1;
    /** {@code min_p} lies in [0, MAX_MIN_P]; 0 is off. */
    public static final double MAX_MIN_P = 1;
    /** {@code repetition_penalty} lies in (0, MAX_REPETITION_PENALTY]; 1 is off. */
    public static final double MAX_REPETITION_PENALTY = 100;
    /** {@code presence_penalty} and {@code frequency_penalty} lie in [-MAX_ABS_PENALTY, MAX_ABS_PENALTY]. */
    public static final double MAX_ABS_PENALTY = 2;
    /** Each {@code logit_bias} value lies in [-MAX_ABS_LOGIT_BIAS, MAX_ABS_LOGIT_BIAS]; keys are token ids (at least 0). */
    public static final double MAX_ABS_LOGIT_BIAS = 100;
    /** At most this many {@code stop} strings, each non-empty. */
    public static final int MAX_STOP_STRINGS = 16;
    /** {@code top_logprobs} (and the completions endpoint's {@code logprobs}) lies in [0, MAX_TOP_LOGPROBS]. */
    public static final int MAX_TOP_LOGPROBS = 20;
    /** The fewest tokens a request may ask for; the most is what the model's context leaves. */
    public static final int MIN_MAX_TOKENS = 1;

    private SamplingLimits() {
    }

    /**
     * A value outside its limit.
     *
     * @param param   the parameter by its API name, with the key or index at fault ({@code logit_bias.42}, {@code stop[1]})
     * @param message what was wrong, naming the parameter, the range and the value
     */
    public record Violation(String param, String message) {
    }

    public static Optional<Violation> temperature(double temperature) {
        return within(temperature, MIN_TEMPERATURE, MAX_TEMPERATURE) ? ok()
                : bad("temperature", "temperature must be between " + fmt(MIN_TEMPERATURE) + " and " + fmt(MAX_TEMPERATURE)
                        + " (0 = greedy), got " + temperature);
    }

    public static Optional<Violation> topK(int topK) {
        return topK >= MIN_TOP_K ? ok() : bad("top_k", "top_k must be 0 or -1 (off) or at least 1, got " + topK);
    }

    public static Optional<Violation> topP(double topP) {
        return topP > 0 && topP <= MAX_TOP_P ? ok()
                : bad("top_p", "top_p must be greater than 0 and at most " + fmt(MAX_TOP_P) + ", got " + topP);
    }

    public static Optional<Violation> minP(double minP) {
        return within(minP, 0, MAX_MIN_P) ? ok() : bad("min_p", "min_p must be between 0 and " + fmt(MAX_MIN_P) + ", got " + minP);
    }

    public static Optional<Violation> repetitionPenalty(double penalty) {
        return penalty > 0 && penalty <= MAX_REPETITION_PENALTY ? ok()
                : bad("repetition_penalty", "repetition_penalty must be greater than 0 and at most " + fmt(MAX_REPETITION_PENALTY)
                        + " (1 = off), got " + penalty);
    }

    public static Optional<Violation> presencePenalty(double penalty) {
        return penalty("presence_penalty", penalty);
    }

    public static Optional<Violation> frequencyPenalty(double penalty) {
        return penalty("frequency_penalty", penalty);
    }

    /** Keys are token ids of at least 0 (the vocabulary's bound is the engine's to check); values within ±MAX_ABS_LOGIT_BIAS. */
    public static Optional<Violation> logitBias(Map<Integer, Double> logitBias) {
        for (Map.Entry<Integer, Double> e : logitBias.entrySet()) {
            Integer token = e.getKey();
            Double bias = e.getValue();
            if (token == null || token < 0) {
                return bad("logit_bias", "logit_bias keys must be token ids of at least 0, got " + token);
            }
            if (bias == null || !within(bias, -MAX_ABS_LOGIT_BIAS, MAX_ABS_LOGIT_BIAS)) {
                return bad("logit_bias." + token, "logit_bias for token " + token + " must be between " + fmt(-MAX_ABS_LOGIT_BIAS)
                        + " and " + fmt(MAX_ABS_LOGIT_BIAS) + ", got " + bias);
            }
        }
        return ok();
    }

    public static Optional<Violation> maxTokens(long maxTokens) {
        return maxTokens >= MIN_MAX_TOKENS ? ok() : bad("max_tokens", "max_tokens must be at least " + MIN_MAX_TOKENS + ", got " + maxTokens);
    }

    public static Optional<Violation> stop(List<String> stop) {
        if (stop.size() > MAX_STOP_STRINGS) {
            return bad("stop", "stop may hold at most " + MAX_STOP_STRINGS + " strings, got " + stop.size());
        }
        for (int i = 0; i < stop.size(); i++) {
            if (stop.get(i) == null || stop.get(i).isEmpty()) {
                return bad("stop[" + i + "]", "stop[" + i + "] must be a non-empty string, got " + (stop.get(i) == null ? "null" : "\"\""));
            }
        }
        return ok();
    }

    /** Token ids that end generation (the CLI's; the API has none): at least 0. */
    public static Optional<Violation> stopTokenIds(Collection<Integer> tokens) {
        for (Integer token : tokens) {
            if (token == null || token < 0) {
                return bad("stop_token_ids", "stop_token_ids must hold token ids of at least 0, got " + token);
            }
        }
        return ok();
    }

    /** How many alternatives to report per token; any at all needs {@code logprobs}. */
    public static Optional<Violation> topLogprobs(int topLogprobs, boolean logprobs) {
        if (topLogprobs < 0 || topLogprobs > MAX_TOP_LOGPROBS) {
            return bad("top_logprobs", "top_logprobs must be between 0 and " + MAX_TOP_LOGPROBS + ", got " + topLogprobs);
        }
        if (topLogprobs > 0 && !logprobs) {
            return bad("top_logprobs", "top_logprobs requires logprobs to be true, got top_logprobs " + topLogprobs
                    + " with logprobs false");
        }
        return ok();
    }

    private static Optional<Violation> penalty(String name, double value) {
        return within(value, -MAX_ABS_PENALTY, MAX_ABS_PENALTY) ? ok()
                : bad(name, name + " must be between " + fmt(-MAX_ABS_PENALTY) + " and " + fmt(MAX_ABS_PENALTY) + ", got " + value);
    }

    private static boolean within(double value, double min, double max) {
        return value >= min && value <= max;
    }

    private static Optional<Violation> ok() {
        return Optional.empty();
    }

    private static Optional<Violation> bad(String param, String message) {
        return Optional.of(new Violation(param, message));
    }

    /** 2 rather than 2.0, as the messages have always read. */
    private static String fmt(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }
}
