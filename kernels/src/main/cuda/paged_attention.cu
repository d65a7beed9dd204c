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

// Paged attention for prefill: the decode kernel's meaning and row tables (row t has block table
// row t and context_lens[t] = its position + 1, so each row is causal by construction), computed
// for a tile of rows at once:
//
//   out[t, h, :] = the decode kernel's out for row t                  for every row t of the step
//
// Rows are grouped in tiles [tile_starts[i], tile_starts[i + 1]) of at most TILE_ROWS consecutive
// rows of ONE sequence at consecutive positions (io.loraplex.engine.backend.cuda.AttentionTables'
// prefillTiles). One block per (head, tile) loads the tile's queries once and streams the keys and
// values of positions [min first, n of the last row) once, through the block table of the tile's
// last row (which reads the most blocks), in chunks of CHUNK positions staged in shared memory.
// Each row is masked to its own [first, n) (first = window > 0 ? max(0, n - window) : 0).
//
// Layouts as the decode kernel's, with T rows in place of B sequences:
//   out, q        (T, NH, HS)       bf16, row strides out_stride, q_stride
//   block_tables  (T, max_blocks)   int32;  context_lens (T) int32
//   tile_starts   (num_tiles + 1)   int32, increasing, tile_starts[num_tiles] = T
// Warp w owns rows w, w + WARPS, ... of the tile (online softmax per row in registers). Per chunk a
// lane scores one position (a serial f32 dot over the head), the warp takes the chunk's max and
// exp-sum, then every lane adds the chunk's weighted values for its pairs of the head.
// Launch: grid (NH, num_tiles), block 128 (WARPS warps).

constexpr int TILE_ROWS = 16;                         // rows of one tile at most
constexpr int CHUNK = WARP;                           // positions staged per step, one per lane
constexpr int ROWS_PER_WARP = TILE_ROWS / WARPS;
constexpr int KV_PITCH = MAX_HEAD_DIM / 2 + 1;        // bf16 pairs per staged row; odd, so lanes reading
                                                      // one position each hit distinct banks

