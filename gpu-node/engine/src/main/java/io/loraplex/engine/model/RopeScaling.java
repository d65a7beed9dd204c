package io.loraplex.engine.model;

/**
 * The {@code rope_scaling} of a config.json. Supported: {@code linear} (positions divided by
 * {@code factor}) and {@code llama3} (frequencies scaled by wavelength band).
 */
public record RopeScaling(Type type, double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {

    public enum Type { LINEAR, LLAMA3 }

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
    }

    public static RopeScaling linear(double factor) {
        return new RopeScaling(Type.LINEAR, factor, 0, 0, 0);
    }

    public static RopeScaling llama3(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositions) {
        return new RopeScaling(Type.LLAMA3, factor, lowFreqFactor, highFreqFactor, originalMaxPositions);
    }
}
