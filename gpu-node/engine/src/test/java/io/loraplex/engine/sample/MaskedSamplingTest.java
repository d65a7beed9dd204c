package io.loraplex.engine.sample;

import static io.loraplex.engine.sample.ReferenceSampling.gaussianLogits;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Sampling under a token mask (constrained decoding): only allowed tokens, logprobs of the masked distribution. */
class MaskedSamplingTest {

    static final int V = 300;

    static long[] mask(int... tokens) {
        long[] m = new long[(V + 63) / 64];
        for (int t : tokens) {
            m[t >>> 6] |= 1L << t;
        }
        return m;
    }

    @Test
    void everyModeSamplesOnlyAllowedTokens() {
        List<SamplingParams> modes = List.of(SamplingParams.builder().temperature(0).build(),
                SamplingParams.builder().temperature(1).seed(1L).build(),
                SamplingParams.builder().temperature(0.7).topK(5).seed(2L).build(),
                SamplingParams.builder().temperature(1.3).topP(0.5).seed(3L).build(),
                SamplingParams.builder().temperature(1).minP(0.2).seed(4L).logitBias(Map.of(7, 50.0)).build(),
                SamplingParams.builder().temperature(1).presencePenalty(1.0).repetitionPenalty(1.5).seed(5L).build());
        SplittableRandom random = new SplittableRandom(9);
        for (SamplingParams params : modes) {
            Sampler sampler = new Sampler(params, V);
            for (int step = 0; step < 200; step++) {
                float[] logits = gaussianLogits(random.nextLong(), V, 3.0);
                int a = random.nextInt(V);
                int b = random.nextInt(V);
                int c = random.nextInt(V);
                int token = sampler.next(logits, 0, mask(a, b, c)).token();
                assertTrue(token == a || token == b || token == c, params + " sampled " + token + " outside {" + a + ", " + b + ", " + c + "}");
            }
        }
    }

    @Test
    void logprobsAreThoseOfTheMaskedDistributionAndAlternativesAreAllowedOnly() {
        float[] logits = new float[V];
        logits[10] = 1f;
        logits[20] = 1f;
        logits[30] = 9f; // the best token overall, but masked
        Sampler sampler = new Sampler(SamplingParams.builder().temperature(0).logprobs(true).topLogprobs(5).build(), V);
        SampledToken t = sampler.next(logits, 0, mask(10, 20));
        assertEquals(10, t.token());
        assertEquals(Math.log(0.5), t.logprob(), 1e-6);
        assertEquals(2, t.topLogprobs().size());
        assertTrue(t.topLogprobs().stream().allMatch(a -> a.token() == 10 || a.token() == 20), t.topLogprobs().toString());
    }

    @Test
    void aMaskAllowingNothingIsRefused() {
        Sampler sampler = new Sampler(SamplingParams.defaults(), V);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> sampler.next(new float[V], 0, mask()));
        assertEquals("the output constraint allows no token of the vocabulary 0..299", e.getMessage());
    }
}
