package io.loraplex.engine.cli;

import io.loraplex.engine.sample.GenerationDefaults;
import io.loraplex.engine.sample.SamplingParams;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The sampling flags of commands that generate, over the model's defaults from generation_config.json. */
final class SamplingFlags {

    /** When neither the flags nor the model say how long to generate. */
    static final int DEFAULT_MAX_TOKENS = 256;

    private SamplingFlags() {
    }

    static Flags declare(Flags f) {
        return f.option("temperature", null, "sampling temperature, 0 for greedy (default: the model's, else 1)")
                .option("top-k", null, "keep the K most likely tokens (0: off)")
                .option("top-p", null, "nucleus sampling probability mass")
                .option("min-p", null, "drop tokens below MIN_P times the top probability")
                .option("repetition-penalty", null, "penalty over prompt and output tokens (1: off)")
                .option("presence-penalty", null, "OpenAI presence penalty, -2 to 2")
                .option("frequency-penalty", null, "OpenAI frequency penalty, -2 to 2")
                .repeatable("logit-bias", "TOKEN_ID:BIAS, bias -100 to 100")
                .option("seed", null, "random seed (same seed, same tokens)")
                .option("max-tokens", null, "tokens to generate at most (default: the model's max_new_tokens, else "
                        + DEFAULT_MAX_TOKENS + ")")
                .repeatable("stop", "stop string")
                .repeatable("stop-token-id", "token id that stops generation")
                .flag("ignore-eos", "keep generating past end-of-sequence tokens")
                .option("logprobs", null, "print each token's logprob and its N best alternatives (0-20) to stderr");
    }

    static SamplingParams params(Flags f, GenerationDefaults defaults) {
        SamplingParams.Builder b = SamplingParams.builder();
        try {
            if (f.has("temperature")) {
                b.temperature(f.decimal("temperature"));
            }
            if (f.has("top-k")) {
                b.topK(f.integer("top-k"));
            }
            if (f.has("top-p")) {
                b.topP(f.decimal("top-p"));
            }
            if (f.has("min-p")) {
                b.minP(f.decimal("min-p"));
            }
            if (f.has("repetition-penalty")) {
                b.repetitionPenalty(f.decimal("repetition-penalty"));
            }
            if (f.has("presence-penalty")) {
                b.presencePenalty(f.decimal("presence-penalty"));
            }
            if (f.has("frequency-penalty")) {
                b.frequencyPenalty(f.decimal("frequency-penalty"));
            }
            if (!f.strings("logit-bias").isEmpty()) {
                Map<Integer, Double> bias = new LinkedHashMap<>();
                for (String spec : f.strings("logit-bias")) {
                    String[] parts = spec.split("[:=]");
                    try {
                        bias.put(Integer.parseInt(parts[0].trim()), Double.parseDouble(parts[1].trim()));
                    } catch (RuntimeException e) {
                        throw f.bad("--logit-bias must be TOKEN_ID:BIAS, got '" + spec + "'");
                    }
                }
                b.logitBias(bias);
            }
            if (f.has("seed")) {
                b.seed(f.longValue("seed"));
            }
            if (f.has("max-tokens")) {
                b.maxTokens(f.integer("max-tokens"));
            }
            if (!f.strings("stop").isEmpty()) {
                b.stop(f.strings("stop"));
            }
            if (!f.strings("stop-token-id").isEmpty()) {
                List<Integer> ids = new ArrayList<>();
                for (String s : f.strings("stop-token-id")) {
                    try {
                        ids.add(Integer.parseInt(s));
                    } catch (NumberFormatException e) {
                        throw f.bad("--stop-token-id must be an integer, got '" + s + "'");
                    }
                }
                b.stopTokenIds(ids);
            }
            if (f.has("ignore-eos")) {
                b.ignoreEos(true);
            }
            if (f.has("logprobs")) {
                b.logprobs(true).topLogprobs(f.integer("logprobs"));
            }
            if (defaults.maxNewTokens() == null && !f.has("max-tokens")) {
                b.maxTokens(DEFAULT_MAX_TOKENS);
            }
            return b.build().withDefaults(defaults);
        } catch (IllegalArgumentException e) {
            throw f.bad(e.getMessage());
        }
    }
}
