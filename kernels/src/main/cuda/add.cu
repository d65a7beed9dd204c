// Element-wise adds on bf16 rows: the residual connection and a projection's bias.
//
//   loraplex_add:       x[r, i] += delta[r, i]        r < rows, i < n
//   loraplex_add_bias:  y[r, i] += bias[i]
//
// Each sum is one f32 add of the two bf16 values, rounded once to bf16 at the store.
// Layouts (row-major, bf16):
//   x      (rows, n)  row stride x_stride
//   delta  (rows, n)  row stride delta_stride
//   y      (rows, n)  row stride y_stride (a column slice of a fused output: pass its first element)
//   bias   (n)
// Launch: grid (ceil(n / 256), rows), block 256: one thread per element.
#include "common.cuh"

using namespace loraplex;

extern "C" __global__ void loraplex_add(
        __nv_bfloat16* x, const __nv_bfloat16* delta, int rows, int n, int x_stride, int delta_stride) {
    const int r = blockIdx.y;
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows || i >= n) {
        return;
    }
    __nv_bfloat16* xi = x + static_cast<long long>(r) * x_stride + i;
    *xi = to_bf16(to_f32(*xi) + to_f32(delta[static_cast<long long>(r) * delta_stride + i]));
}

extern "C" __global__ void loraplex_add_bias(
        __nv_bfloat16* y, const __nv_bfloat16* bias, int rows, int n, int y_stride) {
    const int r = blockIdx.y;
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows || i >= n) {
        return;
    }
    __nv_bfloat16* yi = y + static_cast<long long>(r) * y_stride + i;
    *yi = to_bf16(to_f32(*yi) + to_f32(bias[i]));
}
