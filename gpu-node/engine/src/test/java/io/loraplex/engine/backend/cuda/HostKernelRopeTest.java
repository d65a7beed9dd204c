package io.loraplex.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.Rope;
import io.loraplex.kernels.Kernels;
import org.junit.jupiter.api.Test;

/**
 * rope.cu on the host against the engine's own {@link Rope} (the CPU backend's angles and rotation):
 * equal after bf16 rounding, since both take f64 angles and rotate in f32 in the same order.
 */
class HostKernelRopeTest {

    /** Rotates q and k, slices of one fused qkv row per token, and compares every element with Rope's. */
    private static void check(ModelConfig cfg, int[] positions, int[] sequenceLengths, long seed) {
        Rope rope = new Rope(cfg);
        int half = rope.pairs();
        int hs = cfg.headDim();
        int nh = cfg.numHeads();
        int nkv = cfg.numKvHeads();
        int stride = cfg.qDim() + 2 * cfg.kvDim(); // fused q | k | v
        int tokens = positions.length;
        int original = cfg.ropeScaling() != null && cfg.ropeScaling().originalMaxPositions() > 0
                ? cfg.ropeScaling().originalMaxPositions() : Integer.MAX_VALUE;
        boolean twoSets = cfg.ropeScaling() != null && cfg.ropeScaling().type() == io.loraplex.engine.model.RopeScaling.Type.LONGROPE;
        double[] invFreq = new double[(twoSets ? 2 : 1) * half];
        System.arraycopy(rope.inverseFrequencies(1), 0, invFreq, 0, half);
        int[] freqRow = new int[tokens];
        if (twoSets) {
            System.arraycopy(rope.inverseFrequencies(original + 1), 0, invFreq, half, half);
            for (int t = 0; t < tokens; t++) {
                freqRow[t] = sequenceLengths[t] > original ? 1 : 0;
            }
        }
        try (HostKernelFixture f = new HostKernelFixture(seed)) {
            float[] qkv = f.randomBf16(tokens * stride, 2);
            long buf = f.bf16(qkv);
            long freqRows = twoSets ? f.i32(freqRow) : 0L;
            f.launch(Kernels.ROPE, LaunchShape.of(tokens, 1, 128), buf, buf + 2L * cfg.qDim(), f.i32(positions),
                    f.f64(invFreq), freqRows, tokens, nh, nkv, hs, 2 * half, stride, stride, rope.attentionScale());
            float[] got = f.readBf16(buf, tokens * stride);
            float[] cos = new float[half];
            float[] sin = new float[half];
            for (int t = 0; t < tokens; t++) {
                rope.angles(positions[t], sequenceLengths[t], cos, sin, 0);
                float[] row = java.util.Arrays.copyOfRange(qkv, t * stride, (t + 1) * stride);
                for (int h = 0; h < nh + nkv; h++) { // k's heads follow q's in the fused row
                    Rope.rotate(row, h * hs, cos, sin, 0, half);
                }
                for (int i = 0; i < stride; i++) {
                    assertEquals(HostMemory.roundBf16(row[i]), got[t * stride + i], "token " + t + " element " + i);
                }
            }
            f.assertRefused("loraplex_rope: grid.x " + (tokens - 1) + " < num_tokens " + tokens, Kernels.ROPE,
                    LaunchShape.of(tokens - 1, 1, 128), buf, buf + 2L * cfg.qDim(), f.i32(positions), f.f64(invFreq),
                    freqRows, tokens, nh, nkv, hs, 2 * half, stride, stride, rope.attentionScale());
        }
    }

    @Test
    void ropeTurnsQAndKAsTheEnginesRopeDoesAtPositionsUpToAHundredThousand() {
        check(TestModels.llama(DType.F32), new int[] {0, 1, 7, 31, 4095, 100_003}, new int[] {1, 2, 8, 32, 4096, 100_004}, 41);
    }

    @Test
    void ropeTurnsOnlyTheRotaryDimensionsAndPicksLongRopesSetPerToken() {
        // phi3: 12 of 16 dims rotate; sequences longer than 64 take the long factors (freq_row 1)
        check(TestModels.phi3(DType.F32), new int[] {3, 63, 64, 90, 5}, new int[] {10, 64, 100, 100, 80}, 42);
    }
}
