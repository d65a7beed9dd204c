package io.loraplex.engine.sample;

import io.loraplex.cluster.node.SamplingLimits;
import io.loraplex.engine.constrain.TokenConstraint;
import java.util.Collection;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * How one request wants its tokens chosen and when it wants to stop, with OpenAI/vLLM meanings.
 *
 * <p>Build with {@link #builder()}; the builder remembers which fields the caller set
 * ({@link #explicitFields()}) so that {@link #withDefaults(GenerationDefaults)} fills only the
 * others. Every range is {@link SamplingLimits}' (defined once for the router and the engine); a value
 * outside it throws a {@link SamplingParamException} naming the field by its API spelling
 * ({@code top_p}, not {@code topP}), because the refusal reaches API users unchanged.
 *
 * @param temperature       divides the logits; 0 means greedy (argmax), range 0..{@value SamplingLimits#MAX_TEMPERATURE}
 * @param topK              keep the k most likely tokens; 0 is off ({@code -1}, vLLM's "off", is accepted and stored as 0)
 * @param topP              keep the smallest set of most likely tokens whose mass reaches p; range (0, 1], 1 is off
 * @param minP              drop tokens whose probability is below {@code minP · p_max}; range 0..1, 0 is off
 * @param repetitionPenalty HF/vLLM: over prompt and output tokens, positive logits are divided by it and negative ones
 *                          multiplied; greater than 0 and at most {@value SamplingLimits#MAX_REPETITION_PENALTY}, 1 is off
 * @param presencePenalty   OpenAI: subtracted once from the logit of every token already in the output; range -2..2
 * @param frequencyPenalty  OpenAI: subtracted from a token's logit once per occurrence in the output; range -2..2
 * @param logitBias         token id to a bias in -100..100 added to its logit; ids are checked against the vocabulary
 *                          when a {@link Sampler} is created
 * @param seed              the same seed gives the same tokens for the same logits; null draws a random seed
 * @param maxTokens         the most tokens to generate, at least 1; {@value #UNLIMITED} means until the context is
 *                          full, which the engine enforces
 * @param stop              up to {@value SamplingLimits#MAX_STOP_STRINGS} non-empty strings that end generation; the text is cut
 *                          just before the first one completed
 * @param stopTokenIds      token ids that end generation
 * @param ignoreEos         keep generating after the model's eos token
 * @param logprobs          report the log probability of each chosen token's alternatives
 * @param topLogprobs       how many alternatives to report, 0..{@value SamplingLimits#MAX_TOP_LOGPROBS}; needs {@code logprobs}
 * @param explicitFields    the fields the caller set, which model defaults must not override
 * @param constraint        what the output must be (JSON of a schema), enforced by masking the logits; null: free text
 */
public record SamplingParams(
        double temperature,
        int topK,
        double topP,
        double minP,
        double repetitionPenalty,
        double presencePenalty,
        double frequencyPenalty,
        Map<Integer, Double> logitBias,
        Long seed,
        int maxTokens,
        List<String> stop,
        Set<Integer> stopTokenIds,
        boolean ignoreEos,
        boolean logprobs,
        int topLogprobs,
        Set<Field> explicitFields,
        TokenConstraint constraint) {

    /** {@link #maxTokens()} when the caller gave none: generate until the context window is full. */
    public static final int UNLIMITED = Integer.MAX_VALUE;

    /** Every field of the record that a caller can set. */
    public enum Field {
        TEMPERATURE, TOP_K, TOP_P, MIN_P, REPETITION_PENALTY, PRESENCE_PENALTY, FREQUENCY_PENALTY, LOGIT_BIAS,
        SEED, MAX_TOKENS, STOP, STOP_TOKEN_IDS, IGNORE_EOS, LOGPROBS, TOP_LOGPROBS
    }

    public SamplingParams {
        // every range is SamplingLimits' (the router refuses by the same numbers); the first violation is thrown
        require(SamplingLimits.temperature(temperature));
        require(SamplingLimits.topK(topK));
        if (topK == -1) {
            topK = 0;
        }
        require(SamplingLimits.topP(topP));
        require(SamplingLimits.minP(minP));
        require(SamplingLimits.repetitionPenalty(repetitionPenalty));
        require(SamplingLimits.presencePenalty(presencePenalty));
        require(SamplingLimits.frequencyPenalty(frequencyPenalty));
        logitBias = logitBias == null ? Map.of() : logitBias;
        require(SamplingLimits.logitBias(logitBias));
        logitBias = Map.copyOf(logitBias);
        require(SamplingLimits.maxTokens(maxTokens));
        stop = stop == null ? List.of() : stop;
        require(SamplingLimits.stop(stop));
        stop = List.copyOf(stop);
        stopTokenIds = stopTokenIds == null ? Set.of() : stopTokenIds;
        require(SamplingLimits.stopTokenIds(stopTokenIds));
        stopTokenIds = Set.copyOf(stopTokenIds);
        require(SamplingLimits.topLogprobs(topLogprobs, logprobs));
        explicitFields = explicitFields == null || explicitFields.isEmpty()
                ? Set.of()
                : Collections.unmodifiableSet(EnumSet.copyOf(explicitFields));
    }

    /** A builder holding the defaults, with no field marked as set. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding these values, with the same fields marked as set. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** The defaults: temperature 1, every filter and penalty off, no stops, no limit but the context. */
    public static SamplingParams defaults() {
        return builder().build();
    }

    /** Whether the caller set this field rather than leaving it at its default. */
    public boolean isSet(Field field) {
        return explicitFields.contains(field);
    }

    /** Temperature 0: take the argmax, ignoring top-k, top-p, min-p and the seed. */
    public boolean greedy() {
        return temperature == 0;
    }

    /**
     * These params with a model's generation-config defaults applied to the fields the caller did
     * not set, as vLLM does with {@code generation_config.json}. The fields so filled stay unmarked:
     * they are the model's choice, not the caller's.
     */
    public SamplingParams withDefaults(GenerationDefaults defaults) {
        Builder b = toBuilder();
        if (!isSet(Field.TEMPERATURE) && defaults.temperature() != null) {
            b.temperature = defaults.temperature();
        }
        if (!isSet(Field.TOP_P) && defaults.topP() != null) {
            b.topP = defaults.topP();
        }
        if (!isSet(Field.TOP_K) && defaults.topK() != null) {
            b.topK = defaults.topK();
        }
        if (!isSet(Field.MIN_P) && defaults.minP() != null) {
            b.minP = defaults.minP();
        }
        if (!isSet(Field.REPETITION_PENALTY) && defaults.repetitionPenalty() != null) {
            b.repetitionPenalty = defaults.repetitionPenalty();
        }
        if (!isSet(Field.MAX_TOKENS) && defaults.maxNewTokens() != null) {
            b.maxTokens = defaults.maxNewTokens();
        }
        return b.build();
    }

    private static void require(Optional<SamplingLimits.Violation> violation) {
        if (violation.isPresent()) {
            throw new SamplingParamException(violation.get().param(), violation.get().message());
        }
    }

    /** Collects values and remembers which were set; {@link #build()} validates. */
    public static final class Builder {
        private double temperature = 1.0;
        private int topK = 0;
        private double topP = 1.0;
        private double minP = 0.0;
        private double repetitionPenalty = 1.0;
        private double presencePenalty = 0.0;
        private double frequencyPenalty = 0.0;
        private Map<Integer, Double> logitBias = Map.of();
        private Long seed = null;
        private int maxTokens = UNLIMITED;
        private List<String> stop = List.of();
        private Set<Integer> stopTokenIds = Set.of();
        private boolean ignoreEos = false;
        private boolean logprobs = false;
        private int topLogprobs = 0;
        private TokenConstraint constraint = null;
        private final EnumSet<Field> set = EnumSet.noneOf(Field.class);

        private Builder() {
        }

        private Builder(SamplingParams p) {
            temperature = p.temperature;
            topK = p.topK;
            topP = p.topP;
            minP = p.minP;
            repetitionPenalty = p.repetitionPenalty;
            presencePenalty = p.presencePenalty;
            frequencyPenalty = p.frequencyPenalty;
            logitBias = p.logitBias;
            seed = p.seed;
            maxTokens = p.maxTokens;
            stop = p.stop;
            stopTokenIds = p.stopTokenIds;
            ignoreEos = p.ignoreEos;
            logprobs = p.logprobs;
            topLogprobs = p.topLogprobs;
            constraint = p.constraint;
            set.addAll(p.explicitFields);
        }

        public Builder temperature(double temperature) {
            this.temperature = temperature;
            set.add(Field.TEMPERATURE);
            return this;
        }

        public Builder topK(int topK) {
            this.topK = topK;
            set.add(Field.TOP_K);
            return this;
        }

        public Builder topP(double topP) {
            this.topP = topP;
            set.add(Field.TOP_P);
            return this;
        }

        public Builder minP(double minP) {
            this.minP = minP;
            set.add(Field.MIN_P);
            return this;
        }

        public Builder repetitionPenalty(double repetitionPenalty) {
            this.repetitionPenalty = repetitionPenalty;
            set.add(Field.REPETITION_PENALTY);
            return this;
        }

        public Builder presencePenalty(double presencePenalty) {
            this.presencePenalty = presencePenalty;
            set.add(Field.PRESENCE_PENALTY);
            return this;
        }

        public Builder frequencyPenalty(double frequencyPenalty) {
            this.frequencyPenalty = frequencyPenalty;
            set.add(Field.FREQUENCY_PENALTY);
            return this;
        }

        public Builder logitBias(Map<Integer, Double> logitBias) {
            this.logitBias = logitBias;
            set.add(Field.LOGIT_BIAS);
            return this;
        }

        public Builder seed(Long seed) {
            this.seed = seed;
            set.add(Field.SEED);
            return this;
        }

        public Builder maxTokens(int maxTokens) {
            this.maxTokens = maxTokens;
            set.add(Field.MAX_TOKENS);
            return this;
        }

        public Builder stop(List<String> stop) {
            this.stop = stop;
            set.add(Field.STOP);
            return this;
        }

        public Builder stopTokenIds(Collection<Integer> stopTokenIds) {
            // LinkedHashSet keeps nulls so that validation can name them instead of failing here.
            this.stopTokenIds = stopTokenIds == null ? null : new LinkedHashSet<>(stopTokenIds);
            set.add(Field.STOP_TOKEN_IDS);
            return this;
        }

        public Builder ignoreEos(boolean ignoreEos) {
            this.ignoreEos = ignoreEos;
            set.add(Field.IGNORE_EOS);
            return this;
        }

        public Builder logprobs(boolean logprobs) {
            this.logprobs = logprobs;
            set.add(Field.LOGPROBS);
            return this;
        }

        public Builder topLogprobs(int topLogprobs) {
            this.topLogprobs = topLogprobs;
            set.add(Field.TOP_LOGPROBS);
            return this;
        }

        /** Constrains the output to a schema's language (null: free text); no model default touches it. */
        public Builder constraint(TokenConstraint constraint) {
            this.constraint = constraint;
            return this;
        }

        /** Validates and builds; throws {@link SamplingParamException} naming the first bad field. */
        public SamplingParams build() {
            return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty,
                    frequencyPenalty, logitBias, seed, maxTokens, stop, stopTokenIds, ignoreEos, logprobs,
                    topLogprobs, set, constraint);
        }
    }
}
