// The sampling inputs of each logit row, so that a greedy step copies back two floats and an int per
// row instead of V floats:
//
//   stats[2r]     = m = max_i logits[r, i]
//   stats[2r + 1] = log(sum_i exp(logits[r, i] - m)) + m          (the row's log-sum-exp)
//   argmax[r]     = the smallest i with logits[r, i] = m
//
// NaN never wins the max (a row of NaNs only has argmax -1 and m = -inf); a NaN elsewhere makes the
// log-sum-exp NaN, which the host sees. A row of -inf only has m = -inf, log-sum-exp -inf, argmax 0.
// Layouts (row-major, f32):
//   logits  (rows, V)  row stride stride (the lm head's f32 output)
//   stats   (rows, 2)
//   argmax  (rows)     int32
// Each thread takes every blockDim.x-th column; the exp sum is f32 per thread, then a block sum.
// Launch: grid (rows), block 256.
#include "common.cuh"

using namespace loraplex;

constexpr int NO_INDEX = 0x7fffffff;  // no column compared greater yet (loses every tie)

// (v, i) beats (best, at): larger value, or the same value at a smaller index; NaN never beats
__device__ __forceinline__ bool beats(float v, int i, float best, int at) {
    return v > best || (v == best && i < at);
}

extern "C" __global__ void loraplex_logits_argmax(
        float* stats, int* argmax, const float* logits, int rows, int vocab, int stride) {
    __shared__ float warp_best[WARP];
    __shared__ int warp_at[WARP];
    __shared__ float scratch[WARP];
    const int row = blockIdx.x;
    if (row >= rows) {
        return;
    }
    const float* l = logits + static_cast<long long>(row) * stride;
    float best = -INFINITY;
    int at = NO_INDEX;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        const float v = l[i];
        if (beats(v, i, best, at)) {
            best = v;
            at = i;
        }
    }
    for (int offset = WARP / 2; offset > 0; offset >>= 1) {
        const float other = __shfl_xor_sync(FULL_MASK, best, offset);
        const int other_at = __shfl_xor_sync(FULL_MASK, at, offset);
        if (beats(other, other_at, best, at)) {
            best = other;
            at = other_at;
        }
    }
    const int lane = threadIdx.x % WARP;
    const int warp = threadIdx.x / WARP;
    if (lane == 0) {
        warp_best[warp] = best;
        warp_at[warp] = at;
    }
    __syncthreads();
    best = -INFINITY;
    at = NO_INDEX;
    for (int w = 0; w < static_cast<int>(blockDim.x) / WARP; w++) {
        if (beats(warp_best[w], warp_at[w], best, at)) {
            best = warp_best[w];
            at = warp_at[w];
        }
    }
    // every thread now holds the row's max; -inf (nothing but -inf or NaN) has no meaningful exp sum
    float sum = 0.0f;
    if (best != -INFINITY) {
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
            sum += expf(l[i] - best);
        }
    }
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) {
        stats[2 * row] = best;
        stats[2 * row + 1] = best == -INFINITY ? -INFINITY : logf(sum) + best;
        argmax[row] = at == NO_INDEX ? -1 : at;
    }
}
