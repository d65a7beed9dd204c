package io.loraplex.engine.backend.cuda;

/**
 * One base GEMM of a step, row-major as the engine stores everything:
 * <pre>
 *   c[i, j] = Σ_k a[i, k] · b[j, k]        i < m, j < n, k < kDim
 * </pre>
 * {@code a} (m, kDim) bf16 activations with row stride {@code lda}, {@code b} (n, kDim) bf16 weights
 * with row stride {@code ldb} (a projection's {@code (out, in)} rows, so this is {@code x·Wᵀ}),
 * {@code c} (m, n) with row stride {@code ldc}, bf16 or (for the lm head's logits) f32; f32
 * accumulation. Strides are in elements.
 */
public record Gemm(long a, int lda, long b, int ldb, long c, int ldc, int m, int n, int kDim, boolean f32Out) {

    public Gemm {
        if (m < 1 || n < 1 || kDim < 1) {
            throw new IllegalArgumentException("GEMM of " + m + "×" + n + "×" + kDim + ": every dimension must be positive");
        }
        if (lda < kDim || ldb < kDim || ldc < n) {
            throw new IllegalArgumentException("GEMM strides lda " + lda + ", ldb " + ldb + ", ldc " + ldc
                    + " shorter than their rows (k " + kDim + ", n " + n + ")");
        }
    }
}
