package io.loraplex.engine.model;

/**
 * Rotary position embedding in Hugging Face's rotate-half convention: dimension {@code i} of a head
 * pairs with {@code i + rotary/2}, rotated by {@code position · invFreq[i]}; with a partial rotary
 * factor only the first {@code rotary} dimensions of a head turn, the rest pass through.
 *
 * <p>LongRoPE (Phi-3) has two frequency sets: a sequence whose length exceeds the original max uses
 * the long one, as transformers decides by {@code max(position_ids) + 1}; cos and sin are scaled by
 * the attention factor either way.
 */
public final class Rope {

    private final double[] invFreq;     // (rotary/2) short sequences, or the only set
    private final double[] longInvFreq; // (rotary/2) longrope beyond the original max, else the same as invFreq
    private final int originalMax;      // longrope: sequences longer than this use longInvFreq; else MAX_VALUE
    private final double attentionScale; // longrope's cos/sin multiplier, else 1

    public Rope(ModelConfig config) {
        this.invFreq = inverseFrequencies(config);
        RopeScaling s = config.ropeScaling();
        if (s != null && s.type() == RopeScaling.Type.LONGROPE) {
            this.longInvFreq = longropeFrequencies(config, s.longFactor());
            this.originalMax = s.originalMaxPositions();
            this.attentionScale = longropeAttentionFactor(s);
        } else {
            this.longInvFreq = invFreq;
            this.originalMax = Integer.MAX_VALUE;
            this.attentionScale = 1.0;
        }
    }

    /** HF's default: {@code sqrt(1 + ln(factor) / ln(original_max))} with factor = max / original max, 1 when not above 1. */
    static double longropeAttentionFactor(RopeScaling s) {
        if (s.attentionFactor() != null) {
            return s.attentionFactor();
        }
        return s.factor() <= 1.0 ? 1.0 : Math.sqrt(1 + Math.log(s.factor()) / Math.log(s.originalMaxPositions()));
    }

    /** {@code 1 / (ext[i] · theta^(2i/rotary))}. */
    private static double[] longropeFrequencies(ModelConfig config, java.util.List<Double> ext) {
        int dim = config.rotaryDim();
        double[] inv = new double[dim / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = 1.0 / (ext.get(i) * Math.pow(config.ropeTheta(), (2.0 * i) / dim));
        }
        return inv;
    }

    /** The per-pair frequencies, with rope_scaling applied as transformers does. */
    public static double[] inverseFrequencies(ModelConfig config) {
        RopeScaling s = config.ropeScaling();
        if (s != null && s.type() == RopeScaling.Type.LONGROPE) {
            return longropeFrequencies(config, s.shortFactor());
        }
        int half = config.rotaryDim() / 2;
        double[] inv = new double[half];
        for (int i = 0; i < half; i++) {
            inv[i] = 1.0 / Math.pow(config.ropeTheta(), (2.0 * i) / config.rotaryDim());
        }
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
            case LONGROPE -> throw new AssertionError("handled above");
        }
        return inv;
    }

    /** The inverse frequencies (rotary/2) a sequence of {@code sequenceLength} tokens uses. */
    public double[] inverseFrequencies(int sequenceLength) {
        return (sequenceLength > originalMax ? longInvFreq : invFreq).clone();
    }

    /** LongRoPE's cos/sin multiplier; 1 for every other RoPE. */
    public double attentionScale() {
        return attentionScale;
    }

    public int pairs() {
        return invFreq.length;
    }

    /** Fills {@code cos[off…off+rotary/2)} and {@code sin[…]} for one position. */
    public void angles(int position, float[] cos, float[] sin, int off) {
        angles(position, position + 1, cos, sin, off);
    }

    /**
     * Fills the angles of one position of a sequence that is {@code sequenceLength} long in this step
     * (its last position + 1), which picks LongRoPE's factor set.
     */
    public void angles(int position, int sequenceLength, float[] cos, float[] sin, int off) {
        double[] inv = sequenceLength > originalMax ? longInvFreq : invFreq;
        for (int i = 0; i < inv.length; i++) {
            double angle = position * inv[i];
            cos[off + i] = (float) (Math.cos(angle) * attentionScale);
            sin[off + i] = (float) (Math.sin(angle) * attentionScale);
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
