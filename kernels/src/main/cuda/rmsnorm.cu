// RMSNorm over rows:
//
//   out[r, i] = x[r, i] / sqrt(mean_j(x[r, j]^2) + eps) * g[i]
//   g[i] = add_one ? 1 + weight[i] : weight[i]         (Gemma stores the weight as w - 1)
//
// Layouts (row-major, bf16):
//   out, x  (rows, n)  row stride n; out may equal x (each thread reads its elements before it writes them)
//   weight  (n)
// The residual stream is rows = T, n = C; Qwen3's per-head q/k norms are rows = T·NH (or T·NKV), n = HS.
// The sum of squares, the scale and the product are f32; one rounding to bf16 at the store.
//
// loraplex_rmsnorm_rows gathers first: out row r is the norm of x row row_index[r] (x and out both
// contiguous rows of n; row_index (rows) int32), so the final norm runs on the logit rows only.
// Launch (both): grid (rows), block 256 (a multiple of 32, at most 1024).
#include "common.cuh"

using namespace loraplex;

// One row: yr = rmsnorm(xr); every thread of the block calls it.
__device__ __forceinline__ void rmsnorm_row(
        __nv_bfloat16* yr, const __nv_bfloat16* xr, const __nv_bfloat16* weight, int n, float eps, int add_one) {
    __shared__ float scratch[WARP];
    float squares = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = to_f32(xr[i]);
        squares = fmaf(v, v, squares);
    }
    const float inv = rsqrtf(block_sum(squares, scratch) / static_cast<float>(n) + eps);
    const float offset = add_one ? 1.0f : 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        yr[i] = to_bf16(to_f32(xr[i]) * inv * (offset + to_f32(weight[i])));
    }
}

extern "C" __global__ void loraplex_rmsnorm(
        __nv_bfloat16* out, const __nv_bfloat16* x, const __nv_bfloat16* weight,
        int rows, int n, float eps, int add_one) {
    const int row = blockIdx.x;
    if (row >= rows) {
        return;
    }
    rmsnorm_row(out + static_cast<long long>(row) * n, x + static_cast<long long>(row) * n, weight, n, eps, add_one);
}

extern "C" __global__ void loraplex_rmsnorm_rows(
        __nv_bfloat16* out, const __nv_bfloat16* x, const __nv_bfloat16* weight, const int* row_index,
        int rows, int n, float eps, int add_one) {
    const int row = blockIdx.x;
    if (row >= rows) {
        return;
    }
    rmsnorm_row(out + static_cast<long long>(row) * n, x + static_cast<long long>(row_index[row]) * n, weight, n, eps,
            add_one);
}
