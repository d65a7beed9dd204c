package io.loraplex.engine.lora;

/**
 * How large an adapter's numbers may be before the engine refuses it at load: each bound keeps one
 * adapter's contribution finite in f32, so it can never turn a batch's rows into Inf or NaN.
 *
 * <p>The gain bound is on {@code scale · ‖B‖_F · ‖A‖_F}. For any input x the delta is
 * {@code scale · B·(A·x)}, and {@code ‖B·A·x‖₂ ≤ ‖B‖₂·‖A‖₂·‖x‖₂ ≤ ‖B‖_F·‖A‖_F·‖x‖₂}: the Frobenius
 * norms cost one pass over the weights (no SVD) and bound the spectral norms from above, so the
 * check can refuse a harmless adapter but never admit one whose delta exceeds {@code gain · ‖x‖}.
 * Legit adapters sit near 1e1–1e3 (A from Kaiming init, ‖A‖_F ≈ √(r/3); B trained from zero; scale
 * α/r or α/√r). At 1e5, a delta after the input RMSNorm (‖x‖ ≈ √C ≤ 1e2) stays under 1e7, gate·up
 * under 1e14, and its square in the next RMSNorm under 1e28, far from f32's 3.4e38.
 *
 * @param maxAlpha  the largest {@code lora_alpha} (and {@code alpha_pattern} value); PEFT adapters use up to a few hundred
 * @param maxWeight the largest |element| of any lora_A or lora_B tensor
 * @param maxGain   the largest {@code scale · ‖B‖_F · ‖A‖_F} of one adapted projection
 */
public record AdapterBounds(double maxAlpha, double maxWeight, double maxGain) {

    /** The engine's defaults: 1024, 1e3 and 1e5. */
    public static final AdapterBounds DEFAULTS = new AdapterBounds(1024, 1e3, 1e5);
    /** No bounds beyond finiteness: only for tests that must load a poisoned adapter below validation. */
    public static final AdapterBounds UNBOUNDED = new AdapterBounds(Double.MAX_VALUE, Double.MAX_VALUE, Double.MAX_VALUE);

    public AdapterBounds {
        positive("maxLoraAlpha", maxAlpha);
        positive("maxAdapterWeight", maxWeight);
        positive("maxAdapterGain", maxGain);
    }

    private static void positive(String name, double value) {
        if (!(value > 0) || Double.isInfinite(value)) {
            throw new IllegalArgumentException(name + " must be a positive finite number, got " + value);
        }
    }
}
