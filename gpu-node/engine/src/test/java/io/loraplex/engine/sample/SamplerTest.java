package io.loraplex.engine.sample;

import static io.loraplex.engine.sample.ReferenceSampling.gaussianLogits;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Greedy, seeds, bans and forcing, logprobs, and what the sampler refuses. */
class SamplerTest {

    private static final int V = 500;

    private static List<Integer> run(SamplingParams params, int vocabSize, int steps) {
        Sampler sampler = new Sampler(params, vocabSize);
        List<Integer> tokens = new ArrayList<>();
        for (int s = 0; s < steps; s++) {
            tokens.add(sampler.next(gaussianLogits(s, vocabSize, 1.0), 0).token());
        }
        return tokens;
    }

    @Test
    void greedyTakesTheArgmax() {
        Sampler sampler = new Sampler(SamplingParams.builder().temperature(0).build(), V);
        for (int s = 0; s < 20; s++) {
            float[] logits = gaussianLogits(s, V, 3.0);
            int argmax = 0;
            for (int i = 1; i < V; i++) {
                argmax = logits[i] > logits[argmax] ? i : argmax;
            }
            assertEquals(argmax, sampler.next(logits, 0).token(), "step " + s);
        }
    }

    @Test
    void greedyBreaksTiesToTheLowestId() {
        Sampler sampler = new Sampler(SamplingParams.builder().temperature(0).build(), 6);
        assertEquals(2, sampler.next(new float[] {1, 0, 3, -1, 3, 3}, 0).token());
        assertEquals(0, sampler.next(new float[] {0, 0, 0, 0, 0, 0}, 0).token());
    }

    @Test
    void greedyAppliesBiasAndPenaltiesFirst() {
        SamplingParams params = SamplingParams.builder()
                .temperature(0).logitBias(Map.of(1, 2.5)).presencePenalty(2.0).build();
        Sampler sampler = new Sampler(params, 3);
        float[] logits = {2, 0, 1};
        assertEquals(1, sampler.next(logits, 0).token(), "0 + bias 2.5 beats 2");
        assertEquals(0, sampler.next(logits, 0).token(), "2.5 - presence 2 loses to 2");
    }

    @Test
    void readsTheWindowAtTheOffsetAndNeverWritesIt() {
        SamplingParams params = SamplingParams.builder()
                .temperature(0.8).topK(50).topP(0.9).minP(0.01).repetitionPenalty(1.3).frequencyPenalty(0.5)
                .presencePenalty(0.5).logitBias(Map.of(0, 3.0)).logprobs(true).topLogprobs(5).seed(1L).build();
        Sampler sampler = new Sampler(params, V);
        sampler.observePrompt(new int[] {0, 1, 2});
        float[] batch = new float[3 * V]; // rows of a (B, V) logits matrix; this request is row 1
        for (int row = 0; row < 3; row++) {
            System.arraycopy(gaussianLogits(row, V, 2.0), 0, batch, row * V, V);
        }
        float[] before = batch.clone();
        for (int s = 0; s < 10; s++) {
            SampledToken t = sampler.next(batch, V);
            assertTrue(t.token() >= 0 && t.token() < V);
        }
        assertArrayEquals(before, batch);

        Sampler greedy = new Sampler(SamplingParams.builder().temperature(0).build(), V);
        float[] row1 = Arrays.copyOfRange(batch, V, 2 * V);
        assertEquals(greedy.next(row1, 0).token(), greedy.next(batch, V).token());
    }

    @Test
    void sameSeedSameTokens() {
        SamplingParams params = SamplingParams.builder().temperature(1.2).topP(0.95).seed(42L).build();
        assertEquals(run(params, V, 100), run(params, V, 100));
    }

    @Test
    void differentSeedsDiffer() {
        List<Integer> a = run(SamplingParams.builder().seed(1L).build(), V, 100);
        List<Integer> b = run(SamplingParams.builder().seed(2L).build(), V, 100);
        assertNotEquals(a, b);
    }

    @Test
    void noSeedDrawsARandomOne() {
        SamplingParams params = SamplingParams.builder().build();
        assertNotEquals(run(params, V, 100), run(params, V, 100));
    }

    @Test
    void topKOneEqualsGreedy() {
        SamplingParams.Builder common = SamplingParams.builder()
                .repetitionPenalty(1.5).frequencyPenalty(0.4).logitBias(Map.of(3, 1.0));
        SamplingParams greedy = common.temperature(0).build();
        SamplingParams topOne = common.temperature(1.5).topK(1).topP(0.5).seed(99L).build();
        assertEquals(run(greedy, V, 60), run(topOne, V, 60));
    }

    @Test
    void biasMinus100BansAToken() {
        int banned = 7;
        // Token 7 is the favourite of the raw logits; T = 2 halves the bias, still a ban.
        SamplingParams params = SamplingParams.builder().temperature(2).logitBias(Map.of(banned, -100.0)).seed(5L)
                .build();
        Sampler sampler = new Sampler(params, 50);
        float[] logits = gaussianLogits(3, 50, 1.0);
        logits[banned] = 5;
        for (int d = 0; d < 20_000; d++) {
            assertNotEquals(banned, sampler.next(logits, 0).token());
        }
    }

    @Test
    void biasPlus100ForcesAToken() {
        int forced = 3;
        SamplingParams params = SamplingParams.builder().temperature(2).logitBias(Map.of(forced, 100.0)).seed(5L)
                .build();
        Sampler sampler = new Sampler(params, 50);
        float[] logits = gaussianLogits(3, 50, 3.0);
        logits[forced] = -10;
        for (int d = 0; d < 20_000; d++) {
            assertEquals(forced, sampler.next(logits, 0).token());
        }
    }

