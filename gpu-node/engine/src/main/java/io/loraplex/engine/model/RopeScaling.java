package io.loraplex.engine.model;

import java.util.List;

/**
 * The {@code rope_scaling} of a config.json. Supported: {@code linear} (positions divided by
 * {@code factor}), {@code llama3} (frequencies scaled by wavelength band) and {@code longrope}
 * (Phi-3: per-pair {@code short_factor} / {@code long_factor}, the long ones for sequences longer
 * than {@code original_max_position_embeddings}, cos and sin scaled by an attention factor).
 *
 * @param shortFactor     longrope: (rotary/2) divisors of the inverse frequencies for short sequences; empty otherwise
 * @param longFactor      longrope: (rotary/2) divisors for sequences longer than {@code originalMaxPositions}
 * @param attentionFactor longrope: the config's explicit {@code attention_factor}, or null for HF's default
 *                        {@code sqrt(1 + ln(factor)/ln(original_max))}
 */
public record RopeScaling(Type type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions,
        List<Double> shortFactor, List<Double> longFactor, Double attentionFactor) {

    public enum Type { LINEAR, LLAMA3, LONGROPE }

    public RopeScaling {
        if (!(factor > 0)) {
            throw new IllegalArgumentException("rope_scaling.factor must be > 0, got " + factor);
        }
        if (type == Type.LLAMA3) {
            if (!(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor)) {
                throw new IllegalArgumentException("rope_scaling llama3 needs 0 < low_freq_factor < high_freq_factor, got "
                        + lowFreqFactor + " and " + highFreqFactor);
            }
            if (originalMaxPositions <= 0) {
                throw new IllegalArgumentException("rope_scaling llama3 needs original_max_position_embeddings > 0");
            }
        }
        shortFactor = List.copyOf(shortFactor);
        longFactor = List.copyOf(longFactor);
        if (type == Type.LONGROPE) {
            if (originalMaxPositions <= 0) {
                throw new IllegalArgumentException("rope_scaling longrope needs original_max_position_embeddings > 0, got "
                        + originalMaxPositions);
            }
            if (shortFactor.isEmpty() || shortFactor.size() != longFactor.size()) {
                throw new IllegalArgumentException("rope_scaling longrope needs short_factor and long_factor of equal, "
                        + "non-zero length, got " + shortFactor.size() + " and " + longFactor.size());
            }
            for (List<Double> f : List.of(shortFactor, longFactor)) {
                for (double v : f) {
                    if (!(v > 0) || Double.isInfinite(v)) {
                        throw new IllegalArgumentException("rope_scaling longrope factors must be finite and > 0, got " + v);
                    }
                }
            }
            if (attentionFactor != null && !(attentionFactor > 0)) {
                throw new IllegalArgumentException("rope_scaling.attention_factor must be > 0, got " + attentionFactor);
            }
        }
    }

    public static RopeScaling linear(double factor) {
        return new RopeScaling(Type.LINEAR, factor, 0, 0, 0, List.of(), List.of(), null);
    }

    public static RopeScaling llama3(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
        return new RopeScaling(Type.LLAMA3, factor, lowFreqFactor, highFreqFactor, originalMaxPositions, List.of(), List.of(),
                null);
    }

    /**
     * Phi-3's LongRoPE. {@code factor} is informational here ({@code max_position_embeddings /
     * original_max}, which is what HF derives the attention factor from).
     */
    public static RopeScaling longrope(List<Double> shortFactor, List<Double> longFactor, int originalMaxPositions,
            double factor, Double attentionFactor) {
        return new RopeScaling(Type.LONGROPE, factor, 0, 0, originalMaxPositions, shortFactor, longFactor, attentionFactor);
    }
}
