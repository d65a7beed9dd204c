package io.loraplex.engine.cli;

import io.loraplex.cluster.node.SamplingLimits;
import io.loraplex.engine.request.RequestParams;
import io.loraplex.engine.request.RequestPreparation;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The sampling flags of commands that generate, read as the engine's {@link RequestParams}: the
 * request preparation checks them by the API's limits and fills what they leave unset from the
 * model's generation_config.json, as it does for the GPU node.
 */
final class SamplingFlags {

    private SamplingFlags() {
    }

    static Flags declare(Flags f) {
        return f.option("temperature", null, "sampling temperature, 0 for greedy, at most " + (int) SamplingLimits.MAX_TEMPERATURE
                        + " (default: the model's, else 1)")
                .option("top-k", null, "keep the K most likely tokens (0: off)")
                .option("top-p", null, "nucleus sampling probability mass")
                .option("min-p", null, "drop tokens below MIN_P times the top probability")
                .option("repetition-penalty", null, "penalty over prompt and output tokens (1: off), at most "
                        + (int) SamplingLimits.MAX_REPETITION_PENALTY)
                .option("presence-penalty", null, "OpenAI presence penalty, -2 to 2")
                .option("frequency-penalty", null, "OpenAI frequency penalty, -2 to 2")
                .repeatable("logit-bias", "TOKEN_ID:BIAS, bias -100 to 100")
                .option("seed", null, "random seed (same seed, same tokens)")
                .option("max-tokens", null, "tokens to generate at most (default: the model's max_new_tokens, else "
                        + RequestPreparation.DEFAULT_MAX_TOKENS + "; never beyond the context)")
                .repeatable("stop", "stop string (at most " + SamplingLimits.MAX_STOP_STRINGS + ")")
                .repeatable("stop-token-id", "token id that stops generation")
                .flag("ignore-eos", "keep generating past end-of-sequence tokens")
                .option("logprobs", null, "print each token's logprob and its N best alternatives (0-"
                        + SamplingLimits.MAX_TOP_LOGPROBS + ") to stderr");
    }

    /** The flags as request parameters; a flag that is no number is a usage error here, a value out of range one later. */
    static RequestParams params(Flags f) {
        Map<Integer, Double> bias = new LinkedHashMap<>();
        for (String spec : f.strings("logit-bias")) {
            String[] parts = spec.split("[:=]");
            try {
                bias.put(Integer.parseInt(parts[0].trim()), Double.parseDouble(parts[1].trim()));
            } catch (RuntimeException e) {
                throw f.bad("--logit-bias must be TOKEN_ID:BIAS, got '" + spec + "'");
            }
        }
        List<Integer> stopTokenIds = new ArrayList<>();
        for (String s : f.strings("stop-token-id")) {
            try {
                stopTokenIds.add(Integer.parseInt(s));
            } catch (NumberFormatException e) {
                throw f.bad("--stop-token-id must be an integer, got '" + s + "'");
            }
        }
        return new RequestParams(
                f.optionalDecimal("temperature"),
                f.optionalInteger("top-k"),
                f.optionalDecimal("top-p"),
                f.optionalDecimal("min-p"),
                f.optionalDecimal("repetition-penalty"),
                f.optionalDecimal("presence-penalty"),
                f.optionalDecimal("frequency-penalty"),
                bias,
                f.has("seed") ? f.longValue("seed") : null,
                f.optionalInteger("max-tokens"),
                f.strings("stop"),
                stopTokenIds,
                f.has("ignore-eos"),
                f.has("logprobs"),
                f.has("logprobs") ? f.integer("logprobs") : 0);
    }
}
