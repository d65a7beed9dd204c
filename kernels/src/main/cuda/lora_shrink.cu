// Multi-LoRA shrink: each token's input times the A matrix of its own adapter, for one adapted
// projection (one layer, one target module), in a batch that mixes adapters and ranks.
//
//   shrunk[t, r] = sum_k x[t, k] * A_s[r, k]        for r < ranks[s], s = the token's adapter slot
//
// Tokens whose slot is -1 (no adapter), and columns r >= ranks[s], are not written.
//
// Adapter tables (built by the host per (layer, module); S = slots in this batch):
//   ranks      (S)        int32 rank of slot s for this module; 0 when the adapter does not adapt it
//   row_start  (S)        int32 index in a_rows of slot s's first row
//   a_rows     (sum R)    int64 element offset in `arena` of row r of A_s: a_rows[row_start[s] + r],
//                         each row in_features contiguous bf16 (io.loraplex.engine.lora.PagedAdapter's
//                         aRows, unchanged: the device arena has the host arena's element layout)
// Ranks differ per slot and nothing is padded: rows sit wherever the paged pool put them.
//
// Activations (row-major):
//   x       (T, in_features)  bf16, token row stride x_stride
//   shrunk  (T, R_max)        f32, token row stride shrunk_stride >= the largest rank in the batch
//
// Two forms with the same meaning:
//   gathered  (decode): one slot per token, slots (T) int32.
//             Launch: grid (ceil(R_max / 8), T), block 256: one warp per (token, r), a warp-shuffle sum.
//   segmented (prefill): tokens [seg_starts[g], seg_starts[g + 1]) all use slot seg_slots[g].
//             Launch: grid (ceil(R_max / 8), G, Z), block 256: one warp per (segment, r) reads each A
//             element once for TILE tokens; blocks along z take every Z-th tile of the segment.
#include "common.cuh"

using namespace loraplex;

constexpr int TILE = 4;  // tokens a warp reduces together in the segmented form

extern "C" __global__ void loraplex_lora_shrink_gathered(
        float* shrunk, const __nv_bfloat16* x, const __nv_bfloat16* arena,
        const int* slots, const int* ranks, const int* row_start, const long long* a_rows,
        int num_tokens, int in_features, int x_stride, int shrunk_stride) {
    const int t = blockIdx.y;
    const int lane = threadIdx.x % WARP;
    const int r = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP;
    if (t >= num_tokens) {
        return;
    }
    const int slot = slots[t];
    if (slot < 0 || r >= ranks[slot]) {
        return;  // uniform over the warp
    }
    const __nv_bfloat16* a = arena + a_rows[row_start[slot] + r];
    const __nv_bfloat16* xt = x + static_cast<long long>(t) * x_stride;
    float acc = 0.0f;
    if (in_features % 2 == 0 && aligned(a, 4) && aligned(xt, 4)) {
        const __nv_bfloat162* a2 = reinterpret_cast<const __nv_bfloat162*>(a);
        const __nv_bfloat162* x2 = reinterpret_cast<const __nv_bfloat162*>(xt);
        for (int i = lane; i < in_features / 2; i += WARP) {
            const float2 av = __bfloat1622float2(a2[i]);
            const float2 xv = __bfloat1622float2(x2[i]);
            acc = fmaf(av.x, xv.x, acc);
            acc = fmaf(av.y, xv.y, acc);
        }
    } else {
        for (int i = lane; i < in_features; i += WARP) {
            acc = fmaf(to_f32(a[i]), to_f32(xt[i]), acc);
        }
    }
    acc = warp_sum(acc);
    if (lane == 0) {
        shrunk[static_cast<long long>(t) * shrunk_stride + r] = acc;
    }
}

extern "C" __global__ void loraplex_lora_shrink_segmented(
        float* shrunk, const __nv_bfloat16* x, const __nv_bfloat16* arena,
        const int* seg_starts, const int* seg_slots, const int* ranks, const int* row_start, const long long* a_rows,
        int num_segments, int in_features, int x_stride, int shrunk_stride) {
    const int g = blockIdx.y;
    const int lane = threadIdx.x % WARP;
    const int r = blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP;
    if (g >= num_segments) {
        return;
    }
    const int slot = seg_slots[g];
    if (slot < 0 || r >= ranks[slot]) {
        return;  // uniform over the warp
    }
    const __nv_bfloat16* a = arena + a_rows[row_start[slot] + r];
    const int end = seg_starts[g + 1];
    for (int t0 = seg_starts[g] + blockIdx.z * TILE; t0 < end; t0 += gridDim.z * TILE) {
        const int n = min(TILE, end - t0);
        float acc[TILE] = {};
        for (int i = lane; i < in_features; i += WARP) {
            const float av = to_f32(a[i]);
#pragma unroll
            for (int j = 0; j < TILE; j++) {
                if (j < n) {
                    acc[j] = fmaf(av, to_f32(x[static_cast<long long>(t0 + j) * x_stride + i]), acc[j]);
                }
            }
        }
#pragma unroll
        for (int j = 0; j < TILE; j++) {
            const float sum = warp_sum(acc[j]);
            if (lane == 0 && j < n) {
                shrunk[static_cast<long long>(t0 + j) * shrunk_stride + r] = sum;
            }
        }
    }
}
