// KV store: writes each token's key and value rows into its sequence's KV block in the page arena,
// at the token's own position, for one layer.
//
//   j = positions[t],  page = block_tables[t · max_blocks + j / P]
//   kv[page · page_elems + ((2·l)     · P + j % P) · kv_dim + i] = k[t · k_stride + i]     i < kv_dim
//   kv[page · page_elems + ((2·l + 1) · P + j % P) · kv_dim + i] = v[t · v_stride + i]
//
// The arena layout is paged_attention.cu's (io.loraplex.engine.kv.ArenaLayout in bf16 elements).
// Layouts (row-major, bf16):
//   kv            (pages, page_elems)  the page arena
//   k             (T, kv_dim)   token row stride k_stride (a column slice of a fused qkv output works)
//   v             (T, kv_dim)   token row stride v_stride
//   block_tables  (T, max_blocks)  int32 page ids of each token's sequence, row stride max_blocks
//                 (the attention kernels' row tables: row t is token t's)
//   positions     (T)           int32 each token's position in its sequence
// kv_dim = NKV·HS. A plain copy: the values are stored as they are, no rounding.
// Launch: grid (T), block 128.
#include "common.cuh"

using namespace loraplex;

extern "C" __global__ void loraplex_kv_store(
        __nv_bfloat16* kv, const __nv_bfloat16* k, const __nv_bfloat16* v,
        const int* block_tables, const int* positions, int num_tokens, int kv_dim, int layer, int block_size,
        int page_elems, int max_blocks, int k_stride, int v_stride) {
    const int t = blockIdx.x;
    if (t >= num_tokens) {
        return;
    }
    const int j = positions[t];
    const long long page = static_cast<long long>(block_tables[static_cast<long long>(t) * max_blocks + j / block_size])
            * page_elems;
    __nv_bfloat16* key = kv + page + static_cast<long long>(2 * layer * block_size + j % block_size) * kv_dim;
    __nv_bfloat16* value = kv + page + static_cast<long long>((2 * layer + 1) * block_size + j % block_size) * kv_dim;
    const __nv_bfloat16* kt = k + static_cast<long long>(t) * k_stride;
    const __nv_bfloat16* vt = v + static_cast<long long>(t) * v_stride;
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
        key[i] = kt[i];
        value[i] = vt[i];
    }
}
