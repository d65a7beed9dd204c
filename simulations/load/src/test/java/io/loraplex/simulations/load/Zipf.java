package io.loraplex.simulations.load;

/**
 * A Zipf law over ranks {@code 0..n-1}: {@code P(k) = (k+1)^-s / H(n, s)}. Rank 0 is the most popular; s = 0 is
 * uniform. Sampling is a binary search in the cumulative distribution, so it is exact for any s and n.
 *
 * @param cumulative {@code cumulative[k] = P(0) + ... + P(k)}; the last entry is 1
 */
public record Zipf(double[] cumulative) {

    public Zipf {
        if (cumulative.length == 0) {
            throw new IllegalArgumentException("a Zipf law needs at least one rank");
        }
    }

    public static Zipf of(int n, double s) {
        if (n < 1) {
            throw new IllegalArgumentException("a Zipf law needs at least one rank, got n = " + n);
        }
        if (!(s >= 0)) {
            throw new IllegalArgumentException("a Zipf exponent must be 0 or more, got " + s);
        }
        double[] cdf = new double[n];
        double sum = 0;
        for (int k = 0; k < n; k++) {
            sum += Math.pow(k + 1, -s);
            cdf[k] = sum;
        }
        for (int k = 0; k < n; k++) {
            cdf[k] /= sum;
        }
        cdf[n - 1] = 1.0; // no rounding gap above the last rank
        return new Zipf(cdf);
    }

    public int ranks() {
        return cumulative.length;
    }

    /** The probability of rank {@code k}. */
    public double probability(int k) {
        return k == 0 ? cumulative[0] : cumulative[k] - cumulative[k - 1];
    }

    /** The rank drawn by a uniform {@code u} in [0, 1): the first rank whose cumulative probability exceeds u. */
    public int sample(double u) {
        if (!(u >= 0 && u < 1)) {
            throw new IllegalArgumentException("u must be in [0, 1), got " + u);
        }
        int lo = 0;
        int hi = cumulative.length - 1;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (cumulative[mid] > u) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return lo;
    }
}
