// Embedding gather: the rows of the embedding table that the step's tokens name.
//
//   out[t, :] = table[tokens[t], :]            for t < num_tokens
//
// Layouts (row-major, bf16):
//   out    (T, C)  row stride C
//   table  (V, C)  row stride C
//   tokens (T)     int32 token ids
// Launch: grid (T), block 256 (any multiple of 32).
// An id outside [0, V) writes a row of zeros instead of reading outside the table; the host has
// validated ids before, so this only keeps a bug from becoming a wild read.
#include "common.cuh"

using namespace loraplex;

extern "C" __global__ void loraplex_embedding_gather(
        __nv_bfloat16* out, const __nv_bfloat16* table, const int* tokens,
        int num_tokens, int hidden, int vocab) {
    const int t = blockIdx.x;
    if (t >= num_tokens) {
        return;
    }
    const int id = tokens[t];
    __nv_bfloat16* dst = out + static_cast<long long>(t) * hidden;
    if (id < 0 || id >= vocab) {
        for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
            dst[i] = to_bf16(0.0f);
        }
        return;
    }
    const __nv_bfloat16* src = table + static_cast<long long>(id) * hidden;
    if (hidden % 8 == 0 && aligned(src, 16) && aligned(dst, 16)) {
        // 16-byte copies: 8 bf16 per thread per step, consecutive threads on consecutive chunks
        const uint4* s = reinterpret_cast<const uint4*>(src);
        uint4* d = reinterpret_cast<uint4*>(dst);
        for (int i = threadIdx.x; i < hidden / 8; i += blockDim.x) {
            d[i] = s[i];
        }
    } else {
        for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
            dst[i] = src[i];
        }
    }
}
