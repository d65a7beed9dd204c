package io.loraplex.engine.sample;

import static io.loraplex.engine.sample.ReferenceSampling.gaussianLogits;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Each transformation, and their combinations, against {@link ReferenceSampling} over random
 * logits (fixed seeds): through the sampler's package-private {@code distribution}, and then
 * through real draws with a chi-square bound.
 */
class SamplerDistributionTest {

    private static final int V = 1000;
    private static final long[] SEEDS = {1, 2, 3};

    /** Below this a float weight (as vLLM's float32) underflows, so the sampler may hold 0 instead. */
    private static final double FLOAT_UNDERFLOW = 1e-37;

    /** The sampler weighs in float, the reference in double: same support, values within this. */
    static void assertSameDistribution(double[] expected, double[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": vocabulary size");
        double total = 0;
        for (int i = 0; i < expected.length; i++) {
            total += actual[i];
            if (expected[i] < FLOAT_UNDERFLOW) {
                assertTrue(actual[i] < FLOAT_UNDERFLOW, what + ": p of token " + i + " is " + actual[i]
                        + ", reference " + expected[i]);
                continue;
            }
            assertEquals(expected[i] > 0, actual[i] > 0, what + ": whether token " + i + " is kept (reference p = "
                    + expected[i] + ", sampler p = " + actual[i] + ")");
            assertEquals(expected[i], actual[i], 1e-7 + 1e-5 * expected[i], what + ": p of token " + i);
        }
        // The vector kernels sum float lanes folded into a double: totals hold to about 1e-7.
        assertEquals(1.0, total, 1e-6, what + ": total probability");
    }

    /** Lets the sampler choose {@code steps} tokens over fresh random logits; returns what it chose. */
    static List<Integer> generate(Sampler sampler, int steps, long seed) {
        List<Integer> output = new ArrayList<>();
        for (int s = 0; s < steps; s++) {
            output.add(sampler.next(gaussianLogits(seed * 1000 + s, sampler.vocabSize(), 2.0), 0).token());
        }
        return output;
    }

    /** Builds params from the defaults and checks one step after a short history against the reference. */
    private static void checkAgainstReference(UnaryOperator<SamplingParams.Builder> settings, int vocabSize,
            double scale, String what) {
        for (long seed : SEEDS) {
            SamplingParams params = settings.apply(SamplingParams.builder().seed(seed)).build();
            Sampler sampler = new Sampler(params, vocabSize);
            int[] prompt = {3, 3, 17, 42 % vocabSize, 99 % vocabSize, vocabSize - 1};
            sampler.observePrompt(prompt);
            List<Integer> output = generate(sampler, 12, seed);

            float[] logits = gaussianLogits(seed + 100, vocabSize, scale);
            double[] expected = ReferenceSampling.distribution(params, logits, prompt, output);
            assertSameDistribution(expected, sampler.distribution(logits, 0), what + " seed " + seed);
        }
    }

    @ParameterizedTest(name = "temperature {0}")
    @MethodSource("temperatures")
    void temperatureDividesLogits(double temperature) {
        checkAgainstReference(b -> b.temperature(temperature), V, 3.0, "temperature " + temperature);
    }

    static Stream<Double> temperatures() {
        // up to SamplingLimits.MAX_TEMPERATURE, the highest a request may ask for (10 was allowed before issue 16)
        return Stream.of(0.05, 0.2, 0.7, 1.0, 1.5, 2.0);
    }

    @Test
    void logitBiasIsAddedBeforeTemperature() {
        Map<Integer, Double> bias = Map.of(0, 5.0, 10, -3.5, 500, 100.0, 999, -100.0, 7, 0.25);
        checkAgainstReference(b -> b.logitBias(bias).temperature(0.6), V, 3.0, "logit bias");
    }

    @ParameterizedTest(name = "repetition penalty {0}")
    @MethodSource("repetitionPenalties")
    void repetitionPenaltyOverPromptAndOutput(double penalty) {
        checkAgainstReference(b -> b.repetitionPenalty(penalty), 50, 2.0, "repetition " + penalty);
    }

    static Stream<Double> repetitionPenalties() {
        return Stream.of(0.5, 1.1, 1.3, 2.0, 10.0);
    }

    @ParameterizedTest(name = "presence {0}, frequency {1}")
    @MethodSource("openAiPenalties")
    void presenceAndFrequencyPenaltiesOverOutputOnly(double presence, double frequency) {
        checkAgainstReference(b -> b.presencePenalty(presence).frequencyPenalty(frequency), 50, 2.0,
                "presence " + presence + " frequency " + frequency);
    }

    static Stream<Arguments> openAiPenalties() {
        return Stream.of(Arguments.of(0.5, 0.0), Arguments.of(0.0, 0.7), Arguments.of(2.0, 2.0),
                Arguments.of(-1.0, 0.3), Arguments.of(1.2, -2.0));
    }