    @Test
    void logprobIsLogSoftmaxOfTheRawLogits() {
        // Everything that changes the sampling distribution must leave the reported logprob alone.
        SamplingParams params = SamplingParams.builder()
                .temperature(0.3).topK(20).repetitionPenalty(1.5).presencePenalty(1.0).logitBias(Map.of(4, 10.0))
                .logprobs(true).topLogprobs(20).seed(8L).build();
        Sampler sampler = new Sampler(params, V);
        sampler.observePrompt(new int[] {1, 2, 3});
        for (int s = 0; s < 20; s++) {
            float[] logits = gaussianLogits(100 + s, V, 4.0);
            double[] expected = ReferenceSampling.logSoftmax(logits);
            SampledToken t = sampler.next(logits, 0);
            assertEquals(expected[t.token()], t.logprob(), 1e-5, "logprob of token " + t.token());

            Integer[] order = new Integer[V];
            for (int i = 0; i < V; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (a, b) -> expected[a] != expected[b]
                    ? Double.compare(expected[b], expected[a]) : Integer.compare(a, b));
            assertEquals(20, t.topLogprobs().size());
            for (int j = 0; j < 20; j++) {
                TokenLogprob alt = t.topLogprobs().get(j);
                assertEquals(order[j], alt.token(), "alternative " + j);
                assertEquals(expected[order[j]], alt.logprob(), 1e-5, "logprob of alternative " + j);
            }
        }
    }

    @Test
    void topLogprobsBreakTiesByLowestId() {
        SamplingParams params = SamplingParams.builder().logprobs(true).topLogprobs(4).seed(1L).build();
        SampledToken t = new Sampler(params, 6).next(new float[] {1, 2, 2, 0, 2, 1}, 0);
        assertEquals(List.of(1, 2, 4, 0), t.topLogprobs().stream().map(TokenLogprob::token).toList());
        double tied = t.topLogprobs().get(0).logprob();
        assertEquals(tied, t.topLogprobs().get(2).logprob());
        assertTrue(t.topLogprobs().get(3).logprob() < tied);
    }

    @Test
    void noAlternativesUnlessAsked() {
        SampledToken plain = new Sampler(SamplingParams.defaults(), V).next(gaussianLogits(1, V, 1), 0);
        assertEquals(List.of(), plain.topLogprobs());
        SamplingParams onlyChosen = SamplingParams.builder().logprobs(true).build();
        assertEquals(List.of(), new Sampler(onlyChosen, V).next(gaussianLogits(1, V, 1), 0).topLogprobs());
    }

    @Test
    void maskedTokensWithInfiniteNegativeLogitsAreNeverChosen() {
        float[] logits = gaussianLogits(2, 20, 1.0);
        for (int i = 10; i < 20; i++) {
            logits[i] = Float.NEGATIVE_INFINITY;
        }
        SamplingParams params = SamplingParams.builder().topP(0.999).repetitionPenalty(3).seed(4L).build();
        Sampler sampler = new Sampler(params, 20);
        sampler.observePrompt(new int[] {12, 13});
        for (int d = 0; d < 2000; d++) {
            assertTrue(sampler.next(logits, 0).token() < 10);
        }
    }

    @Test
    void refusesALogitBiasOutsideTheVocabulary() {
        SamplingParams params = SamplingParams.builder().logitBias(Map.of(3, 1.0, 100, 1.0)).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Sampler(params, 100));
        assertEquals("logit_bias token id 100 is outside the vocabulary 0..99", e.getMessage());
    }

    @Test
    void refusesPromptTokensOutsideTheVocabulary() {
        Sampler sampler = new Sampler(SamplingParams.builder().repetitionPenalty(1.2).build(), 100);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> sampler.observePrompt(new int[] {1, 2, 100}));
        assertEquals("prompt token 100 at position 2 is outside the vocabulary 0..99", e.getMessage());
    }

    @Test
    void refusesAWindowThatDoesNotFit() {
        Sampler sampler = new Sampler(SamplingParams.defaults(), 100);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> sampler.next(new float[250], 200));
        assertEquals("logits of length 250 have no room for 100 values at offset 200", e.getMessage());
    }

    @Test
    void refusesNaNAndInfiniteLogits() {
        Sampler sampler = new Sampler(SamplingParams.defaults(), 4);
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> sampler.next(new float[] {0, Float.NaN, 1, 2}, 0)).getMessage().contains("NaN"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> sampler.next(new float[] {0, Float.POSITIVE_INFINITY, 1, 2}, 0)).getMessage()
                .contains("finite"));
        float[] allMasked = new float[4];
        Arrays.fill(allMasked, Float.NEGATIVE_INFINITY);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> sampler.next(allMasked, 0)).getMessage()
                .contains("finite"));
    }

    @Test
    void extremeRepetitionPenaltiesKeepLogitsFinite() {
        SamplingParams params = SamplingParams.builder().repetitionPenalty(1e-300).seed(1L).build();
        Sampler sampler = new Sampler(params, 4);
        sampler.observePrompt(new int[] {0, 1});
        double[] p = sampler.distribution(new float[] {1, 0, 2, 3}, 0);
        assertEquals(1.0, p[0], 1e-12, "1 / 1e-300 saturates at the largest float and takes all the mass");
        assertEquals(1.0, Arrays.stream(p).sum(), 1e-12);
    }
}
