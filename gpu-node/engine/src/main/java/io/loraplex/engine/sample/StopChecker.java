package io.loraplex.engine.sample;

import java.util.Collection;
import java.util.Objects;
import java.util.Set;

/**
 * Decides, token by token, whether a request has finished: an eos token of the model (unless
 * {@code ignore_eos}), a token of {@code stop_token_ids}, or {@code max_tokens} reached. Stop
 * strings work on text, not tokens: see {@link StopStringMatcher}.
 *
 * <p>When one token both stops and reaches the limit, STOP wins, as in HF and vLLM's V0: the model
 * did end on its own. The token that stops generation is not part of the output text (OpenAI);
 * the token that reaches the limit is.
 */
public final class StopChecker {

    private final Set<Integer> eosTokenIds;
    private final Set<Integer> stopTokenIds;
    private final int maxTokens;

    /**
     * @param eosTokenIds the model's end-of-sequence token ids (from its generation config; often
     *                    more than one, e.g. Llama 3's {@code <|eot_id|>} and {@code <|end_of_text|>})
     */
    public StopChecker(SamplingParams params, Collection<Integer> eosTokenIds) {
        Objects.requireNonNull(params, "params");
        Objects.requireNonNull(eosTokenIds, "eosTokenIds");
        this.eosTokenIds = params.ignoreEos() ? Set.of() : Set.copyOf(eosTokenIds);
        this.stopTokenIds = params.stopTokenIds();
        this.maxTokens = params.maxTokens();
    }

    /**
     * @param token          the token just generated
     * @param generatedCount how many tokens have been generated, this one included
     * @return null to go on, or why the request finished
     */
    public Finish check(int token, int generatedCount) {
        if (generatedCount < 1) {
            throw new IllegalArgumentException(
                    "generatedCount counts the token just generated and must be at least 1, got " + generatedCount);
        }
        if (eosTokenIds.contains(token)) {
            return Finish.eos();
        }
        if (stopTokenIds.contains(token)) {
            return Finish.stopToken(token);
        }
        if (generatedCount >= maxTokens) {
            return Finish.length();
        }
        return null;
    }
}
