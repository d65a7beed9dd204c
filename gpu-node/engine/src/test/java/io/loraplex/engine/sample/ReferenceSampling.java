package io.loraplex.engine.sample;

import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The sampling distribution written the plain way, in double over the whole vocabulary with a full
 * sort, step for step as vLLM V0 / HF write it (top-p as "ascending cumulative sum, drop while
 * {@code ≤ 1 - p}, always keep the best"), to check the sampler's fast paths against.
 */
final class ReferenceSampling {

    private ReferenceSampling() {
    }

    /** Logits (V) drawn from N(0, scale²), reproducibly. */
    static float[] gaussianLogits(long seed, int vocabSize, double scale) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] logits = new float[vocabSize];
        for (int i = 0; i < vocabSize; i++) {
            logits[i] = (float) (scale * random.nextGaussian());
        }
        return logits;
    }

    /** Bias, then repetition over prompt ∪ output, then frequency and presence over output. */
    static double[] adjustedLogits(SamplingParams p, float[] raw, int[] prompt, List<Integer> output) {
        double[] l = new double[raw.length];
        for (int i = 0; i < raw.length; i++) {
            l[i] = raw[i];
        }
        p.logitBias().forEach((token, bias) -> l[token] += bias);

        Set<Integer> seen = new HashSet<>(output);
        for (int t : prompt) {
            seen.add(t);
        }
        for (int t : seen) {
            l[t] = l[t] > 0 ? l[t] / p.repetitionPenalty() : l[t] * p.repetitionPenalty();
        }

        Map<Integer, Integer> counts = new HashMap<>();
        for (int t : output) {
            counts.merge(t, 1, Integer::sum);
        }
        counts.forEach((t, c) -> l[t] -= p.frequencyPenalty() * c + p.presencePenalty() * (c > 0 ? 1 : 0));
        return l;
    }

    static double[] distribution(SamplingParams p, float[] raw, int[] prompt, List<Integer> output) {
        int v = raw.length;
        double[] l = adjustedLogits(p, raw, prompt, output);
        double[] prob = new double[v];
        if (p.greedy()) {
            int best = 0;
            for (int i = 1; i < v; i++) {
                if (l[i] > l[best]) {
                    best = i;
                }
            }
            prob[best] = 1;
            return prob;
        }

        for (int i = 0; i < v; i++) {
            l[i] /= p.temperature();
        }
        double max = Arrays.stream(l).max().orElseThrow();
        for (int i = 0; i < v; i++) {
            prob[i] = Math.exp(l[i] - max);
        }
        normalize(prob);

        // Best first, ties to the lowest id.
        Integer[] order = new Integer[v];
        for (int i = 0; i < v; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> l[a] != l[b] ? Double.compare(l[b], l[a]) : Integer.compare(a, b));

        if (p.topK() > 0) {
            for (int rank = p.topK(); rank < v; rank++) {
                prob[order[rank]] = 0;
            }
            normalize(prob);
        }
        if (p.topP() < 1) {
            double cumulative = 0;
            boolean[] drop = new boolean[v];
            for (int rank = v - 1; rank >= 0; rank--) { // ascending
                cumulative += prob[order[rank]];
                drop[rank] = cumulative <= 1 - p.topP();
            }
            drop[0] = false;
            for (int rank = 0; rank < v; rank++) {
                if (drop[rank]) {
                    prob[order[rank]] = 0;
                }
            }
            normalize(prob);
        }
        if (p.minP() > 0) {
            double pMax = prob[order[0]];
            for (int i = 0; i < v; i++) {
                if (prob[i] < p.minP() * pMax) {
                    prob[i] = 0;
                }
            }
            normalize(prob);
        }
        return prob;
    }

    /** log_softmax of the raw logits. */
    static double[] logSoftmax(float[] raw) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : raw) {
            max = Math.max(max, x);
        }
        double sum = 0;
        for (float x : raw) {
            sum += Math.exp(x - max);
        }
        double[] out = new double[raw.length];
        for (int i = 0; i < raw.length; i++) {
            out[i] = raw[i] - max - Math.log(sum);
        }
        return out;
    }

    private static void normalize(double[] prob) {
        double sum = Arrays.stream(prob).sum();
        for (int i = 0; i < prob.length; i++) {
            prob[i] /= sum;
        }
    }
}
