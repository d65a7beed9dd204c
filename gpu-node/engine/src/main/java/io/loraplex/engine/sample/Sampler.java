package io.loraplex.engine.sample;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * Chooses the tokens of one request from its logits, one position at a time, as vLLM does:
 * logit bias, then repetition/frequency/presence penalties, then temperature; temperature 0 takes
 * the argmax (ties to the lowest id); otherwise top-k, top-p and min-p truncate the distribution and
 * a generator seeded from {@code seed} draws from what is left. Every token chosen is remembered for
 * the penalties of the next ones.
 *
 * <p>In weights {@code w_i = exp((l_i - l_max) / T)} of the adjusted logits {@code l}, with tokens
 * ranked by logit (ties to the lowest id):
 * <pre>
 *   top-k:  keep the k best ranked
 *   top-p:  keep rank r while the mass of the better ranked ones is below p · Σ w (over top-k's survivors)
 *   min-p:  keep w_i ≥ minP            (w_max = 1, so this is p_i ≥ minP · p_max)
 *   draw:   token i with probability w_i / Σ w (over what is left)
 * </pre>
 * Top-k selects with a heap of size k. Top-p needs an order only where the nucleus ends: one pass
 * histograms the weights by logit distance from the best, which finds the bucket holding the
 * boundary, and only that bucket is sorted. Scratch buffers are allocated here, once; the boundary
 * buffer grows on demand, up to V.
 *
 * <p>Same seed, same logits: same tokens. Across machines with different vector widths, weights
 * may differ in their last bit, which moves a draw only when it falls within ~1e-7 of a boundary.
 *
 * <p>Not thread-safe: one sampler belongs to one request.
 */
public final class Sampler {

    /** {@link #truncate()}'s answer when the kept weights are dense in {@link #adjusted}, not ranked. */
    private static final int DENSE = -1;
    /** Top-p histogram bucket width, in nats of {@code (l_max - l) / T}. */
    private static final double BUCKET_WIDTH = 1.0 / 16;
    /** Buckets cover 32 nats; beyond is one overflow bucket (weights below e^-32). */
    private static final int BUCKETS = 512;
    /** Tokens weighed at once in the top-p passes. */
    private static final int CHUNK = 512;
    private static final int INITIAL_BOUNDARY = 1024;

    private final SamplingParams params;
    private final int vocabSize;              // V
    private final int topK;                   // 0 = off, else < V
    private final float invTemperature;       // 1 / T; unused when greedy
    private final float minWeight;            // min-p as a weight, since w_max = 1
    private final float bucketScale;          // 1 / (T · BUCKET_WIDTH): logit distance to top-p bucket
    private final int[] biasTokens;           // (B) token ids with a logit bias
    private final float[] biasValues;         // (B) their bias
    private final Penalties penalties;        // null when every penalty is off
    private final RandomGenerator random;
    private final float[] adjusted;           // (V) logits after bias and penalties; the dense paths turn them into weights
    private long[] ranked;                    // (K) TokenRanking keys: the top k, or top-p's boundary bucket; best first
    private float[] rankedWeights;            // (K) their weights w
    private final float[] chunk;              // (CHUNK) weights of a slice of adjusted, for top-p
    private final double[] bucketMass;        // (BUCKETS + 1) Σ w of each top-p bucket, this step
    private final int[] bucketCount;          // (BUCKETS + 1) tokens in each top-p bucket, this step
    private final long[] alternatives;        // (N) keys of the raw top-logprob tokens
    private double keptMass;                  // Σ w over what truncate() kept
    private float[] masked;                   // (V) logits with the disallowed ones at -Infinity; allocated on first use

    /**
     * A sampler for one request over a vocabulary of {@code vocabSize} tokens.
     *
     * @throws IllegalArgumentException when a {@code logit_bias} id lies outside the vocabulary
     */
    public Sampler(SamplingParams params, int vocabSize) {
        this.params = Objects.requireNonNull(params, "params");
        if (vocabSize < 1) {
            throw new IllegalArgumentException("vocabSize must be at least 1, got " + vocabSize);
        }
        this.vocabSize = vocabSize;
        this.topK = params.topK() < vocabSize ? params.topK() : 0;
        this.invTemperature = params.greedy() ? 0 : (float) (1 / params.temperature());
        this.minWeight = (float) params.minP();
        this.bucketScale = (float) (invTemperature / BUCKET_WIDTH);

        int[] tokens = params.logitBias().keySet().stream().mapToInt(Integer::intValue).sorted().toArray();
        for (int token : tokens) {
            if (token >= vocabSize) {
                throw new IllegalArgumentException("logit_bias token id " + token
                        + " is outside the vocabulary 0.." + (vocabSize - 1));
            }
        }
        this.biasTokens = tokens;
        this.biasValues = new float[tokens.length];
        Map<Integer, Double> bias = params.logitBias();
        for (int b = 0; b < tokens.length; b++) {
            biasValues[b] = bias.get(tokens[b]).floatValue();
        }

        this.penalties = Penalties.of(params, vocabSize);
        this.random = params.seed() != null ? new SplittableRandom(params.seed()) : new SplittableRandom();
        this.adjusted = new float[vocabSize];

        boolean nucleus = params.topP() < 1 && topK == 0;
        int candidates = topK > 0 ? topK : nucleus ? Math.min(vocabSize, INITIAL_BOUNDARY) : 0;
        this.ranked = new long[candidates];
        this.rankedWeights = new float[candidates];
        this.chunk = new float[nucleus ? CHUNK : 0];
        this.bucketMass = new double[nucleus ? BUCKETS + 1 : 0];
        this.bucketCount = new int[nucleus ? BUCKETS + 1 : 0];
        this.alternatives = new long[params.logprobs() ? Math.min(params.topLogprobs(), vocabSize) : 0];
    }

    public SamplingParams params() {
        return params;
    }

    public int vocabSize() {
        return vocabSize;
    }

    /** Remembers the prompt for the repetition penalty; may be called more than once (chunked prefill). */
    public void observePrompt(int[] promptTokens) {
        for (int i = 0; i < promptTokens.length; i++) {
            int token = promptTokens[i];
            if (token < 0 || token >= vocabSize) {
                throw new IllegalArgumentException("prompt token " + token + " at position " + i
                        + " is outside the vocabulary 0.." + (vocabSize - 1));
            }
        }
        if (penalties != null) {
            penalties.observePrompt(promptTokens);
        }
    }

    /**
     * Chooses the next token from {@code logits[offset .. offset+V)}, which are read and never
     * written, and remembers it for the penalties.
     *
     * @throws IllegalArgumentException when the window does not fit or the logits hold NaN,
     *                                  +Infinity or nothing finite
     */
    public SampledToken next(float[] logits, int offset) {
        checkWindow(logits, offset);
        double logNormalizer = logNormalizer(logits, offset);
        adjust(logits, offset);
        int token = params.greedy() ? argmax() : draw(truncate());
        if (penalties != null) {
            penalties.observeOutput(token);
        }
        // min(0, ·): a raw logprob is never positive, rounding must not make it so.
        double logprob = Math.min(0, logits[offset + token] - logNormalizer);
        return new SampledToken(token, logprob, topLogprobs(logits, offset, logNormalizer));
    }

    /**
     * Like {@link #next(float[], int)}, with only the tokens in {@code allowed} (bits over V: token t is
     * bit {@code t % 64} of word {@code t / 64}) sampleable: the others' logits count as -Infinity before
     * anything else, greedy or not. The logprobs are those of this masked distribution, and the
     * alternatives reported are allowed tokens only. The logits are read and never written.
     *
     * @throws IllegalArgumentException when {@code allowed} holds no token of the vocabulary
     */
    public SampledToken next(float[] logits, int offset, long[] allowed) {
        checkWindow(logits, offset);
        if (masked == null) {
            masked = new float[vocabSize];
        }
        Arrays.fill(masked, Float.NEGATIVE_INFINITY);
        boolean any = false;
        for (int w = 0; w < allowed.length; w++) {
            for (long bits = allowed[w]; bits != 0; bits &= bits - 1) {
                int t = (w << 6) + Long.numberOfTrailingZeros(bits);
                if (t < vocabSize) {
                    masked[t] = logits[offset + t];
                    any = true;
                }
            }
        }
        if (!any) {
            throw new IllegalArgumentException("the output constraint allows no token of the vocabulary 0.." + (vocabSize - 1));
        }
        return next(masked, 0);
    }

    /**
     * The distribution (V) that {@link #next} would draw from now: bias, penalties, temperature and
     * truncation applied, normalised; one-hot at the argmax when greedy. Draws and remembers nothing.
     */
    double[] distribution(float[] logits, int offset) {
        checkWindow(logits, offset);
        logNormalizer(logits, offset);
        adjust(logits, offset);
        double[] p = new double[vocabSize];
        if (params.greedy()) {
            p[argmax()] = 1;
            return p;
        }
        int n = truncate();
        if (n == DENSE) {
            for (int i = 0; i < vocabSize; i++) {
                p[i] = adjusted[i] / keptMass;
            }
        } else {
            for (int j = 0; j < n; j++) {
                p[TokenRanking.id(ranked[j])] = rankedWeights[j] / keptMass;
            }
        }
        return p;
    }

    /** How many candidates the ranking buffer holds; tests check that top-p did not rank the vocabulary. */
    int rankedCapacity() {
        return ranked.length;
    }

    private void checkWindow(float[] logits, int offset) {
        if (offset < 0 || offset > logits.length - vocabSize) {
            throw new IllegalArgumentException("logits of length " + logits.length + " have no room for "
                    + vocabSize + " values at offset " + offset);
        }
    }

    /** {@code log Σ exp(raw)}: a token's raw logprob is its raw logit minus this. Also vets the logits. */
    private double logNormalizer(float[] logits, int offset) {
        float max = WeightKernels.max(logits, offset, vocabSize);
        if (Float.isNaN(max)) {
            throw new IllegalArgumentException("logits[" + offset + " .. " + (offset + vocabSize) + ") hold NaN");
        }
        if (Float.isInfinite(max)) {
            throw new IllegalArgumentException("logits[" + offset + " .. " + (offset + vocabSize)
                    + ") need a finite largest value, got " + max);
        }
        return max + Math.log(WeightKernels.sumExp(logits, offset, vocabSize, max));
    }

    /** Copies the logits into {@link #adjusted} and applies the logit bias, then the penalties. */
    private void adjust(float[] logits, int offset) {
        System.arraycopy(logits, offset, adjusted, 0, vocabSize);
        for (int b = 0; b < biasTokens.length; b++) {
            adjusted[biasTokens[b]] += biasValues[b];
        }
        if (penalties != null) {
            penalties.apply(adjusted);
        }
    }

    /** The first token holding the largest adjusted logit. */
    private int argmax() {
        float max = WeightKernels.max(adjusted, 0, vocabSize);
        int i = 0;
        while (adjusted[i] != max) {
            i++;
        }
        return i;
    }

    /**
     * Applies temperature, top-k, top-p and min-p to {@link #adjusted}. Returns how many of
     * {@link #ranked} are kept, or {@link #DENSE} when the weights were written over {@link #adjusted}
     * instead; sets {@link #keptMass}.
     */
    private int truncate() {
        if (topK > 0) {
            TokenRanking.selectTop(adjusted, 0, vocabSize, topK, ranked);
            return keepRankedPrefix(topK, weighRanked(topK, TokenRanking.value(ranked[0])));
        }
        float max = WeightKernels.max(adjusted, 0, vocabSize);
        if (params.topP() < 1) {
            return truncateNucleus(max);
        }
        keptMass = WeightKernels.weighInPlace(adjusted, vocabSize, max, invTemperature, minWeight);
        return DENSE;
    }

    /** Fills {@link #rankedWeights}[0..n) from the logits held in the keys and returns their sum. */
    private double weighRanked(int n, float max) {
        for (int j = 0; j < n; j++) {
            rankedWeights[j] = TokenRanking.value(ranked[j]);
        }
        WeightKernels.weights(rankedWeights, 0, rankedWeights, 0, n, max, invTemperature);
        double sum = 0;
        for (int j = 0; j < n; j++) {
            sum += rankedWeights[j];
        }
        return sum;
    }

    /** After top-k: how many of the best ranked top-p and min-p keep; at least one (its weight is 1). */
    private int keepRankedPrefix(int candidates, double z) {
        double nucleus = params.topP() < 1 ? params.topP() * z : Double.POSITIVE_INFINITY;
        double mass = 0;
        int n = 0;
        while (n < candidates && mass < nucleus && rankedWeights[n] >= minWeight) {
            mass += rankedWeights[n];
            n++;
        }
        keptMass = mass;
        return n;
    }

    /**
     * Top-p (then min-p) without top-k, leaving dense weights in {@link #adjusted}. Tokens in buckets
     * above the boundary bucket are all in the nucleus, those below all out; only the boundary
     * bucket is ranked, to find the exact cut.
     */
    private int truncateNucleus(float max) {
        Arrays.fill(bucketMass, 0);
        Arrays.fill(bucketCount, 0);
        double z = 0;
        for (int start = 0; start < vocabSize; start += CHUNK) {
            int n = Math.min(CHUNK, vocabSize - start);
            WeightKernels.weights(adjusted, start, chunk, 0, n, max, invTemperature);
            for (int j = 0; j < n; j++) {
                int b = bucket(adjusted[start + j], max);
                bucketMass[b] += chunk[j];
                bucketCount[b]++;
                z += chunk[j];
            }
        }

        double nucleus = params.topP() * z;
        double above = 0; // Σ w of the buckets before the boundary, all of them kept
        int boundary = 0;
        while (boundary < BUCKETS && above + bucketMass[boundary] < nucleus) {
            above += bucketMass[boundary];
            boundary++;
        }

        ensureBoundaryCapacity(bucketCount[boundary]);
        double kept = 0;
        int n = 0;
        for (int start = 0; start < vocabSize; start += CHUNK) {
            int count = Math.min(CHUNK, vocabSize - start);
            WeightKernels.weights(adjusted, start, chunk, 0, count, max, invTemperature);
            for (int j = 0; j < count; j++) {
                int i = start + j;
                int b = bucket(adjusted[i], max);
                if (b == boundary) {
                    ranked[n++] = TokenRanking.key(adjusted[i], i); // the key keeps the logit, for the cut below
                }
                float w = b < boundary && chunk[j] >= minWeight ? chunk[j] : 0;
                adjusted[i] = w;
                kept += w;
            }
        }

        TokenRanking.sortDescending(ranked, n);
        weighRanked(n, max); // the same weights as above: a weight depends on its logit only
        double cumulative = above;
        for (int j = 0; j < n && cumulative < nucleus; j++) {
            cumulative += rankedWeights[j];
            if (rankedWeights[j] >= minWeight) {
                adjusted[TokenRanking.id(ranked[j])] = rankedWeights[j];
                kept += rankedWeights[j];
            }
        }
        keptMass = kept;
        return DENSE;
    }

    /** The top-p bucket of a logit: its distance below the best, in units of BUCKET_WIDTH. */
    private int bucket(float logit, float max) {
        return (int) Math.min(BUCKETS, (max - logit) * bucketScale); // -Infinity lands in the overflow bucket
    }

    /** Draws from what {@link #truncate()} kept. */
    private int draw(int kept) {
        double u = random.nextDouble() * keptMass;
        double cumulative = 0;
        int lastPositive = -1; // answers when rounding leaves u at or past the total
        if (kept == DENSE) {
            for (int i = 0; i < vocabSize; i++) {
                if (adjusted[i] > 0) {
                    cumulative += adjusted[i];
                    lastPositive = i;
                    if (cumulative > u) {
                        return i;
                    }
                }
            }
            return lastPositive;
        }
        for (int j = 0; j < kept; j++) {
            if (rankedWeights[j] > 0) {
                cumulative += rankedWeights[j];
                lastPositive = TokenRanking.id(ranked[j]);
                if (cumulative > u) {
                    return lastPositive;
                }
            }
        }
        return lastPositive;
    }

    private List<TokenLogprob> topLogprobs(float[] logits, int offset, double logNormalizer) {
        int n = alternatives.length;
        if (n == 0) {
            return List.of();
        }
        TokenRanking.selectTop(logits, offset, vocabSize, n, alternatives);
        TokenLogprob[] top = new TokenLogprob[n];
        for (int j = 0; j < n; j++) {
            int token = TokenRanking.id(alternatives[j]);
            top[j] = new TokenLogprob(token, Math.min(0, logits[offset + token] - logNormalizer));
        }
        // under a constraint, fewer tokens than asked for may be allowed: the masked ones are not alternatives
        int finite = 0;
        while (finite < n && top[finite].logprob() != Double.NEGATIVE_INFINITY) {
            finite++;
        }
        return finite == n ? List.of(top) : List.of(Arrays.copyOf(top, finite));
    }

    private void ensureBoundaryCapacity(int needed) {
        if (ranked.length < needed) {
            int capacity = Math.min(vocabSize, Math.max(needed, 2 * ranked.length));
            ranked = new long[capacity];
            rankedWeights = new float[capacity];
        }
    }
}
