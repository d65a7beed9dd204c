package io.loraplex.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CudaHeaderCheckTest {

    /**
     * A header shaped like cublas_api.h, declaring what the binding calls; written for this test (the
     * signatures are the documented cuBLAS API), so the check's own reading is tested without cuBLAS installed.
     */
    private static final String API = """
            typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_NOT_INITIALIZED = 1 } cublasStatus_t;
            typedef enum {
              CUBLAS_OP_N = 0,
              CUBLAS_OP_T = 1, /* transposed */
            } cublasOperation_t;
            typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;
            typedef enum {
              CUBLAS_DEFAULT_MATH = 0,
              CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16
            } cublasMath_t;
            typedef enum { CUBLAS_COMPUTE_32F = %d } cublasComputeType_t;
            struct cublasContext;
            typedef struct cublasContext* cublasHandle_t;
            CUBLASAPI cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t* handle);
            CUBLASAPI cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle);
            CUBLASAPI cublasStatus_t CUBLASWINAPI cublasGetVersion_v2(cublasHandle_t handle, int* version);
            CUBLASAPI cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId);
            CUBLASAPI cublasStatus_t CUBLASWINAPI cublasSetWorkspace_v2(cublasHandle_t handle,
                                                                        void* workspace,
                                                                        %s workspaceSizeInBytes);
            CUBLASAPI cublasStatus_t CUBLASWINAPI cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
            CUBLASAPI const char* CUBLASWINAPI cublasGetStatusName(cublasStatus_t status);
            CUBLASAPI cublasStatus_t CUBLASWINAPI cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                cublasOperation_t transb, int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype,
                int lda, const void* B, cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype,
                int ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo);
            """;

    private static final String TYPES = """
            typedef enum cudaDataType_t
            {
                CUDA_R_32F  =  0, // 32-bit real
                CUDA_R_16BF = 14,
            } cudaDataType;
            """;

    @TempDir
    Path tmp;

    @Test
    void aHeaderThatAgreesWithTheBindingGivesNoProblems() throws Exception {
        assertEquals(List.of(), CudaHeaderCheck.cublas(api(68, "size_t"), types()));
    }

    @Test
    void aParameterOfAnotherWidthIsReportedByFunctionAndPosition() throws Exception {
        assertEquals(List.of("cublasSetWorkspace_v2 parameter 2 is int (int) but the descriptor passes long"),
                CudaHeaderCheck.cublas(api(68, "int"), types()));
    }

    @Test
    void anEnumValueOtherThanTheBindingsIsReportedWithBothValues() throws Exception {
        assertEquals(List.of("CUBLAS_COMPUTE_32F is 68 in the binding but [67] in cublas_api.h"),
                CudaHeaderCheck.cublas(api(67, "size_t"), types()));
    }

    @Test
    void aFunctionTheHeaderDoesNotDeclareIsReported() throws Exception {
        Path api = Files.writeString(tmp.resolve("cublas_api.h"),
                String.format(API, 68, "size_t").replace("cublasGetStatusName", "cublasGetStatusString"));

        assertEquals(List.of(api + " declares no cublasGetStatusName"), CudaHeaderCheck.cublas(api, types()));
    }

    @Test
    void aConstantTheHeaderLacksIsReported() throws Exception {
        Path types = Files.writeString(tmp.resolve("library_types.h"), TYPES.replace("CUDA_R_16BF = 14,", ""));

        assertEquals(List.of("library_types.h does not define CUDA_R_16BF (the binding uses 14)"),
                CudaHeaderCheck.cublas(api(68, "size_t"), types));
    }

    @Test
    void parametersLoseTheirNamesButKeepConstAndPointers() {
        assertEquals("const void*", CudaHeaderCheck.typeOf("const void* alpha"));
        assertEquals("cublasHandle_t*", CudaHeaderCheck.typeOf(" cublasHandle_t *handle "));
        assertEquals("unsigned int", CudaHeaderCheck.typeOf("unsigned int flags"));
        assertEquals("size_t", CudaHeaderCheck.typeOf("size_t"));
    }

    @Test
    void theDriverConstantsJcudaGivesAgreeWithThisMachinesCudaH() {
        Optional<Path> cudaH = CudaHeaderCheck.find("cuda.h", CudaHeaderCheck.includeDirs(System.getenv()));
        assumeTrue(cudaH.isPresent(), "no CUDA toolkit headers here");

        assertEquals(List.of(), CudaHeaderCheck.driver(cudaH.get()));
    }

    @Test
    void theCublasBindingAgreesWithTheInstalledCublasHeaders() {
        List<Path> dirs = CudaHeaderCheck.includeDirs(System.getenv());
        Optional<Path> api = CudaHeaderCheck.find("cublas_api.h", dirs);
        Optional<Path> types = CudaHeaderCheck.find("library_types.h", dirs);
        assumeTrue(api.isPresent() && types.isPresent(),
                "cuBLAS headers are not installed in " + dirs + "; the device script runs CudaHeaderCheck where they are");

        assertEquals(List.of(), CudaHeaderCheck.cublas(api.get(), types.get()));
    }

    private Path api(int compute32f, String sizeType) throws Exception {
        return Files.writeString(tmp.resolve("cublas_api.h"), String.format(API, compute32f, sizeType));
    }

    private Path types() throws Exception {
        return Files.writeString(tmp.resolve("library_types.h"), TYPES);
    }
}
