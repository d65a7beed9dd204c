package io.loraplex.engine.backend.cuda;

/**
 * common.cuh's reductions in their order, so the host sums what the GPU sums in the same sequence:
 * a warp's butterfly ({@code v += shfl_xor(v, 16, 8, 4, 2, 1)}; every lane ends with the same sum
 * because f32 addition is commutative) and the block sum built on it.
 */
final class HostReductions {

    static final int WARP = 32;

    private HostReductions() {
    }

    /** {@code warp_sum}: the 32 lanes' values (lanes past the array's end count as 0). */
    static float warpSum(float[] lanes) {
        float[] v = new float[WARP];
        System.arraycopy(lanes, 0, v, 0, Math.min(WARP, lanes.length));
        for (int offset = WARP / 2; offset > 0; offset >>= 1) {
            float[] next = new float[WARP];
            for (int i = 0; i < WARP; i++) {
                next[i] = v[i] + v[i ^ offset];
            }
            v = next;
        }
        return v[0];
    }

    /** {@code block_sum}: each warp's sum, then the warp sums (in warp order) summed by warp 0. */
    static float blockSum(float[] threads) {
        int warps = threads.length / WARP;
        float[] partial = new float[WARP];
        float[] lanes = new float[WARP];
        for (int w = 0; w < warps; w++) {
            System.arraycopy(threads, w * WARP, lanes, 0, WARP);
            partial[w] = warpSum(lanes);
        }
        return warpSum(partial);
    }
}
