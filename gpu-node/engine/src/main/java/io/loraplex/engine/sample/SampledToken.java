package io.loraplex.engine.sample;

import java.util.List;

/**
 * The token a {@link Sampler} chose.
 *
 * @param token       the chosen token id
 * @param logprob     its log probability under the model's raw distribution (log_softmax of the
 *                    unmodified logits, as vLLM reports by default), whatever transformations chose it
 * @param topLogprobs when {@code logprobs} is on, the {@code top_logprobs} most likely tokens of that
 *                    same distribution, most likely first, ties by lowest id; empty otherwise
 */
public record SampledToken(int token, double logprob, List<TokenLogprob> topLogprobs) {

    public SampledToken {
        if (token < 0) {
            throw new IllegalArgumentException("token must be at least 0, got " + token);
        }
        if (!(logprob <= 0)) {
            throw new IllegalArgumentException("logprob of token " + token + " must be at most 0, got " + logprob);
        }
        topLogprobs = topLogprobs == null ? List.of() : List.copyOf(topLogprobs);
    }
}
