package io.loraplex.engine.sample;

import java.util.Arrays;

/**
 * Ranks tokens by logit, highest first, ties to the lowest id, using one {@code long} per token:
 * the logit in the high 32 bits (re-encoded so that signed comparison orders floats) and the
 * complemented id in the low 32. Sorting and heaps then work on primitives, with no comparator
 * and no boxing, and the order is total, so every path that ranks tokens agrees on it.
 */
final class TokenRanking {

    private static final long LOW_32 = 0xFFFF_FFFFL;

    private TokenRanking() {
    }

    /** The rank key of token {@code id} with logit {@code value}; greater key = better rank. */
    static long key(float value, int id) {
        int bits = Float.floatToRawIntBits(value + 0.0f); // + 0.0f turns -0.0 into 0.0, so they tie
        int ordered = bits ^ ((bits >> 31) & 0x7FFF_FFFF); // negative floats: reverse the magnitude order
        return ((long) ordered << 32) | (~id & LOW_32);
    }

    /** The logit a key was made from (-0.0 comes back as 0.0). */
    static float value(long key) {
        int ordered = (int) (key >>> 32);
        return Float.intBitsToFloat(ordered ^ ((ordered >> 31) & 0x7FFF_FFFF));
    }

    /** The token id a key was made from. */
    static int id(long key) {
        return ~(int) key;
    }

    /**
     * The {@code k} best tokens of {@code values[from .. from+count)}, best first, into
     * {@code out[0..k)}; ids are relative to {@code from}. A min-heap of size k, so the cost is
     * about {@code count} comparisons plus {@code k log k} for the final sort.
     */
    static void selectTop(float[] values, int from, int count, int k, long[] out) {
        if (k < 1 || k > count || k > out.length) {
            throw new IllegalArgumentException("k must be between 1 and min(count " + count + ", buffer "
                    + out.length + "), got " + k);
        }
        for (int i = 0; i < k; i++) {
            out[i] = key(values[from + i], i);
        }
        // Heapify bottom-up: out[0] becomes the worst of the k kept so far.
        for (int i = k / 2 - 1; i >= 0; i--) {
            siftDown(out, i, k);
        }
        // Ids only grow, so a value no better than the worst kept one can never enter: a plain float
        // comparison rejects almost every token before any key is built.
        float floor = value(out[0]);
        for (int i = k; i < count; i++) {
            float v = values[from + i];
            if (v > floor) {
                out[0] = key(v, i);
                siftDown(out, 0, k);
                floor = value(out[0]);
            }
        }
        sortDescending(out, k);
    }

    /** Sorts {@code keys[0..n)} best first. */
    static void sortDescending(long[] keys, int n) {
        Arrays.sort(keys, 0, n);
        for (int i = 0, j = n - 1; i < j; i++, j--) {
            long t = keys[i];
            keys[i] = keys[j];
            keys[j] = t;
        }
    }

    private static void siftDown(long[] heap, int i, int size) {
        long item = heap[i];
        while (true) {
            int child = 2 * i + 1;
            if (child >= size) {
                break;
            }
            if (child + 1 < size && heap[child + 1] < heap[child]) {
                child++;
            }
            if (heap[child] >= item) {
                break;
            }
            heap[i] = heap[child];
            i = child;
        }
        heap[i] = item;
    }
}
