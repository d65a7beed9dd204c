package io.loraplex.engine.backend;

import static io.loraplex.engine.LogitAsserts.assertBitwise;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.Tensor;
import io.loraplex.engine.model.WeightFormat;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The panel GEMM and GEMV against their plain reference, {@link PanelMatrix#dot} (scalar
 * {@code Math.fma} in the order the kernels promise): bit-identical for every dtype, for both tile
 * sets (AVX-512's and the 16-register one, both run here since the kernels are written for any
 * vector width), for every token count (a lone token takes the GEMV, others the tiles with a short
 * last tile) and for a slice of panels (the backend's tasks). And the packing: a panel holds the
 * very weights {@link WeightFormat#convert} makes of the same row-major tensor.
 */
class PanelKernelsTest {

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = DType.class)
    void everyTileAndTheGemvEqualThePlainReferenceBitForBit(DType dtype) {
        SplittableRandom random = new SplittableRandom(11);
        for (int n : new int[] {32, 96, 160}) {
            for (int rows : new int[] {1, 13, PanelMatrix.LANES * 4 + 3, 150}) {
                PanelMatrix w = PanelMatrix.pack(randomF32(rows, n, random), dtype);
                for (int tokens : new int[] {1, 2, 5, 6, 7, 13}) {
                    float[] x = gaussian(tokens * n, random);
                    float[] expected = new float[tokens * rows];
                    for (int t = 0; t < tokens; t++) {
                        for (int o = 0; o < rows; o++) {
                            expected[t * rows + o] = w.dot(x, t * n, o);
                        }
                    }
                    for (boolean wide : new boolean[] {true, false}) {
                        float[] y = new float[tokens * rows];
                        PanelKernels.matmul(x, n, tokens, w, 0, w.panels(), y, rows, 0, PanelKernels.tileBuffer(), wide);
                        assertBitwise(expected, y, dtype + (wide ? " wide" : " narrow") + ": n " + n + ", rows " + rows + ", tokens " + tokens);
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = DType.class)
    void aSliceOfPanelsWritesOnlyItsRowsWithTheBitsOfTheWhole(DType dtype) {
        SplittableRandom random = new SplittableRandom(12);
        int n = 64;
        int rows = PanelMatrix.LANES * 8 + 5;
        PanelMatrix w = PanelMatrix.pack(randomF32(rows, n, random), dtype);
        float[] x = gaussian(3 * n, random);
        float[] whole = new float[3 * rows];
        PanelKernels.matmul(x, n, 3, w, 0, w.panels(), whole, rows, 0, PanelKernels.tileBuffer());
        float[] part = new float[3 * rows];
        java.util.Arrays.fill(part, Float.NaN);
        int from = PanelMatrix.GROUP;
        PanelKernels.matmul(x, n, 3, w, from, w.panels(), part, rows, 0, PanelKernels.tileBuffer());
        int firstRow = from * PanelMatrix.LANES;
        for (int t = 0; t < 3; t++) {
            assertBitwise(java.util.Arrays.copyOfRange(whole, t * rows + firstRow, (t + 1) * rows),
                    java.util.Arrays.copyOfRange(part, t * rows + firstRow, (t + 1) * rows), "token " + t);
            for (int o = 0; o < firstRow; o++) {
                assertEquals(Float.NaN, part[t * rows + o], "row " + o + " is outside the slice and stays unwritten");
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = DType.class)
    void aPanelHoldsTheWeightsTheRowMajorConversionMakes(DType dtype) {
        // x = a one-hot row picks out one weight: fma(1, w, 0) = w, and for blocks fma(1, q, 0)·scale = q·scale
        SplittableRandom random = new SplittableRandom(13);
        int n = 64;
        int rows = 21;
        Tensor source = randomF32(rows, n, random);
        Tensor rowMajor = WeightFormat.convert(source, dtype);
        for (Tensor from : new Tensor[] {source, rowMajor}) {
            PanelMatrix w = PanelMatrix.pack(from, dtype);
            float[] x = new float[n];
            for (int k = 0; k < n; k++) {
                x[k] = 1f;
                for (int o = 0; o < rows; o++) {
                    assertEquals(rowMajor.get((long) o * n + k), w.dot(x, 0, o), 0f,
                            dtype + " from " + from.dtype() + ": row " + o + ", input " + k);
                }
                x[k] = 0f;
            }
        }
    }

    @Test
    void halfPrecisionSubnormalsInfinitiesAndSignedZerosWidenInRegistersAsFloat16ToFloatDoes() {
        // every f16 bit pattern but the NaNs, as weights against one-hot inputs; the reference widens with
        // Float.float16ToFloat (a row holding an infinity gives 0·inf = NaN in both, which is still a comparison)
        int n = 32;
        int patterns = 0x10000;
        int rows = patterns / n;
        MemorySegment data = Arena.ofAuto().allocate((long) rows * n * 2, 2);
        for (int i = 0; i < patterns; i++) {
            int bits = (i & 0x7c00) == 0x7c00 && (i & 0x3ff) != 0 ? 0x3c00 : i; // NaNs replaced by 1.0
            data.setAtIndex(Tensor.U16, i, (short) bits);
        }
        PanelMatrix w = PanelMatrix.pack(new Tensor("f16", DType.F16, new long[] {rows, n}, data), DType.F16);
        for (int k = 0; k < n; k++) {
            float[] x = new float[2 * n];
            x[k] = 1f;
            x[n + k] = 1f;
            float[] y = new float[2 * rows];
            PanelKernels.matmul(x, n, 2, w, 0, w.panels(), y, rows, 0, PanelKernels.tileBuffer());
            float[] gemv = new float[rows];
            PanelKernels.matmul(x, n, 1, w, 0, w.panels(), gemv, rows, 0, PanelKernels.tileBuffer());
            for (int o = 0; o < rows; o++) {
                float expected = w.dot(x, 0, o);
                assertEquals(expected, y[o], 0f, "tile: f16 bits 0x" + Integer.toHexString(o * n + k));
                assertEquals(expected, gemv[o], 0f, "gemv: f16 bits 0x" + Integer.toHexString(o * n + k));
            }
        }
    }

    private static float[] gaussian(int count, SplittableRandom random) {
        float[] x = new float[count];
        for (int i = 0; i < count; i++) {
            x[i] = (float) random.nextGaussian();
        }
        return x;
    }

    static Tensor randomF32(int rows, int n, SplittableRandom random) {
        MemorySegment data = Arena.ofAuto().allocate((long) rows * n * 4, 4);
        for (long i = 0; i < (long) rows * n; i++) {
            data.setAtIndex(Tensor.F32, i, (float) random.nextGaussian() * 0.05f);
        }
        return new Tensor("w", DType.F32, new long[] {rows, n}, data);
    }
}
