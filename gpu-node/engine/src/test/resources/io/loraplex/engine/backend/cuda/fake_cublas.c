/*
 * A stand-in for libcublas.so with the entry points Cublas binds, for CublasFfmTest: it runs the
 * reference BLAS GEMM in column-major order on host memory (the "device" addresses are host
 * addresses here) and records what the other calls received, so the FFM downcalls, the row-major to
 * column-major mapping and the error path are tested without a GPU. Built by the test with cc.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static int handle_storage;
static void *last_stream;
static void *last_workspace;
static size_t last_workspace_bytes;
static int last_math_mode;
static int last_gemm[6]; /* transa, transb, m, n, k, computeType */

static float bf16_to_float(uint16_t v) {
    uint32_t bits = (uint32_t) v << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static uint16_t float_to_bf16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    bits += 0x7FFF + ((bits >> 16) & 1); /* round to nearest even */
    return (uint16_t) (bits >> 16);
}

int cublasCreate_v2(void **handle) { *handle = &handle_storage; return 0; }
int cublasDestroy_v2(void *handle) { return handle == &handle_storage ? 0 : 7; }
int cublasGetVersion_v2(void *handle, int *version) { *version = 130000; return 0; }
int cublasSetStream_v2(void *handle, void *stream) { last_stream = stream; return 0; }
int cublasSetWorkspace_v2(void *handle, void *ws, size_t bytes) { last_workspace = ws; last_workspace_bytes = bytes; return 0; }
int cublasSetMathMode(void *handle, int mode) { last_math_mode = mode; return 0; }

const char *cublasGetStatusName(int status) {
    return status == 7 ? "CUBLAS_STATUS_INVALID_VALUE" : "CUBLAS_STATUS_UNKNOWN";
}

/* C(m, n) = op(A)(m, k) · op(B)(k, n), column-major; types 14 = bf16, 0 = f32; alpha, beta host floats. */
int cublasGemmEx(void *handle, int transa, int transb, int m, int n, int k,
                 const void *alpha, const void *A, int Atype, int lda,
                 const void *B, int Btype, int ldb,
                 const void *beta, void *C, int Ctype, int ldc, int computeType, int algo) {
    last_gemm[0] = transa; last_gemm[1] = transb; last_gemm[2] = m; last_gemm[3] = n; last_gemm[4] = k;
    last_gemm[5] = computeType;
    if (k == 13) return 7; /* the test's failing call: nothing is read */
    if (Atype != 14 || Btype != 14 || (Ctype != 14 && Ctype != 0) || computeType != 68 || algo != -1) return 7;
    if (lda < (transa ? k : m) || ldb < (transb ? n : k) || ldc < m) return 7;
    const uint16_t *a = A, *b = B;
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
            float acc = 0;
            for (int l = 0; l < k; l++) {
                float x = bf16_to_float(transa ? a[l + (size_t) i * lda] : a[i + (size_t) l * lda]);
                float y = bf16_to_float(transb ? b[j + (size_t) l * ldb] : b[l + (size_t) j * ldb]);
                acc += x * y;
            }
            acc = *(const float *) alpha * acc;
            if (*(const float *) beta != 0) return 7; /* the binding always passes beta = 0 */
            if (Ctype == 0) ((float *) C)[i + (size_t) j * ldc] = acc;
            else ((uint16_t *) C)[i + (size_t) j * ldc] = float_to_bf16(acc);
        }
    }
    return 0;
}

/* what the test reads back */
void *fake_last_stream(void) { return last_stream; }
void *fake_last_workspace(void) { return last_workspace; }
size_t fake_last_workspace_bytes(void) { return last_workspace_bytes; }
int fake_last_math_mode(void) { return last_math_mode; }
const int *fake_last_gemm(void) { return last_gemm; }
