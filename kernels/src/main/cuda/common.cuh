// Helpers shared by the kernels: warp and block reductions, bf16 <-> f32.
// Every kernel accumulates in f32 and rounds to bf16 once, when it writes.
#pragma once
#include <cuda_bf16.h>

namespace loraplex {

constexpr int WARP = 32;
constexpr unsigned FULL_MASK = 0xffffffffu;

// The sum over the 32 lanes of a warp; every lane gets it (butterfly, so the order is fixed).
__device__ __forceinline__ float warp_sum(float v) {
    for (int offset = WARP / 2; offset > 0; offset >>= 1) {
        v += __shfl_xor_sync(FULL_MASK, v, offset);
    }
    return v;
}

// The sum over a whole block (blockDim.x a multiple of 32); every thread gets it.
// scratch: 32 floats of shared memory, free again when this returns.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
    const int lane = threadIdx.x % WARP;
    const int warp = threadIdx.x / WARP;
    v = warp_sum(v);
    if (lane == 0) {
        scratch[warp] = v;
    }
    __syncthreads();
    const int warps = blockDim.x / WARP;
    v = warp_sum(lane < warps ? scratch[lane] : 0.0f);
    __syncthreads();  // scratch may be written again by the caller's next reduction
    return v;
}

__device__ __forceinline__ float to_f32(__nv_bfloat16 x) {
    return __bfloat162float(x);
}

__device__ __forceinline__ __nv_bfloat16 to_bf16(float x) {
    return __float2bfloat16_rn(x);
}

// True when every pointer given is aligned to `bytes` (vector loads need it).
__device__ __forceinline__ bool aligned(const void* p, unsigned bytes) {
    return (reinterpret_cast<unsigned long long>(p) % bytes) == 0;
}

}  // namespace loraplex
