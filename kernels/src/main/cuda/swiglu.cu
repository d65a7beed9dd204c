// SwiGLU, the gated activation of the MLP:
//
//   out[t, i] = silu(gate[t, i]) * up[t, i],   silu(g) = g / (1 + exp(-g))
//
// Layouts (row-major, bf16), with row strides so gate and up may be the halves of one fused
// gate_up projection (T, 2·I):
//   out   (T, I)  row stride out_stride; out may equal gate
//   gate  (T, I)  row stride gate_stride
//   up    (T, I)  row stride up_stride
// f32 math, one rounding at the store.
// Launch: grid (T), block 256.
#include "common.cuh"

using namespace loraplex;

extern "C" __global__ void loraplex_swiglu(
        __nv_bfloat16* out, const __nv_bfloat16* gate, const __nv_bfloat16* up,
        int num_tokens, int intermediate, int out_stride, int gate_stride, int up_stride) {
    const int t = blockIdx.x;
    if (t >= num_tokens) {
        return;
    }
    const __nv_bfloat16* g = gate + static_cast<long long>(t) * gate_stride;
    const __nv_bfloat16* u = up + static_cast<long long>(t) * up_stride;
    __nv_bfloat16* y = out + static_cast<long long>(t) * out_stride;
    for (int i = threadIdx.x; i < intermediate; i += blockDim.x) {
        const float gv = to_f32(g[i]);
        y[i] = to_bf16(gv / (1.0f + expf(-gv)) * to_f32(u[i]));
    }
}