    /** Bias and the three penalties by hand, so that semantics and order are pinned apart from the reference. */
    @Test
    void biasAndPenaltiesByHand() {
        SamplingParams params = SamplingParams.builder()
                .logitBias(Map.of(0, -3.0, 4, 1.0))
                .repetitionPenalty(2).frequencyPenalty(0.5).presencePenalty(0.25).seed(7L).build();
        Sampler sampler = new Sampler(params, 5);
        sampler.observePrompt(new int[] {0, 1});
        // Force the output 2, 2, 3 with a logit spike that no penalty here can overcome.
        for (int forced : new int[] {2, 2, 3}) {
            float[] spike = new float[5];
            spike[forced] = 60;
            assertEquals(forced, sampler.next(spike, 0).token());
        }

        float[] raw = {2f, -2f, 1f, 0.5f, 0f};
        double[] expectedLogits = {
            (2.0 - 3) * 2,                  // biased first (to -1), then a prompt token, negative: multiplied
            -2.0 * 2,                       // prompt, negative: multiplied
            1.0 / 2 - 0.5 * 2 - 0.25,       // output twice: repetition, then 2 × frequency, then presence
            0.5 / 2 - 0.5 * 1 - 0.25,       // output once
            0.0 + 1                         // never seen: bias only
        };
        double[] expected = softmax(expectedLogits);
        assertSameDistribution(expected, sampler.distribution(raw, 0), "bias and penalties by hand");
    }

    @ParameterizedTest(name = "top_k {0}")
    @MethodSource("topKs")
    void topKKeepsTheKBest(int k) {
        checkAgainstReference(b -> b.topK(k), V, 3.0, "top_k " + k);
    }

    static Stream<Integer> topKs() {
        return Stream.of(1, 2, 5, 40, 999, 1000, 5000);
    }

    @ParameterizedTest(name = "top_p {0}")
    @MethodSource("topPs")
    void topPKeepsTheNucleus(double p) {
        checkAgainstReference(b -> b.topP(p), V, 3.0, "top_p " + p);
        checkAgainstReference(b -> b.topP(p), V, 0.3, "top_p " + p + " on a flat distribution");
    }

    static Stream<Double> topPs() {
        return Stream.of(1e-6, 0.1, 0.5, 0.9, 0.95, 0.999, 1.0);
    }

    @ParameterizedTest(name = "min_p {0}")
    @MethodSource("minPs")
    void minPDropsTokensFarBelowTheBest(double minP) {
        checkAgainstReference(b -> b.minP(minP), V, 3.0, "min_p " + minP);
    }

    static Stream<Double> minPs() {
        return Stream.of(0.0, 1e-4, 0.05, 0.3, 1.0);
    }

    @ParameterizedTest(name = "T {0}, top_k {1}, top_p {2}, min_p {3}")
    @MethodSource("combinations")
    void combinationsApplyInOrder(double temperature, int topK, double topP, double minP) {
        checkAgainstReference(
                b -> b.temperature(temperature).topK(topK).topP(topP).minP(minP)
                        .repetitionPenalty(1.2).frequencyPenalty(0.3).presencePenalty(0.2)
                        .logitBias(Map.of(1, 2.0, 3, -2.5, 17, 1.5)), // 3 and 17 are prompt tokens too
                V, 3.0, "combination");
    }

    static Stream<Arguments> combinations() {
        List<Arguments> all = new ArrayList<>();
        for (double t : new double[] {0.5, 1.0, 1.7}) {
            for (int k : new int[] {0, 10, 200}) {
                for (double p : new double[] {0.3, 0.9, 1.0}) {
                    for (double m : new double[] {0.0, 0.02, 0.2}) {
                        all.add(Arguments.of(t, k, p, m));
                    }
                }
            }
        }
        return all.stream();
    }

    /** Logits rounded to halves: many ties, which every path must break the same way (lowest id). */
    @ParameterizedTest(name = "top_k {0}, top_p {1}")
    @MethodSource("tieCases")
    void tiesAreRankedByLowestId(int topK, double topP) {
        for (long seed : SEEDS) {
            SamplingParams params = SamplingParams.builder().topK(topK).topP(topP).seed(seed).build();
            float[] logits = gaussianLogits(seed, 300, 2.0);
            for (int i = 0; i < logits.length; i++) {
                logits[i] = Math.round(logits[i] * 2) / 2f;
            }
            double[] expected = ReferenceSampling.distribution(params, logits, new int[0], List.of());
            assertSameDistribution(expected, new Sampler(params, 300).distribution(logits, 0), "ties");
        }
    }

    static Stream<Arguments> tieCases() {
        return Stream.of(Arguments.of(1, 1.0), Arguments.of(7, 1.0), Arguments.of(0, 0.42), Arguments.of(20, 0.7));
    }

