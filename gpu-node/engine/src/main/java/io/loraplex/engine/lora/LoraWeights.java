package io.loraplex.engine.lora;

/**
 * One adapted projection: {@code delta(x) = scale · (x·Aᵀ)·Bᵀ}.
 *
 * @param a (R, in) row-major
 * @param b (out, R) row-major
 */
public record LoraWeights(int rank, int in, int out, float scale, float[] a, float[] b) {

    public LoraWeights {
        if (a.length != rank * in || b.length != out * rank) {
            throw new IllegalArgumentException("LoRA weights do not match rank " + rank + ", in " + in + ", out " + out);
        }
    }

    public long parameterCount() {
        return (long) a.length + b.length;
    }
}
