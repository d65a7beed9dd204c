package io.loraplex.simulations.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ZipfTest {

    @Test
    void probabilitiesFollowTheInversePowerOfTheRankAndSumToOne() {
        Zipf zipf = Zipf.of(5, 1.0);
        double h = 1 + 1 / 2.0 + 1 / 3.0 + 1 / 4.0 + 1 / 5.0;
        double sum = 0;
        for (int k = 0; k < 5; k++) {
            assertEquals(1 / ((k + 1) * h), zipf.probability(k), 1e-12, "rank " + k);
            sum += zipf.probability(k);
        }
        assertEquals(1.0, sum, 1e-12);
    }

    @Test
    void exponentZeroIsUniform() {
        Zipf zipf = Zipf.of(4, 0);
        for (int k = 0; k < 4; k++) {
            assertEquals(0.25, zipf.probability(k), 1e-12);
        }
    }

    @Test
    void samplesLandOnEveryRankInProportionToItsProbability() {
        Zipf zipf = Zipf.of(12, 1.1);
        int[] counts = new int[12];
        SplittableRandom random = new SplittableRandom(7);
        int n = 200_000;
        for (int i = 0; i < n; i++) {
            counts[zipf.sample(random.nextDouble())]++;
        }
        for (int k = 0; k < 12; k++) {
            double expected = zipf.probability(k) * n;
            // five standard deviations of a binomial count: never flaky with a fixed seed, and it catches an off-by-one
            assertTrue(Math.abs(counts[k] - expected) < 5 * Math.sqrt(expected), "rank " + k + ": " + counts[k] + " vs " + expected);
        }
    }

    @Test
    void theEdgesOfTheUnitIntervalMapToTheFirstAndLastRank() {
        Zipf zipf = Zipf.of(3, 2.0);
        assertEquals(0, zipf.sample(0.0));
        assertEquals(2, zipf.sample(Math.nextDown(1.0)));
        assertEquals(0, Zipf.of(1, 1.0).sample(0.999));
    }

    @Test
    void badArgumentsAreRefusedNamingTheValue() {
        assertEquals("a Zipf law needs at least one rank, got n = 0",
                assertThrows(IllegalArgumentException.class, () -> Zipf.of(0, 1.0)).getMessage());
        assertEquals("a Zipf exponent must be 0 or more, got -1.0",
                assertThrows(IllegalArgumentException.class, () -> Zipf.of(3, -1.0)).getMessage());
        assertEquals("u must be in [0, 1), got 1.0", assertThrows(IllegalArgumentException.class, () -> Zipf.of(3, 1.0).sample(1.0))
                .getMessage());
    }
}
