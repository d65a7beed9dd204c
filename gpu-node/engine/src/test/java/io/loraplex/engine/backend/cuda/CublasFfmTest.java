package io.loraplex.engine.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The FFM downcalls against a stand-in cuBLAS ({@code fake_cublas.c}, built here with cc) that runs the
 * BLAS definition of GEMM in column-major order: so the argument order and widths, the row-major
 * mapping of {@link Cublas#gemm} and the error path are checked without a GPU. Skips without a C compiler.
 */
class CublasFfmTest {

    @TempDir
    static Path tmp;

    private static Path library;
    private static Cublas cublas;
    private static SymbolLookup fake;

    @BeforeAll
    static void buildTheStandIn() throws Exception {
        Path source = tmp.resolve("fake_cublas.c");
        try (InputStream in = CublasFfmTest.class.getResourceAsStream("fake_cublas.c")) {
            Files.write(source, in.readAllBytes());
        }
        library = tmp.resolve("libcublas.so.13");
        int rc;
        try {
            Process cc = new ProcessBuilder("cc", "-shared", "-fPIC", "-O1", "-o", library.toString(), source.toString())
                    .redirectErrorStream(true).start();
            String out = new String(cc.getInputStream().readAllBytes());
            assumeTrue(cc.waitFor(60, TimeUnit.SECONDS), "cc did not finish in 60 s");
            rc = cc.exitValue();
            assumeTrue(rc == 0, "cc could not build the stand-in cuBLAS: " + out);
        } catch (IOException e) {
            assumeTrue(false, "no C compiler (cc) to build the stand-in cuBLAS: " + e.getMessage());
        }
        cublas = Cublas.load(library);
        fake = SymbolLookup.libraryLookup(library, Arena.global()); // the same dlopen handle: its statics
    }

    @Test
    void theHandleIsBoundToTheRawStreamAndTheWorkspaceAndMathModeReachCublas() throws Throwable {
        MemorySegment handle = cublas.create();
        cublas.setStream(handle, 0x7f00_1234_5600L);
        cublas.setWorkspace(handle, 0x7f00_0000_0000L, CudaDevice.CUBLAS_WORKSPACE_BYTES);
        cublas.setMathMode(handle, 16);

        assertEquals(0x7f00_1234_5600L, ((MemorySegment) probe("fake_last_stream", FunctionDescriptor.of(ADDRESS))).address());
        assertEquals(0x7f00_0000_0000L, ((MemorySegment) probe("fake_last_workspace", FunctionDescriptor.of(ADDRESS))).address());
        assertEquals(32L << 20, (long) probe("fake_last_workspace_bytes", FunctionDescriptor.of(JAVA_LONG)));
        assertEquals(16, (int) probe("fake_last_math_mode", FunctionDescriptor.of(JAVA_INT)));
        assertEquals(130000, cublas.version(handle));
        cublas.destroy(handle);
    }

    @Test
    void aRowMajorGemmWithPaddedStridesGivesAbTransposedInBf16AndF32() throws Throwable {
        int m = 3;
        int n = 4;
        int k = 5;
        int lda = 7;
        int ldb = 6;
        int ldc = 9;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(2L * m * lda, 256);
            MemorySegment b = arena.allocate(2L * n * ldb, 256);
            float[][] av = new float[m][k];
            float[][] bv = new float[n][k];
            for (int i = 0; i < m; i++) {
                for (int l = 0; l < k; l++) {
                    av[i][l] = (i * 7 + l * 3) % 5 - 2; // small integers: every product and sum exact in bf16
                    a.setAtIndex(JAVA_SHORT, (long) i * lda + l, bf16(av[i][l]));
                }
            }
            for (int j = 0; j < n; j++) {
                for (int l = 0; l < k; l++) {
                    bv[j][l] = (j * 5 + l * 2) % 3 - 1;
                    b.setAtIndex(JAVA_SHORT, (long) j * ldb + l, bf16(bv[j][l]));
                }
            }
            float[] want = new float[m * n];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    for (int l = 0; l < k; l++) {
                        want[i * n + j] += av[i][l] * bv[j][l];
                    }
                }
            }
            MemorySegment cBf16 = arena.allocate(2L * m * ldc, 256);
            MemorySegment cF32 = arena.allocate(4L * m * ldc, 256);
            MemorySegment handle = cublas.create();

            cublas.gemm(handle, new Gemm(a.address(), lda, b.address(), ldb, cBf16.address(), ldc, m, n, k, false));
            cublas.gemm(handle, new Gemm(a.address(), lda, b.address(), ldb, cF32.address(), ldc, m, n, k, true));

            float[] gotBf16 = new float[m * n];
            float[] gotF32 = new float[m * n];
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    gotBf16[i * n + j] = Float.intBitsToFloat((cBf16.getAtIndex(JAVA_SHORT, (long) i * ldc + j) & 0xFFFF) << 16);
                    gotF32[i * n + j] = cF32.getAtIndex(JAVA_FLOAT, (long) i * ldc + j);
                }
            }
            assertArrayEquals(want, gotBf16);
            assertArrayEquals(want, gotF32);
            MemorySegment last = ((MemorySegment) probe("fake_last_gemm", FunctionDescriptor.of(ADDRESS))).reinterpret(24);
            // transa = T on b, transb = N on a, cuBLAS's (m, n, k) = our (n, m, k), f32 compute
            assertArrayEquals(new int[] {1, 0, n, m, k, 68}, last.toArray(JAVA_INT));
        }
    }

    @Test
    void aFailingGemmNamesTheCallItsShapeAndCublassStatusName() {
        MemorySegment handle = cublas.create();
        Gemm g = new Gemm(0x1000, 13, 0x2000, 13, 0x3000, 2, 2, 2, 13, false); // k = 13: the stand-in refuses it

        DeviceException e = assertThrows(DeviceException.class, () -> cublas.gemm(handle, g));

        assertEquals("cublasGemmEx of 2×2×13 (bf16 out) failed: CUBLAS_STATUS_INVALID_VALUE", e.getMessage());
    }

    private static Object probe(String symbol, FunctionDescriptor d) throws Throwable {
        return Linker.nativeLinker().downcallHandle(fake.find(symbol).orElseThrow(), d).invoke();
    }

    private static short bf16(float v) {
        return (short) (Float.floatToRawIntBits(v) >>> 16); // exact for the small integers used
    }
}
