package io.loraplex.engine.request;

import java.util.List;
import java.util.Map;

/**
 * A request's sampling parameters as its caller gave them; null (or empty) means "not given", so the
 * model's generation config, then the engine's defaults apply. {@link RequestPreparation} checks them
 * (through {@link io.loraplex.engine.sample.SamplingParams}, by {@link io.loraplex.cluster.node.SamplingLimits})
 * and turns them into {@code SamplingParams}.
 *
 * @param topLogprobs  alternatives reported per token; only read when {@code logprobs}
 * @param stopTokenIds token ids that end generation (the CLI's; the API has none)
 */
public record RequestParams(
        Double temperature,
        Integer topK,
        Double topP,
        Double minP,
        Double repetitionPenalty,
        Double presencePenalty,
        Double frequencyPenalty,
        Map<Integer, Double> logitBias,
        Long seed,
        Integer maxTokens,
        List<String> stop,
        List<Integer> stopTokenIds,
        boolean ignoreEos,
        boolean logprobs,
        int topLogprobs) {

    public RequestParams {
        // copies that keep nulls inside, so SamplingParams can name a null key or string instead of failing here
        logitBias = logitBias == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(logitBias));
        stop = stop == null ? List.of() : java.util.Collections.unmodifiableList(new java.util.ArrayList<>(stop));
        stopTokenIds = stopTokenIds == null ? List.of()
                : java.util.Collections.unmodifiableList(new java.util.ArrayList<>(stopTokenIds));
    }

    /** Nothing given: the model's and the engine's defaults. */
    public static RequestParams defaults() {
        return new RequestParams(null, null, null, null, null, null, null, Map.of(), null, null, List.of(), List.of(), false, false, 0);
    }
}
