package io.loraplex.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Quantization at load: Q8_0 and Q4_0 blocks as llama.cpp defines them, read back by {@link Tensor#get}. */
class WeightFormatTest {

    static Tensor f32(String name, int rows, int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        MemorySegment data = Arena.ofAuto().allocate((long) rows * n * 4, 4);
        for (int i = 0; i < rows * n; i++) {
            data.setAtIndex(Tensor.F32, i, (float) random.nextGaussian() * 0.1f);
        }
        return new Tensor(name, DType.F32, new long[] {rows, n}, data);
    }

    @Test
    void q8BlocksHoldRoundOfWeightOverMaxOver127() {
        Tensor w = f32("w", 3, 64, 1);
        Tensor q = WeightFormat.convert(w, DType.Q8_0);
        assertEquals(DType.Q8_0, q.dtype());
        assertEquals(3 * (64 + 2 * 4), q.data().byteSize(), "3 rows of 64 quants and 2 f32 scales");
        for (int r = 0; r < 3; r++) {
            for (int b = 0; b < 2; b++) {
                float max = 0;
                for (int j = 0; j < 32; j++) {
                    max = Math.max(max, Math.abs(w.get(r * 64L + b * 32 + j)));
                }
                float scale = max / 127f;
                for (int j = 0; j < 32; j++) {
                    long i = r * 64L + b * 32 + j;
                    float expected = Math.round(w.get(i) / scale) * scale;
                    assertEquals(expected, q.get(i), 0f, "element " + i);
                    assertTrue(Math.abs(q.get(i) - w.get(i)) <= scale / 2 * 1.0001f, "element " + i + " within half a step");
                }
            }
        }
    }

    @Test
    void q4BlocksPutTheLargestMagnitudeOnMinusEightAndPackTwoPerByte() {
        // one block: 0.8 is the largest magnitude, so scale = 0.8 / -8 = -0.1 and 0.8 is q = -8 exactly
        MemorySegment data = Arena.ofAuto().allocate(32 * 4, 4);
        float[] v = new float[32];
        v[0] = 0.8f;
        v[1] = -0.7f;  // q = 7
        v[16] = 0.31f; // q = -3 (0.31 / -0.1 = -3.1), the high nibble of byte 0
        v[17] = -0.9f + 0.2f; // q = 7
        for (int i = 0; i < 32; i++) {
            data.setAtIndex(Tensor.F32, i, v[i]);
        }
        Tensor q = WeightFormat.convert(new Tensor("w", DType.F32, new long[] {1, 32}, data), DType.Q4_0);
        assertEquals(16 + 4, q.data().byteSize(), "16 bytes of nibbles and one f32 scale");
        float scale = 0.8f / -8f;
        assertEquals(-8 * scale, q.get(0), 0f);
        assertEquals(7 * scale, q.get(1), 0f);
        assertEquals(-3 * scale, q.get(16), 0f);
        assertEquals(0f, q.get(5), 0f);
        // byte 0: element 0 (q -8 → nibble 0) low, element 16 (q -3 → nibble 5) high
        assertEquals((byte) 0x50, q.data().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void q4ErrorStaysWithinHalfAStepOfItsBlockOrAWholeOneWhereSevenClamps() {
        Tensor w = f32("w", 5, 96, 2);
        Tensor q = WeightFormat.convert(w, DType.Q4_0);
        for (long i = 0; i < 5 * 96; i++) {
            long block = i / 32;
            float m = 0;
            for (long j = block * 32; j < block * 32 + 32; j++) {
                m = Math.abs(w.get(j)) > Math.abs(m) ? w.get(j) : m;
            }
            float step = Math.abs(m / 8f);
            // -8..7 is lopsided: a weight on the far side of m beyond 7 steps clamps to 7, up to a whole step off
            boolean clamped = Math.round(w.get(i) / (m / -8f)) > 7;
            assertTrue(Math.abs(q.get(i) - w.get(i)) <= (clamped ? step : step / 2) * 1.0001f, "element " + i);
        }
    }

    @Test
    void aRowWidthThatIsNotAMultipleOf32IsRefusedNamingTheTensor() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> WeightFormat.convert(f32("model.layers.0.mlp.down_proj.weight", 2, 48, 3), DType.Q8_0));
        assertEquals("weight tensor 'model.layers.0.mlp.down_proj.weight' has rows of 48 weights; Q8_0 quantizes blocks of 32,"
                + " so its input width must be a multiple of 32", e.getMessage());
    }

    @Test
    void anUnknownFormatIsRefusedListingTheAllowedOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> WeightFormat.parse("int3"));
        assertEquals("unknown weights 'int3' (use f32, bf16, int8, int4)", e.getMessage());
    }

    @Test
    void bf16ConversionRoundsEachWeightToNearestEven() {
        Tensor w = f32("w", 2, 40, 4);
        Tensor b = WeightFormat.convert(w, DType.BF16);
        for (long i = 0; i < 80; i++) {
            assertEquals(DType.bf16ToFloat(DType.floatToBf16(w.get(i))), b.get(i), 0f);
        }
    }
}