extern "C" __global__ void loraplex_paged_attention_prefill(
        __nv_bfloat16* out, const __nv_bfloat16* q, const __nv_bfloat16* kv,
        const int* block_tables, const int* context_lens, const int* tile_starts,
        int num_tiles, int num_heads, int num_kv_heads, int head_dim, int layer, int block_size,
        int page_elems, int max_blocks, int window, float scale, int q_stride, int out_stride) {
    __shared__ __nv_bfloat162 q_s[TILE_ROWS][MAX_HEAD_DIM / 2];
    __shared__ __nv_bfloat162 k_s[CHUNK][KV_PITCH];
    __shared__ __nv_bfloat162 v_s[CHUNK][KV_PITCH];
    const int head = blockIdx.x;
    const int tile = blockIdx.y;
    if (tile >= num_tiles || head >= num_heads) {
        return;
    }
    const int warp = threadIdx.x / WARP;
    const int lane = threadIdx.x % WARP;
    const int pairs = head_dim / 2;
    const int kv_dim = num_kv_heads * head_dim;
    const int kv_head = head / (num_heads / num_kv_heads);
    const int row0 = tile_starts[tile];
    const int rows = min(tile_starts[tile + 1] - row0, TILE_ROWS);
    const int last = row0 + rows - 1;
    const int end = context_lens[last];  // the last row reads the most positions
    const int* table = block_tables + static_cast<long long>(last) * max_blocks;
    int start = end;
    for (int r = 0; r < rows; r++) {
        const int n = context_lens[row0 + r];
        start = min(start, window > 0 ? max(0, n - window) : 0);
    }

    for (int i = threadIdx.x; i < rows * pairs; i += blockDim.x) {
        const int r = i / pairs;
        q_s[r][i % pairs] = reinterpret_cast<const __nv_bfloat162*>(
                q + static_cast<long long>(row0 + r) * q_stride + head * head_dim)[i % pairs];
    }

    // this warp's rows: bounds, running max, exp sum, weighted values (lane's pairs of the head)
    int row_first[ROWS_PER_WARP];
    int row_n[ROWS_PER_WARP];
    float running_max[ROWS_PER_WARP];
    float total[ROWS_PER_WARP];
    float2 acc[ROWS_PER_WARP][PAIRS_PER_LANE];
#pragma unroll
    for (int w = 0; w < ROWS_PER_WARP; w++) {
        const int r = warp + w * WARPS;
        row_n[w] = r < rows ? context_lens[row0 + r] : 0;
        row_first[w] = window > 0 ? max(0, row_n[w] - window) : 0;
        running_max[w] = -INFINITY;
        total[w] = 0.0f;
#pragma unroll
        for (int c = 0; c < PAIRS_PER_LANE; c++) {
            acc[w][c] = make_float2(0.0f, 0.0f);
        }
    }

    for (int j0 = start; j0 < end; j0 += CHUNK) {
        const int count = min(CHUNK, end - j0);
        __syncthreads();  // the previous chunk (and, the first time, nothing) is read by every warp
        for (int i = threadIdx.x; i < count * pairs; i += blockDim.x) {
            const int jj = i / pairs;
            const int p = i % pairs;
            const int j = j0 + jj;
            const long long page = static_cast<long long>(table[j / block_size]) * page_elems;
            const int slot = j % block_size;
            k_s[jj][p] = reinterpret_cast<const __nv_bfloat162*>(
                    kv + page + static_cast<long long>(2 * layer * block_size + slot) * kv_dim + kv_head * head_dim)[p];
            v_s[jj][p] = reinterpret_cast<const __nv_bfloat162*>(
                    kv + page + static_cast<long long>((2 * layer + 1) * block_size + slot) * kv_dim + kv_head * head_dim)[p];
        }
        __syncthreads();
        const int j = j0 + lane;
#pragma unroll
        for (int w = 0; w < ROWS_PER_WARP; w++) {
            const int r = warp + w * WARPS;
            if (r >= rows) {
                continue;  // uniform over the warp
            }
            const bool valid = lane < count && j >= row_first[w] && j < row_n[w];
            float score = -INFINITY;
            if (valid) {
                float dot = 0.0f;
                for (int p = 0; p < pairs; p++) {
                    const float2 qf = __bfloat1622float2(q_s[r][p]);
                    const float2 kf = __bfloat1622float2(k_s[lane][p]);
                    dot = fmaf(qf.x, kf.x, dot);
                    dot = fmaf(qf.y, kf.y, dot);
                }
                score = dot * scale;
            }
            float chunk_max = score;
            for (int offset = WARP / 2; offset > 0; offset >>= 1) {
                chunk_max = fmaxf(chunk_max, __shfl_xor_sync(FULL_MASK, chunk_max, offset));
            }
            if (chunk_max == -INFINITY) {
                continue;  // no position of this chunk is in the row's range; uniform over the warp
            }
            const float new_max = fmaxf(running_max[w], chunk_max);
            const float rescale = expf(running_max[w] - new_max);  // 0 while the max was -inf
            const float weight = valid ? expf(score - new_max) : 0.0f;
            total[w] = fmaf(total[w], rescale, warp_sum(weight));
            running_max[w] = new_max;
#pragma unroll
            for (int c = 0; c < PAIRS_PER_LANE; c++) {
                acc[w][c].x *= rescale;
                acc[w][c].y *= rescale;
            }
            for (int jj = 0; jj < count; jj++) {
                const float pj = __shfl_sync(FULL_MASK, weight, jj);
#pragma unroll
                for (int c = 0; c < PAIRS_PER_LANE; c++) {
                    const int p = lane + c * WARP;
                    if (p < pairs) {
                        const float2 vf = __bfloat1622float2(v_s[jj][p]);
                        acc[w][c].x = fmaf(pj, vf.x, acc[w][c].x);
                        acc[w][c].y = fmaf(pj, vf.y, acc[w][c].y);
                    }
                }
            }
        }
    }

#pragma unroll
    for (int w = 0; w < ROWS_PER_WARP; w++) {
        const int r = warp + w * WARPS;
        if (r >= rows) {
            continue;
        }
        __nv_bfloat162* o = reinterpret_cast<__nv_bfloat162*>(
                out + static_cast<long long>(row0 + r) * out_stride + head * head_dim);
#pragma unroll
        for (int c = 0; c < PAIRS_PER_LANE; c++) {
            const int p = lane + c * WARP;
            if (p < pairs) {
                o[p] = total[w] > 0.0f
                        ? __floats2bfloat162_rn(acc[w][c].x / total[w], acc[w][c].y / total[w])
                        : __floats2bfloat162_rn(0.0f, 0.0f);
            }
        }
    }
}
