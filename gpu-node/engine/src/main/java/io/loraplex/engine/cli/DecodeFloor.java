package io.loraplex.engine.cli;

import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.ModelConfig;
import java.util.Set;

/**
 * The least one GPU decode step can cost: every byte it must read at the device's measured read
 * bandwidth, or every FLOP at its measured bf16 GEMM rate, whichever is longer. Everything on the
 * device is bf16 (2 bytes): weights, KV cache, adapter pages.
 *
 * <pre>
 *   bytes = weights (L layers' q, k, v, o, gate, up, down; the lm head)            read once per step
 *         + B · (ctx + 1) · L · 2 · NKV·HS                                         each sequence's keys and values
 *         + A · L · Σ_modules R · (in + out)                                       the A distinct adapters' pages
 *   flops = 2 · B · weight parameters + 4 · B · (ctx + 1) · NH·HS · L + 2 · B · L · Σ_modules R · (in + out)
 * </pre>
 * Embedding rows, norm weights and activations are left out (under 0.1% at these shapes).
 *
 * @param bytes bytes read per step
 * @param flops floating-point operations per step
 */
record DecodeFloor(double bytes, double flops) {

    /** What the device measured: read bandwidth (bytes/s) and bf16 GEMM rate (FLOP/s). */
    record Peaks(double readBytesPerSecond, double gemmFlopsPerSecond) {
        Peaks {
            if (!(readBytesPerSecond > 0) || !(gemmFlopsPerSecond > 0)) {
                throw new IllegalArgumentException("measured peaks must be positive, got " + readBytesPerSecond + " B/s and "
                        + gemmFlopsPerSecond + " FLOP/s");
            }
        }
    }

    static final int BF16 = 2;

    /**
     * One decode step of {@code batch} sequences at position {@code context}, {@code distinct} adapters
     * of rank {@code rank} on {@code targets} among them ({@code adaptedTokens} tokens use one).
     */
    static DecodeFloor of(ModelConfig cfg, int batch, int context, int distinct, int adaptedTokens, int rank,
            Set<TargetModule> targets) {
        if (batch < 1 || context < 0 || distinct < 0 || adaptedTokens < 0 || adaptedTokens > batch || rank < 0) {
            throw new IllegalArgumentException("decode floor of batch " + batch + ", context " + context + ", " + distinct
                    + " adapters on " + adaptedTokens + " tokens, rank " + rank);
        }
        long c = cfg.hiddenSize();
        long layer = c * cfg.qDim() + 2 * c * cfg.kvDim() + (long) cfg.qDim() * c + 3 * c * cfg.intermediateSize();
        long weights = cfg.numLayers() * layer + (long) cfg.vocabSize() * c;
        long loraPerLayer = 0; // Σ R·(in + out) over the adapted modules of one layer
        for (TargetModule m : targets) {
            loraPerLayer += (long) rank * (m.inFeatures(cfg) + m.outFeatures(cfg));
        }
        long positions = (long) batch * (context + 1);
        double bytes = BF16 * ((double) weights
                + (double) positions * cfg.numLayers() * 2 * cfg.kvDim()
                + (double) distinct * cfg.numLayers() * loraPerLayer);
        double flops = 2.0 * batch * weights
                + 4.0 * positions * cfg.qDim() * cfg.numLayers()
                + 2.0 * adaptedTokens * cfg.numLayers() * loraPerLayer;
        return new DecodeFloor(bytes, flops);
    }

    /** The step's least time: reading its bytes or doing its FLOPs, whichever takes longer. */
    double seconds(Peaks peaks) {
        return Math.max(bytes / peaks.readBytesPerSecond(), flops / peaks.gemmFlopsPerSecond());
    }

    /** Which of the two bounds the step: "memory" or "compute". */
    String bound(Peaks peaks) {
        return bytes / peaks.readBytesPerSecond() >= flops / peaks.gemmFlopsPerSecond() ? "memory" : "compute";
    }
}
