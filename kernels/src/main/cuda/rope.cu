// Rotary position embedding, in place on q and k, in the rotate-half ("neox") convention of the
// engine's CPU code (io.loraplex.engine.model.Rope): within each head, dimension i pairs with
// i + half, half = rotary_dim / 2, and dimensions at or above rotary_dim pass through (partial
// rotary, Phi-3):
//
//   angle = positions[t] * inv_freq[freq_row[t], i]                       (f64, as the CPU does)
//   c = (float)(cos(angle) * attention_scale),  s = (float)(sin(angle) * attention_scale)
//   a = x[i], b = x[i + half]
//   x[i] = a c - b s,  x[i + half] = b c + a s                              for i < half
//
// Layouts (row-major, bf16), row strides so q and k may be column slices of one fused qkv output:
//   q          (T, NH, HS)   token row stride q_stride, heads HS apart
//   k          (T, NKV, HS)  token row stride k_stride
//   positions  (T)           int32, each token's position in its sequence
//   inv_freq   (F, half)     f64 frequency sets; LongRoPE has two (short, long), others one
//   freq_row   (T)           int32 row of inv_freq per token (LongRoPE picks per sequence length);
//                            NULL means row 0 for every token
// attention_scale is LongRoPE's cos/sin multiplier, 1 otherwise. rotary_dim <= head_dim, even,
// and half <= MAX_HALF.
// The angles are f64 because positions reach 10^5 and more: an f32 angle would be off by 10^-2 rad.
// Launch: grid (T), block 128; each block computes its token's angles once, then turns every head.
#include "common.cuh"

using namespace loraplex;

constexpr int MAX_HALF = 256;  // rotary_dim up to 512

extern "C" __global__ void loraplex_rope(
        __nv_bfloat16* q, __nv_bfloat16* k, const int* positions, const double* inv_freq, const int* freq_row,
        int num_tokens, int num_heads, int num_kv_heads, int head_dim, int rotary_dim,
        int q_stride, int k_stride, double attention_scale) {
    __shared__ float cos_s[MAX_HALF];
    __shared__ float sin_s[MAX_HALF];
    const int t = blockIdx.x;
    if (t >= num_tokens) {
        return;
    }
    const int half = rotary_dim / 2;
    const double* freqs = inv_freq + static_cast<long long>(freq_row == nullptr ? 0 : freq_row[t]) * half;
    const double position = static_cast<double>(positions[t]);
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        double s;
        double c;
        sincos(position * freqs[i], &s, &c);
        cos_s[i] = static_cast<float>(c * attention_scale);
        sin_s[i] = static_cast<float>(s * attention_scale);
    }
    __syncthreads();
    // one (head, pair) per thread step: q's heads first, then k's
    const int pairs = (num_heads + num_kv_heads) * half;
    for (int p = threadIdx.x; p < pairs; p += blockDim.x) {
        const int head = p / half;
        const int i = p % half;
        __nv_bfloat16* x = head < num_heads
                ? q + static_cast<long long>(t) * q_stride + head * head_dim
                : k + static_cast<long long>(t) * k_stride + (head - num_heads) * head_dim;
        const float a = to_f32(x[i]);
        const float b = to_f32(x[i + half]);
        x[i] = to_bf16(a * cos_s[i] - b * sin_s[i]);
        x[i + half] = to_bf16(b * cos_s[i] + a * sin_s[i]);
    }
}
