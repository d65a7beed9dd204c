package io.loraplex.engine.backend;

import static io.loraplex.engine.LogitAsserts.assertBitwise;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The LoRA expand as a GEMM over a segment's tokens ({@link CpuKernels#expand}) against the plain
 * per-token path it replaced: for each token, {@code axpy} of every rank's B row into a zeroed delta
 * (ranks ascending), then {@code axpy} of the delta scaled into y. Bit-identical, so a prompt token
 * still gets the bits a lone decode token would, whatever the segment's length or column count.
 */
class LoraExpandTest {

    @Test
    void theTiledExpandEqualsThePerTokenAxpysBitForBit() {
        SplittableRandom random = new SplittableRandom(21);
        for (int outDim : new int[] {16, 64, 70, 200, 1024}) {
            for (int rank : new int[] {1, 3, 16}) {
                for (int tokens : new int[] {1, 2, 6, 7, 16}) {
                    // B's rows scattered over an arena with gaps, as pages hold them
                    float[] arena = new float[rank * (outDim + 37) + 5];
                    for (int i = 0; i < arena.length; i++) {
                        arena[i] = (float) random.nextGaussian();
                    }
                    int[] bRows = new int[rank];
                    for (int r = 0; r < rank; r++) {
                        bRows[r] = 5 + (rank - 1 - r) * (outDim + 37);
                    }
                    float[] s = new float[tokens * rank];
                    for (int i = 0; i < s.length; i++) {
                        s[i] = (float) random.nextGaussian();
                    }
                    float scale = 0.37f;
                    int yStride = outDim + 3;
                    float[] y = new float[tokens * yStride + 11];
                    for (int i = 0; i < y.length; i++) {
                        y[i] = (float) random.nextGaussian();
                    }
                    float[] expected = y.clone();
                    float[] delta = new float[outDim];
                    for (int t = 0; t < tokens; t++) {
                        java.util.Arrays.fill(delta, 0f);
                        for (int r = 0; r < rank; r++) {
                            CpuKernels.axpy(s[t * rank + r], arena, bRows[r], delta, 0, outDim);
                        }
                        CpuKernels.axpy(scale, delta, 0, expected, 11 + t * yStride, outDim);
                    }
                    CpuKernels.expand(s, rank, tokens, arena, bRows, outDim, scale, y, 11, yStride, new float[outDim]);
                    assertBitwise(expected, y, "out " + outDim + ", rank " + rank + ", tokens " + tokens);
                }
            }
        }
    }
}
