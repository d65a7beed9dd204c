package io.loraplex.engine.model;

/**
 * Rotary position embedding in Hugging Face's rotate-half convention: dimension {@code i} of a head
 * pairs with {@code i + HS/2}, rotated by {@code position · invFreq[i]}.
 */
public final class Rope {

    private final double[] invFreq; // (HS/2)

    public Rope(ModelConfig config) {
        this.invFreq = inverseFrequencies(config);
    }

    /** The per-pair frequencies, with rope_scaling applied as transformers does. */
    public static double[] inverseFrequencies(ModelConfig config) {
        int half = config.headDim() / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) {
            inv[i] = 1.0 / Math.pow(config.ropeTheta(), (2.0 * i) / config.headDim());
        }
        RopeScaling s = config.ropeScaling();
        if (s == null) {
            return inv;
        }
        switch (s.type()) {
            case LINEAR -> {
                for (int i = 0; i < half; i++) {
                    inv[i] /= s.factor();
                }
            }
            case LLAMA3 -> {
                double lowFreqWavelen = s.originalMaxPositions() / s.lowFreqFactor();
                double highFreqWavelen = s.originalMaxPositions() / s.highFreqFactor();
                for (int i = 0; i < half; i++) {
                    double wavelen = 2 * Math.PI / inv[i];
                    if (wavelen < highFreqWavelen) {
                        continue; // high frequencies stay as they are
                    }
                    if (wavelen > lowFreqWavelen) {
                        inv[i] /= s.factor(); // low frequencies are interpolated
                    } else {
                        double smooth = (s.originalMaxPositions() / wavelen - s.lowFreqFactor())
                                / (s.highFreqFactor() - s.lowFreqFactor());
                        inv[i] = (1 - smooth) * inv[i] / s.factor() + smooth * inv[i];
                    }
                }
            }
        }
        return inv;
    }

    public int pairs() {
        return invFreq.length;
    }

    /** Fills {@code cos[off…off+HS/2)} and {@code sin[…]} for one position. */
    public void angles(int position, float[] cos, float[] sin, int off) {
        for (int i = 0; i < invFreq.length; i++) {
            double angle = position * invFreq[i];
            cos[off + i] = (float) Math.cos(angle);
            sin[off + i] = (float) Math.sin(angle);
        }
    }

    /** Rotates one head of {@code HS} values at {@code x[off…]} in place. */
    public static void rotate(float[] x, int off, float[] cos, float[] sin, int angleOff, int half) {
        for (int i = 0; i < half; i++) {
            float a = x[off + i];
            float b = x[off + i + half];
            float c = cos[angleOff + i];
            float s = sin[angleOff + i];
            x[off + i] = a * c - b * s;
            x[off + i + half] = b * c + a * s;
        }
    }
}
