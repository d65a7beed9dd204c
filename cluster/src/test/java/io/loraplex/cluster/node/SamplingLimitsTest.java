package io.loraplex.cluster.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.node.SamplingLimits.Violation;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Each sampling limit, its edges accepted and the first value beyond refused, naming the parameter. */
class SamplingLimitsTest {

    private static void refused(Optional<Violation> v, String param, String message) {
        assertTrue(v.isPresent(), "refused: " + message);
        assertEquals(param, v.get().param());
        assertEquals(message, v.get().message());
    }

    @Test
    void theEdgesOfEveryRangeAreAccepted() {
        assertTrue(SamplingLimits.temperature(0).isEmpty());
        assertTrue(SamplingLimits.temperature(SamplingLimits.MAX_TEMPERATURE).isEmpty());
        assertTrue(SamplingLimits.topK(-1).isEmpty());
        assertTrue(SamplingLimits.topK(Integer.MAX_VALUE).isEmpty());
        assertTrue(SamplingLimits.topP(1e-9).isEmpty());
        assertTrue(SamplingLimits.topP(1).isEmpty());
        assertTrue(SamplingLimits.minP(0).isEmpty());
        assertTrue(SamplingLimits.minP(1).isEmpty());
        assertTrue(SamplingLimits.repetitionPenalty(1e-300).isEmpty());
        assertTrue(SamplingLimits.repetitionPenalty(100).isEmpty());
        assertTrue(SamplingLimits.presencePenalty(-2).isEmpty());
        assertTrue(SamplingLimits.frequencyPenalty(2).isEmpty());
        assertTrue(SamplingLimits.logitBias(Map.of(0, -100.0, 7, 100.0)).isEmpty());
        assertTrue(SamplingLimits.maxTokens(1).isEmpty());
        assertTrue(SamplingLimits.stop(Collections.nCopies(16, "x")).isEmpty());
        assertTrue(SamplingLimits.stopTokenIds(List.of(0, 5)).isEmpty());
        assertTrue(SamplingLimits.topLogprobs(20, true).isEmpty());
        assertTrue(SamplingLimits.topLogprobs(0, false).isEmpty());
    }

    @Test
    void aValueBeyondItsLimitIsRefusedNamingTheParameterTheRangeAndTheValue() {
        refused(SamplingLimits.temperature(2.01), "temperature", "temperature must be between 0 and 2 (0 = greedy), got 2.01");
        refused(SamplingLimits.temperature(Double.NaN), "temperature", "temperature must be between 0 and 2 (0 = greedy), got NaN");
        refused(SamplingLimits.topK(-2), "top_k", "top_k must be 0 or -1 (off) or at least 1, got -2");
        refused(SamplingLimits.topP(0), "top_p", "top_p must be greater than 0 and at most 1, got 0.0");
        refused(SamplingLimits.topP(Double.NaN), "top_p", "top_p must be greater than 0 and at most 1, got NaN");
        refused(SamplingLimits.minP(-0.1), "min_p", "min_p must be between 0 and 1, got -0.1");
        refused(SamplingLimits.repetitionPenalty(0), "repetition_penalty",
                "repetition_penalty must be greater than 0 and at most 100 (1 = off), got 0.0");
        refused(SamplingLimits.presencePenalty(2.5), "presence_penalty", "presence_penalty must be between -2 and 2, got 2.5");
        refused(SamplingLimits.frequencyPenalty(-2.5), "frequency_penalty", "frequency_penalty must be between -2 and 2, got -2.5");
        refused(SamplingLimits.logitBias(Map.of(3, 100.5)), "logit_bias.3", "logit_bias for token 3 must be between -100 and 100, got 100.5");
        refused(SamplingLimits.logitBias(Collections.singletonMap(-4, 1.0)), "logit_bias",
                "logit_bias keys must be token ids of at least 0, got -4");
        refused(SamplingLimits.maxTokens(0), "max_tokens", "max_tokens must be at least 1, got 0");
        refused(SamplingLimits.stop(Collections.nCopies(17, "x")), "stop", "stop may hold at most 16 strings, got 17");
        refused(SamplingLimits.stop(Arrays.asList("a", null)), "stop[1]", "stop[1] must be a non-empty string, got null");
        refused(SamplingLimits.stopTokenIds(List.of(-1)), "stop_token_ids", "stop_token_ids must hold token ids of at least 0, got -1");
        refused(SamplingLimits.topLogprobs(21, true), "top_logprobs", "top_logprobs must be between 0 and 20, got 21");
        refused(SamplingLimits.topLogprobs(2, false), "top_logprobs",
                "top_logprobs requires logprobs to be true, got top_logprobs 2 with logprobs false");
    }
}
