package io.loraplex.engine.sample;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.sample.SamplingParams.Field;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SamplingParamsTest {

    @Test
    void defaultsChangeNothing() {
        SamplingParams p = SamplingParams.defaults();
        assertEquals(1.0, p.temperature());
        assertEquals(0, p.topK());
        assertEquals(1.0, p.topP());
        assertEquals(0.0, p.minP());
        assertEquals(1.0, p.repetitionPenalty());
        assertEquals(0.0, p.presencePenalty());
        assertEquals(0.0, p.frequencyPenalty());
        assertEquals(Map.of(), p.logitBias());
        assertNull(p.seed());
        assertEquals(SamplingParams.UNLIMITED, p.maxTokens());
        assertEquals(List.of(), p.stop());
        assertEquals(Set.of(), p.stopTokenIds());
        assertFalse(p.ignoreEos());
        assertFalse(p.logprobs());
        assertEquals(0, p.topLogprobs());
        assertEquals(Set.of(), p.explicitFields());
    }

    @Test
    void builderRecordsWhatWasSet() {
        SamplingParams p = SamplingParams.builder().temperature(1.0).maxTokens(5).stop(List.of("x")).build();
        assertEquals(EnumSet.of(Field.TEMPERATURE, Field.MAX_TOKENS, Field.STOP), p.explicitFields());
        assertTrue(p.isSet(Field.TEMPERATURE), "set to its default value is still set");
        assertFalse(p.isSet(Field.TOP_P));
        assertEquals(p, p.toBuilder().build());
    }

    @Test
    void vllmTopKMinusOneMeansOff() {
        assertEquals(0, SamplingParams.builder().topK(-1).build().topK());
    }

    @Test
    void collectionsAreCopiedAndImmutable() {
        Map<Integer, Double> bias = new HashMap<>(Map.of(1, 2.0));
        SamplingParams p = SamplingParams.builder().logitBias(bias).stop(Arrays.asList("a", "b")).build();
        bias.put(2, 3.0);
        assertEquals(Map.of(1, 2.0), p.logitBias());
        assertThrows(UnsupportedOperationException.class, () -> p.stop().add("c"));
        assertThrows(UnsupportedOperationException.class, () -> p.explicitFields().add(Field.SEED));
    }

    @Test
    void nullCollectionsMeanEmpty() {
        SamplingParams p = SamplingParams.builder().logitBias(null).stop(null).stopTokenIds(null).build();
        assertEquals(Map.of(), p.logitBias());
        assertEquals(List.of(), p.stop());
        assertEquals(Set.of(), p.stopTokenIds());
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("invalid")
    void refusesOutOfRangeFieldsNamingThemAndTheRange(UnaryOperator<SamplingParams.Builder> change, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> change.apply(SamplingParams.builder()).build());
        assertEquals(message, e.getMessage());
    }

    static Stream<Arguments> invalid() {
        return Stream.of(
                bad(b -> b.temperature(-0.1), "temperature must be between 0 and 2 (0 = greedy), got -0.1"),
                bad(b -> b.temperature(2.5), "temperature must be between 0 and 2 (0 = greedy), got 2.5"),
                bad(b -> b.temperature(100.5), "temperature must be between 0 and 2 (0 = greedy), got 100.5"),
                bad(b -> b.temperature(Double.NaN), "temperature must be between 0 and 2 (0 = greedy), got NaN"),
                bad(b -> b.topK(-2), "top_k must be 0 or -1 (off) or at least 1, got -2"),
                bad(b -> b.topP(0), "top_p must be greater than 0 and at most 1, got 0.0"),
                bad(b -> b.topP(1.01), "top_p must be greater than 0 and at most 1, got 1.01"),
                bad(b -> b.minP(-0.5), "min_p must be between 0 and 1, got -0.5"),
                bad(b -> b.minP(1.5), "min_p must be between 0 and 1, got 1.5"),
                bad(b -> b.repetitionPenalty(0),
                        "repetition_penalty must be greater than 0 and at most 100 (1 = off), got 0.0"),
                bad(b -> b.repetitionPenalty(100.5),
                        "repetition_penalty must be greater than 0 and at most 100 (1 = off), got 100.5"),
                bad(b -> b.repetitionPenalty(Double.POSITIVE_INFINITY),
                        "repetition_penalty must be greater than 0 and at most 100 (1 = off), got Infinity"),
                bad(b -> b.presencePenalty(2.5), "presence_penalty must be between -2 and 2, got 2.5"),
                bad(b -> b.presencePenalty(-2.01), "presence_penalty must be between -2 and 2, got -2.01"),
                bad(b -> b.frequencyPenalty(-3), "frequency_penalty must be between -2 and 2, got -3.0"),
                bad(b -> b.frequencyPenalty(Double.NaN), "frequency_penalty must be between -2 and 2, got NaN"),
                bad(b -> b.logitBias(Map.of(5, 100.5)), "logit_bias for token 5 must be between -100 and 100, got 100.5"),
                bad(b -> b.logitBias(Map.of(5, -101.0)),
                        "logit_bias for token 5 must be between -100 and 100, got -101.0"),
                bad(b -> b.logitBias(Map.of(-1, 1.0)), "logit_bias keys must be token ids of at least 0, got -1"),
                bad(b -> b.logitBias(Collections.singletonMap(4, null)),
                        "logit_bias for token 4 must be between -100 and 100, got null"),
                bad(b -> b.maxTokens(0), "max_tokens must be at least 1, got 0"),
                bad(b -> b.stop(Collections.nCopies(17, "x")), "stop may hold at most 16 strings, got 17"),
                bad(b -> b.stop(List.of("ok", "")), "stop[1] must be a non-empty string, got \"\""),
                bad(b -> b.stop(Arrays.asList("ok", null)), "stop[1] must be a non-empty string, got null"),
                bad(b -> b.stopTokenIds(List.of(3, -7)), "stop_token_ids must hold token ids of at least 0, got -7"),
                bad(b -> b.logprobs(true).topLogprobs(21), "top_logprobs must be between 0 and 20, got 21"),
                bad(b -> b.logprobs(true).topLogprobs(-1), "top_logprobs must be between 0 and 20, got -1"),
                bad(b -> b.topLogprobs(3),
                        "top_logprobs requires logprobs to be true, got top_logprobs 3 with logprobs false"));
    }

    private static Arguments bad(UnaryOperator<SamplingParams.Builder> change, String message) {
        return Arguments.of(change, message);
    }

    @Test
    void acceptsTheEdgesOfEachRange() {
        SamplingParams.builder().temperature(0).topK(1).topP(1e-9).minP(0).repetitionPenalty(1e-3)
                .presencePenalty(-2).frequencyPenalty(2).logitBias(Map.of(0, -100.0, 1, 100.0)).maxTokens(1)
                .stop(Collections.nCopies(16, "x")).logprobs(true).topLogprobs(20).build();
        SamplingParams.builder().temperature(2).repetitionPenalty(100).topP(1).minP(1).presencePenalty(2).frequencyPenalty(-2)
                .logprobs(true).topLogprobs(0).build();
    }

    @Test
    void withDefaultsFillsOnlyWhatTheCallerLeftUnset() {
        GenerationDefaults model = new GenerationDefaults(0.6, 0.9, 20, 0.05, 1.1, 512);
        SamplingParams asked = SamplingParams.builder()
                .temperature(0.7)
                .topP(1.0) // the default value, but chosen: the model's 0.9 must not replace it
                .build();

        SamplingParams p = asked.withDefaults(model);
        assertEquals(0.7, p.temperature());
        assertEquals(1.0, p.topP());
        assertEquals(20, p.topK());
        assertEquals(0.05, p.minP());
        assertEquals(1.1, p.repetitionPenalty());
        assertEquals(512, p.maxTokens());
        assertEquals(asked.explicitFields(), p.explicitFields(), "model defaults are not the caller's choices");
    }

    @Test
    void withDefaultsLeavesFieldsTheModelDoesNotMention() {
        SamplingParams asked = SamplingParams.builder().seed(3L).build();
        assertEquals(asked, asked.withDefaults(GenerationDefaults.NONE));
        SamplingParams onlyTemperature = asked.withDefaults(new GenerationDefaults(0.2, null, null, null, null, null));
        assertEquals(0.2, onlyTemperature.temperature());
        assertEquals(SamplingParams.UNLIMITED, onlyTemperature.maxTokens());
    }

    @Test
    void aRefusalCarriesTheParameterByItsApiNameWithTheKeyOrIndexAtFault() {
        assertEquals("top_p", assertThrows(SamplingParamException.class,
                () -> SamplingParams.builder().topP(2).build()).param());
        assertEquals("logit_bias.5", assertThrows(SamplingParamException.class,
                () -> SamplingParams.builder().logitBias(Map.of(5, 101.0)).build()).param());
        assertEquals("stop[1]", assertThrows(SamplingParamException.class,
                () -> SamplingParams.builder().stop(List.of("ok", "")).build()).param());
    }

    @Test
    void withDefaultsValidatesWhatTheModelSays() {
        GenerationDefaults broken = new GenerationDefaults(null, 1.5, null, null, null, null);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SamplingParams.defaults().withDefaults(broken));
        assertEquals("top_p must be greater than 0 and at most 1, got 1.5", e.getMessage());
    }

    @Test
    void readsAGenerationConfig() {
        Map<String, Object> config = Map.of(
                "temperature", 0.6, "top_p", 0.95, "top_k", 20, "repetition_penalty", 1.05,
                "do_sample", true, "eos_token_id", List.of(151645, 151643), "bos_token_id", 151643);
        assertEquals(new GenerationDefaults(0.6, 0.95, 20, null, 1.05, null),
                GenerationDefaults.fromGenerationConfig(config));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> GenerationDefaults.fromGenerationConfig(Map.of("top_k", 2.5)));
        assertEquals("generation config top_k must be an integer, got 2.5", e.getMessage());
    }
}
