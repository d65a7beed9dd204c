// Paged attention for decode: one query token per sequence attends to the keys and values its
// sequence has in the KV cache, with grouped-query heads and an optional sliding window.
//
//   n = context_lens[b], first = window > 0 ? max(0, n - window) : 0
//   score_j = scale * q[b, h, :] . K[b, j, h / (NH / NKV), :]           for first <= j < n
//   out[b, h, :] = sum_j softmax(score)_j * V[b, j, h / (NH / NKV), :]
//
// The KV cache is the engine's page arena (io.loraplex.engine.kv.ArenaLayout), in bf16 elements
// instead of f32, with the same element offsets. A page of page_elems elements holds one KV block
// of P = block_size positions, per layer the keys then the values, (L, 2, P, NKV·HS):
//   key of layer l, position j    at  table[j / P] · page_elems + ((2·l)     · P + j % P) · NKV·HS
//   value of layer l, position j  at  table[j / P] · page_elems + ((2·l + 1) · P + j % P) · NKV·HS
// and head g of that row at + g·HS. Pages may be longer than a KV block (they also hold adapter rows).
//
// Layouts (row-major):
//   out           (B, NH, HS)       bf16, sequence row stride out_stride
//   q             (B, NH, HS)       bf16, sequence row stride q_stride (RoPE already applied)
//   kv            (pages, page_elems) bf16
//   block_tables  (B, max_blocks)   int32 page ids, row stride max_blocks, covering positions < n
//   context_lens  (B)               int32 n: the positions written so far, this token's included
// head_dim even and <= MAX_HEAD_DIM, page_elems, q_stride and out_stride even (bf16 pairs are
// loaded as one 4-byte word), NH a multiple of NKV.
//
// Each warp takes every WARPS-th position and keeps an online softmax (running max, sum and
// weighted V in registers, so no score buffer limits the context); the warps are merged at the end.
// Launch: grid (NH, B), block 128 (WARPS warps).
#include "common.cuh"

using namespace loraplex;

constexpr int MAX_HEAD_DIM = 256;
constexpr int PAIRS_PER_LANE = MAX_HEAD_DIM / (2 * WARP);  // bf16 pairs of a head one lane holds
constexpr int WARPS = 4;

extern "C" __global__ void loraplex_paged_attention_decode(
        __nv_bfloat16* out, const __nv_bfloat16* q, const __nv_bfloat16* kv,
        const int* block_tables, const int* context_lens,
        int num_seqs, int num_heads, int num_kv_heads, int head_dim, int layer, int block_size,
        int page_elems, int max_blocks, int window, float scale, int q_stride, int out_stride) {
    __shared__ float warp_max[WARPS];
    __shared__ float warp_total[WARPS];
    __shared__ float warp_acc[WARPS][MAX_HEAD_DIM];
    const int head = blockIdx.x;
    const int b = blockIdx.y;
    if (b >= num_seqs || head >= num_heads) {
        return;
    }
    const int warp = threadIdx.x / WARP;
    const int lane = threadIdx.x % WARP;
    const int pairs = head_dim / 2;
    const int kv_dim = num_kv_heads * head_dim;
    const int kv_head = head / (num_heads / num_kv_heads);
    const int n = context_lens[b];
    const int first = window > 0 ? max(0, n - window) : 0;
    const int* table = block_tables + static_cast<long long>(b) * max_blocks;

    const __nv_bfloat162* q2 =
            reinterpret_cast<const __nv_bfloat162*>(q + static_cast<long long>(b) * q_stride + head * head_dim);
    float2 qv[PAIRS_PER_LANE];
#pragma unroll
    for (int c = 0; c < PAIRS_PER_LANE; c++) {
        const int p = lane + c * WARP;
        qv[c] = p < pairs ? __bfloat1622float2(q2[p]) : make_float2(0.0f, 0.0f);
    }

    float running_max = -INFINITY;
    float total = 0.0f;
    float2 acc[PAIRS_PER_LANE];
#pragma unroll
    for (int c = 0; c < PAIRS_PER_LANE; c++) {
        acc[c] = make_float2(0.0f, 0.0f);
    }
    for (int j = first + warp; j < n; j += WARPS) {
        const long long page = static_cast<long long>(table[j / block_size]) * page_elems;
        const int slot = j % block_size;
        const __nv_bfloat162* k2 = reinterpret_cast<const __nv_bfloat162*>(
                kv + page + static_cast<long long>(2 * layer * block_size + slot) * kv_dim + kv_head * head_dim);
        const __nv_bfloat162* v2 = reinterpret_cast<const __nv_bfloat162*>(
                kv + page + static_cast<long long>((2 * layer + 1) * block_size + slot) * kv_dim + kv_head * head_dim);
        float dot = 0.0f;
#pragma unroll
        for (int c = 0; c < PAIRS_PER_LANE; c++) {
            const int p = lane + c * WARP;
            if (p < pairs) {
                const float2 kf = __bfloat1622float2(k2[p]);
                dot = fmaf(qv[c].x, kf.x, dot);
                dot = fmaf(qv[c].y, kf.y, dot);
            }
        }
        const float score = warp_sum(dot) * scale;
        const float new_max = fmaxf(running_max, score);
        const float rescale = expf(running_max - new_max);  // 0 on the first position (max was -inf)
        const float weight = expf(score - new_max);
        total = fmaf(total, rescale, weight);
#pragma unroll
        for (int c = 0; c < PAIRS_PER_LANE; c++) {
            const int p = lane + c * WARP;
            if (p < pairs) {
                const float2 vf = __bfloat1622float2(v2[p]);
                acc[c].x = fmaf(acc[c].x, rescale, weight * vf.x);
                acc[c].y = fmaf(acc[c].y, rescale, weight * vf.y);
            }
        }
        running_max = new_max;
    }

    // merge the warps: each one's partial sums rescaled to the common max
    if (lane == 0) {
        warp_max[warp] = running_max;
        warp_total[warp] = total;
    }
#pragma unroll
    for (int c = 0; c < PAIRS_PER_LANE; c++) {
        const int p = lane + c * WARP;
        if (p < pairs) {
            warp_acc[warp][2 * p] = acc[c].x;
            warp_acc[warp][2 * p + 1] = acc[c].y;
        }
    }
    __syncthreads();
    float common_max = -INFINITY;
    for (int w = 0; w < WARPS; w++) {
        common_max = fmaxf(common_max, warp_max[w]);
    }
    __nv_bfloat16* o = out + static_cast<long long>(b) * out_stride + head * head_dim;
    for (int e = threadIdx.x; e < head_dim; e += blockDim.x) {
        float numerator = 0.0f;
        float denominator = 0.0f;
        for (int w = 0; w < WARPS; w++) {
            if (warp_max[w] != -INFINITY) {  // a warp that had no position adds nothing
                const float f = expf(warp_max[w] - common_max);
                numerator = fmaf(warp_acc[w][e], f, numerator);
                denominator = fmaf(warp_total[w], f, denominator);
            }
        }
        o[e] = to_bf16(denominator > 0.0f ? numerator / denominator : 0.0f);
    }
}
