package io.loraplex.engine.backend;

import static io.loraplex.engine.LogitAsserts.assertBitwise;

import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.Tensor;
import io.loraplex.engine.model.WeightFormat;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The CPU backend's int8 and int4 projection kernels against a plain reference: dequantize the row
 * ({@link Tensor#copyTo}, what the reference backend reads) and take its dot in the kernels' fixed
 * order ({@link CpuKernels#dot}). The kernel dequantizes chunk by chunk in registers with the same
 * multiply, so the two are bit-identical, for decode (one token) and prefill (many) alike.
 */
class QuantizedKernelsTest {

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = DType.class, names = {"Q8_0", "Q4_0"})
    void matmulEqualsTheDotOfTheDequantizedRowBitForBit(DType dtype) {
        SplittableRandom random = new SplittableRandom(7);
        for (int n : new int[] {32, 96, 160}) {
            for (int rows : new int[] {1, 4, 13}) {
                Tensor w = WeightFormat.convert(randomF32(rows, n, random), dtype);
                for (int tokens : new int[] {1, 2, 5, 9}) {
                    float[] x = new float[tokens * n];
                    for (int i = 0; i < x.length; i++) {
                        x[i] = (float) random.nextGaussian();
                    }
                    float[] y = new float[tokens * rows];
                    CpuKernels.matmul(x, n, tokens, w.data(), dtype, n, 0, rows, y, rows, 0, new float[4 * n]);
                    float[] expected = new float[tokens * rows];
                    float[] row = new float[n];
                    for (int o = 0; o < rows; o++) {
                        w.copyTo((long) o * n, row, 0, n);
                        for (int t = 0; t < tokens; t++) {
                            expected[t * rows + o] = CpuKernels.dot(x, t * n, row, 0, n);
                        }
                    }
                    assertBitwise(expected, y, dtype + " n " + n + ", rows " + rows + ", tokens " + tokens);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = DType.class, names = {"Q8_0", "Q4_0"})
    void aSliceOfRowsGivesTheSameBitsAsTheWholeMatrix(DType dtype) {
        // the backend splits a projection's rows across threads: rows 5..12 alone equal the same rows of the whole
        SplittableRandom random = new SplittableRandom(8);
        int n = 64;
        int rows = 13;
        Tensor w = WeightFormat.convert(randomF32(rows, n, random), dtype);
        float[] x = new float[3 * n];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        float[] whole = new float[3 * rows];
        CpuKernels.matmul(x, n, 3, w.data(), dtype, n, 0, rows, whole, rows, 0, new float[4 * n]);
        float[] part = new float[3 * rows];
        CpuKernels.matmul(x, n, 3, w.data(), dtype, n, 5, rows, part, rows, 0, new float[4 * n]);
        for (int t = 0; t < 3; t++) {
            assertBitwise(java.util.Arrays.copyOfRange(whole, t * rows + 5, t * rows + rows),
                    java.util.Arrays.copyOfRange(part, t * rows + 5, t * rows + rows), "token " + t);
        }
    }

    static Tensor randomF32(int rows, int n, SplittableRandom random) {
        MemorySegment data = Arena.ofAuto().allocate((long) rows * n * 4, 4);
        for (long i = 0; i < (long) rows * n; i++) {
            data.setAtIndex(Tensor.F32, i, (float) random.nextGaussian() * 0.05f);
        }
        return new Tensor("w", DType.F32, new long[] {rows, n}, data);
    }
}
