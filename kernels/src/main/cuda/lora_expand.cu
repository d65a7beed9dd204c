// Multi-LoRA expand: adds each token's adapter delta to a projection's output, for one adapted
// projection in a batch that mixes adapters and ranks.
//
//   y[t, o] += scales[s] * sum_{r < ranks[s]} shrunk[t, r] * B_s[o, r]     s = the token's slot
//
// Tokens whose slot is -1 (no adapter) are left as they are.
//
// Adapter tables (built by the host per (layer, module); S = slots in this batch):
//   ranks      (S)        int32 rank of slot s for this module; 0 when the adapter does not adapt it
//   row_start  (S)        int32 index in b_rows of slot s's first column
//   b_rows     (sum R)    int64 element offset in `arena` of column r of B_s stored as a row of
//                         out_features contiguous bf16: b_rows[row_start[s] + r]
//                         (io.loraplex.engine.lora.PagedAdapter's bRows, unchanged)
//   scales     (S)        f32 alpha / r of slot s (rsLoRA's alpha / sqrt(r) when it asks)
// Ranks differ per slot and nothing is padded.
//
// Activations (row-major):
//   shrunk  (T, R_max)         f32, token row stride shrunk_stride (the shrink kernel's output)
//   y       (T, out_features)  bf16, token row stride y_stride; may be a column slice of a fused
//                              output (pass the slice's first element)
// The rank sum is f32 in order r = 0, 1, ...; y is read, added to once and rounded once.
//
// Two forms with the same meaning:
//   gathered  (decode): one slot per token, slots (T) int32.
//             Launch: grid (ceil(out_features / 256), T), block 256: one thread per output column,
//             consecutive threads on consecutive columns of each B row (coalesced).
//   segmented (prefill): tokens [seg_starts[g], seg_starts[g + 1]) all use slot seg_slots[g].
//             Launch: grid (ceil(out_features / 256), G, Z), block 256: each B element is read once
//             for TILE tokens; blocks along z take every Z-th tile of the segment.
#include "common.cuh"

using namespace loraplex;

constexpr int RANK_CHUNK = 256;  // ranks staged in shared memory at a time; larger ranks take several
constexpr int TILE = 4;          // tokens a thread adds to together in the segmented form

extern "C" __global__ void loraplex_lora_expand_gathered(
        __nv_bfloat16* y, const float* shrunk, const __nv_bfloat16* arena,
        const int* slots, const int* ranks, const int* row_start, const long long* b_rows, const float* scales,
        int num_tokens, int out_features, int y_stride, int shrunk_stride) {
    __shared__ float coef[RANK_CHUNK];
    __shared__ long long row[RANK_CHUNK];
    const int t = blockIdx.y;
    if (t >= num_tokens) {
        return;
    }
    const int slot = slots[t];
    if (slot < 0) {
        return;  // uniform over the block
    }
    const int rank = ranks[slot];
    const int o = blockIdx.x * blockDim.x + threadIdx.x;
    const float* st = shrunk + static_cast<long long>(t) * shrunk_stride;
    float acc = 0.0f;
    for (int r0 = 0; r0 < rank; r0 += RANK_CHUNK) {
        const int n = min(RANK_CHUNK, rank - r0);
        __syncthreads();  // the previous chunk is read by every thread
        for (int r = threadIdx.x; r < n; r += blockDim.x) {
            coef[r] = st[r0 + r];
            row[r] = b_rows[row_start[slot] + r0 + r];
        }
        __syncthreads();
        if (o < out_features) {
            for (int r = 0; r < n; r++) {
                acc = fmaf(coef[r], to_f32(arena[row[r] + o]), acc);
            }
        }
    }
    if (rank > 0 && o < out_features) {
        __nv_bfloat16* yt = y + static_cast<long long>(t) * y_stride + o;
        *yt = to_bf16(fmaf(scales[slot], acc, to_f32(*yt)));
    }
}

extern "C" __global__ void loraplex_lora_expand_segmented(
        __nv_bfloat16* y, const float* shrunk, const __nv_bfloat16* arena,
        const int* seg_starts, const int* seg_slots, const int* ranks, const int* row_start, const long long* b_rows,
        const float* scales, int num_segments, int out_features, int y_stride, int shrunk_stride) {
    __shared__ float coef[TILE][RANK_CHUNK];
    __shared__ long long row[RANK_CHUNK];
    const int g = blockIdx.y;
    if (g >= num_segments) {
        return;
    }
    const int slot = seg_slots[g];
    if (slot < 0) {
        return;  // uniform over the block
    }
    const int rank = ranks[slot];
    const float scale = scales[slot];
    const int o = blockIdx.x * blockDim.x + threadIdx.x;
    const int end = seg_starts[g + 1];
    for (int t0 = seg_starts[g] + blockIdx.z * TILE; t0 < end; t0 += gridDim.z * TILE) {
        const int tokens = min(TILE, end - t0);
        float acc[TILE] = {};
        for (int r0 = 0; r0 < rank; r0 += RANK_CHUNK) {
            const int n = min(RANK_CHUNK, rank - r0);
            __syncthreads();  // the previous chunk is read by every thread
            for (int r = threadIdx.x; r < n; r += blockDim.x) {
                row[r] = b_rows[row_start[slot] + r0 + r];
            }
            for (int i = threadIdx.x; i < TILE * n; i += blockDim.x) {
                const int j = i / n;
                const int r = i % n;
                coef[j][r] = j < tokens ? shrunk[static_cast<long long>(t0 + j) * shrunk_stride + r0 + r] : 0.0f;
            }
            __syncthreads();
            if (o < out_features) {
                for (int r = 0; r < n; r++) {
                    const float b = to_f32(arena[row[r] + o]);
#pragma unroll
                    for (int j = 0; j < TILE; j++) {
                        acc[j] = fmaf(coef[j][r], b, acc[j]);
                    }
                }
            }
        }
        if (rank > 0 && o < out_features) {
            for (int j = 0; j < tokens; j++) {
                __nv_bfloat16* yt = y + static_cast<long long>(t0 + j) * y_stride + o;
                *yt = to_bf16(fmaf(scale, acc[j], to_f32(*yt)));
            }
        }
    }
}
