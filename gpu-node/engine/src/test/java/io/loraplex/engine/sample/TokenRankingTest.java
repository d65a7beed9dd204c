package io.loraplex.engine.sample;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class TokenRankingTest {

    /** Value descending, then id ascending; -0.0 ties with 0.0 (they are the same logit). */
    private static Integer[] fullSort(float[] values) {
        Integer[] order = new Integer[values.length];
        for (int i = 0; i < values.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> values[a] > values[b] ? -1 : values[a] < values[b] ? 1 : Integer.compare(a, b));
        return order;
    }

    private static float[] valuesWithTies(long seed, int n) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] values = new float[n];
        float[] specials = {0.0f, -0.0f, Float.NEGATIVE_INFINITY, -Float.MAX_VALUE, Float.MIN_VALUE, -Float.MIN_VALUE};
        for (int i = 0; i < n; i++) {
            int pick = random.nextInt(10);
            values[i] = pick < specials.length ? specials[pick] : Math.round(random.nextGaussian() * 4) / 4f;
        }
        return values;
    }

    @Test
    void keysOrderLikeTheFullSort() {
        float[] values = valuesWithTies(1, 2000);
        Integer[] order = fullSort(values);
        for (int r = 1; r < order.length; r++) {
            long better = TokenRanking.key(values[order[r - 1]], order[r - 1]);
            long worse = TokenRanking.key(values[order[r]], order[r]);
            assertTrue(better > worse, "rank " + r + ": " + values[order[r - 1]] + "#" + order[r - 1]
                    + " before " + values[order[r]] + "#" + order[r]);
        }
        for (int i = 0; i < values.length; i++) {
            assertEquals(i, TokenRanking.id(TokenRanking.key(values[i], i)));
        }
    }

    @Test
    void selectTopEqualsThePrefixOfTheFullSort() {
        for (long seed = 0; seed < 5; seed++) {
            float[] values = valuesWithTies(seed, 3000);
            Integer[] order = fullSort(values);
            for (int k : new int[] {1, 2, 3, 17, 100, 2999, 3000}) {
                long[] out = new long[k];
                TokenRanking.selectTop(values, 0, values.length, k, out);
                for (int j = 0; j < k; j++) {
                    assertEquals(order[j], TokenRanking.id(out[j]), "seed " + seed + ", k " + k + ", rank " + j);
                }
            }
        }
    }

    @Test
    void selectTopReadsAWindow() {
        float[] row = valuesWithTies(9, 500);
        float[] batch = new float[1500];
        System.arraycopy(row, 0, batch, 500, 500);
        long[] fromRow = new long[10];
        long[] fromBatch = new long[10];
        TokenRanking.selectTop(row, 0, 500, 10, fromRow);
        TokenRanking.selectTop(batch, 500, 500, 10, fromBatch);
        assertEquals(Arrays.toString(fromRow), Arrays.toString(fromBatch));
    }
}