    /**
     * A real vocabulary size: top-p must match the full sort, and on a peaked distribution must not
     * have ranked anything near the whole vocabulary to get there.
     */
    @Test
    void topPOnALargeVocabularyRanksFewCandidates() {
        int vocabSize = 151_936;
        float[] peaked = gaussianLogits(11, vocabSize, 3.0);
        SamplingParams params = SamplingParams.builder().topP(0.9).seed(1L).build();
        Sampler sampler = new Sampler(params, vocabSize);
        double[] expected = ReferenceSampling.distribution(params, peaked, new int[0], List.of());
        assertSameDistribution(expected, sampler.distribution(peaked, 0), "peaked, top_p 0.9");
        assertTrue(sampler.rankedCapacity() < vocabSize / 10,
                "ranked " + sampler.rankedCapacity() + " candidates of " + vocabSize);
    }

    @ParameterizedTest(name = "scale {0}, T {1}, top_k {2}, top_p {3}, min_p {4}")
    @MethodSource("largeVocabularyCases")
    void largeVocabularyMatchesReference(double scale, double temperature, int topK, double topP, double minP) {
        int vocabSize = 151_936;
        float[] logits = gaussianLogits(Double.hashCode(scale), vocabSize, scale);
        SamplingParams params = SamplingParams.builder()
                .temperature(temperature).topK(topK).topP(topP).minP(minP).seed(3L).build();
        double[] expected = ReferenceSampling.distribution(params, logits, new int[0], List.of());
        assertSameDistribution(expected, new Sampler(params, vocabSize).distribution(logits, 0), "large vocabulary");
    }

    static Stream<Arguments> largeVocabularyCases() {
        return Stream.of(
                Arguments.of(0.05, 1.0, 0, 0.95, 0.0),    // nearly flat: large histogram buckets
                Arguments.of(4.0, 0.7, 0, 0.5, 0.05),     // peaked, top-p and min-p
                Arguments.of(3.0, 1.0, 50_000, 0.99, 0.0) // a huge top-k, then top-p
        );
    }

    /** Draws against the reference distribution: the draw itself must not bias anything. */
    @ParameterizedTest(name = "T {0}, top_k {1}, top_p {2}, min_p {3}")
    @MethodSource("drawCases")
    void drawsFollowTheDistribution(double temperature, int topK, double topP, double minP) {
        int vocabSize = 40;
        int draws = 100_000;
        SamplingParams params = SamplingParams.builder()
                .temperature(temperature).topK(topK).topP(topP).minP(minP).seed(2024L).build();
        float[] logits = gaussianLogits(5, vocabSize, 1.5);
        double[] expected = ReferenceSampling.distribution(params, logits, new int[0], List.of());

        Sampler sampler = new Sampler(params, vocabSize);
        int[] counts = new int[vocabSize];
        for (int d = 0; d < draws; d++) {
            counts[sampler.next(logits, 0).token()]++;
        }

        // Pearson's chi-square, tokens expected fewer than 5 times pooled into one bin. The bound
        // df + 6·sqrt(2·df) is a false alarm about once in 10^6 runs; the seed is fixed anyway.
        double chiSquare = 0;
        int bins = 0;
        double pooledExpected = 0;
        int pooledObserved = 0;
        for (int i = 0; i < vocabSize; i++) {
            double e = expected[i] * draws;
            if (expected[i] == 0) {
                assertEquals(0, counts[i], "token " + i + " has probability 0 but was drawn");
            } else if (e < 5) {
                pooledExpected += e;
                pooledObserved += counts[i];
            } else {
                chiSquare += (counts[i] - e) * (counts[i] - e) / e;
                bins++;
            }
        }
        if (pooledExpected > 0) {
            chiSquare += (pooledObserved - pooledExpected) * (pooledObserved - pooledExpected) / pooledExpected;
            bins++;
        }
        int df = Math.max(1, bins - 1);
        double bound = df + 6 * Math.sqrt(2.0 * df);
        assertTrue(chiSquare < bound, "chi-square " + chiSquare + " over " + df + " degrees of freedom, bound " + bound);
    }

    static Stream<Arguments> drawCases() {
        return Stream.of(
                Arguments.of(1.0, 0, 1.0, 0.0),   // plain softmax (dense path)
                Arguments.of(0.6, 0, 1.0, 0.1),   // min-p alone (dense path)
                Arguments.of(1.0, 8, 1.0, 0.0),   // top-k (ranked path)
                Arguments.of(1.3, 0, 0.8, 0.0),   // top-p alone (histogram path)
                Arguments.of(0.9, 20, 0.9, 0.05)  // all of them
        );
    }

    private static double[] softmax(double[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (double x : logits) {
            max = Math.max(max, x);
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < logits.length; i++) {
            p[i] = Math.exp(logits[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < logits.length; i++) {
            p[i] /= sum;
        }
        return p;
    }
}
