package io.loraplex.engine.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * cuBLAS through Java's FFM API: the few entry points the CUDA backend calls, the enum values it
 * passes, and where to find the library. JCuda's own cuBLAS binding is built against CUDA 12 and does
 * not load beside a CUDA 13 driver; cuBLAS's C API is stable, so a downcall per function is enough.
 *
 * <p>Each {@link Function}'s descriptor and each {@link Constant}'s value is checked against the C
 * headers by {@link CublasHeaderCheck} (a test here when the headers are installed, and the device
 * script on the GPU machine).
 */
final class Cublas {

    /** The environment variable that names the cuBLAS library file, ahead of every other place. */
    static final String ENV = "LORAPLEX_CUBLAS";

    /** Library file names, newest first: cuBLAS 12 also runs on a CUDA 13 driver. */
    static final List<String> SONAMES = List.of("libcublas.so.13", "libcublas.so.12", "libcublas.so");

    /**
     * Every enum value this binding passes or reads, named as the header names it, with that header.
     * Values cross-checked with NVIDIA's CUDA 13.0 {@code cublas_api.h} (cuBLAS 13.0.0.19, as mirrored in
     * github.com/leomaxwell972/CU13ToolKit_Includes, {@code include/cublas_api.h}) and with
     * {@code /usr/local/cuda-13.0/include/library_types.h}.
     */
    enum Constant {
        CUBLAS_STATUS_SUCCESS(0, "cublas_api.h"),
        CUBLAS_OP_N(0, "cublas_api.h"),
        CUBLAS_OP_T(1, "cublas_api.h"),
        CUBLAS_DEFAULT_MATH(0, "cublas_api.h"),
        /** Split-K partial sums stay in f32 even when C is bf16. */
        CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION(16, "cublas_api.h"),
        CUBLAS_COMPUTE_32F(68, "cublas_api.h"),
        CUBLAS_GEMM_DEFAULT(-1, "cublas_api.h"),
        CUDA_R_32F(0, "library_types.h"),
        CUDA_R_16BF(14, "library_types.h");

        final int value;
        final String header;

        Constant(int value, String header) {
            this.value = value;
            this.header = header;
        }
    }

    /** Every symbol this binding looks up, with its C signature as a downcall descriptor. */
    enum Function {
        /** {@code cublasStatus_t cublasCreate_v2(cublasHandle_t* handle)} */
        CREATE("cublasCreate_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS), true),
        /** {@code cublasStatus_t cublasDestroy_v2(cublasHandle_t handle)} */
        DESTROY("cublasDestroy_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS), true),
        /** {@code cublasStatus_t cublasGetVersion_v2(cublasHandle_t handle, int* version)} */
        GET_VERSION("cublasGetVersion_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), true),
        /** {@code cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId)} */
        SET_STREAM("cublasSetStream_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS), true),
        /** {@code cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void* workspace, size_t workspaceSizeInBytes)} */
        SET_WORKSPACE("cublasSetWorkspace_v2", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG), true),
        /** {@code cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)} */
        SET_MATH_MODE("cublasSetMathMode", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT), true),
        /**
         * {@code cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t transa, cublasOperation_t transb,
         * int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
         * cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
         * cublasComputeType_t computeType, cublasGemmAlgo_t algo)}
         */
        GEMM_EX("cublasGemmEx", FunctionDescriptor.of(JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT), true),
        /** {@code const char* cublasGetStatusName(cublasStatus_t status)}: only for error messages, so optional. */
        GET_STATUS_NAME("cublasGetStatusName", FunctionDescriptor.of(ADDRESS, JAVA_INT), false);

        final String symbol;
        final FunctionDescriptor descriptor;
        final boolean required;

        Function(String symbol, FunctionDescriptor descriptor, boolean required) {
            this.symbol = symbol;
            this.descriptor = descriptor;
            this.required = required;
        }
    }

    /** Where the library was found, or every place looked. */
    record Location(Optional<Path> library, List<String> looked) {

        String notFound() {
            return "cuBLAS not found (" + String.join(" or ", SONAMES) + "); looked in: " + String.join(", ", looked);
        }
    }

    private final Path library;
    private final Map<Function, MethodHandle> handles;
    private final MemorySegment one;  // f32 alpha
    private final MemorySegment zero; // f32 beta

    private Cublas(Path library, Map<Function, MethodHandle> handles) {
        this.library = library;
        this.handles = handles;
        // host scalars for pointer mode host (cuBLAS's default): read at the call, or at capture
        this.one = Arena.global().allocate(JAVA_FLOAT);
        this.zero = Arena.global().allocate(JAVA_FLOAT);
        one.set(JAVA_FLOAT, 0, 1f);
        zero.set(JAVA_FLOAT, 0, 0f);
    }

    /**
     * Finds cuBLAS: the file {@value #ENV} names if set (and nothing else then, so a wrong setting is
     * not silently replaced); otherwise the first of {@link #SONAMES} in {@code dirs}, in order.
     */
    static Location locate(Map<String, String> env, List<Path> dirs) {
        List<String> looked = new ArrayList<>();
        String named = env.get(ENV);
        if (named != null && !named.isBlank()) {
            Path file = Path.of(named.strip());
            looked.add(ENV + "=" + file + (Files.isRegularFile(file) ? "" : " (no such file)"));
            return new Location(Files.isRegularFile(file) ? Optional.of(file) : Optional.empty(), looked);
        }
        looked.add(ENV + " (unset)");
        for (Path dir : dirs) {
            looked.add(dir.toString());
            for (String soname : SONAMES) {
                Path file = dir.resolve(soname);
                if (Files.isRegularFile(file)) {
                    return new Location(Optional.of(file), looked);
                }
            }
        }
        return new Location(Optional.empty(), looked);
    }

    /** {@link #locate(Map, List)} over this machine's environment and {@link #searchDirs(Map)}. */
    static Location locate() {
        return locate(System.getenv(), searchDirs(System.getenv()));
    }

    /**
     * The directories cuBLAS is looked for in, in order: the CUDA toolkit ({@code $CUDA_HOME},
     * {@code $CUDA_PATH}, /usr/local/cuda, /usr/local/cuda-13*), {@code $LD_LIBRARY_PATH}, pip's NVIDIA wheels
     * ({@code nvidia/cu13/lib}, then {@code nvidia/cublas/lib}) under every Python site directory of a
     * virtual environment, /usr/local, /usr, ~/.local and /opt/conda, then the distribution's library dirs.
     * Only directories that exist are listed.
     */
    static List<Path> searchDirs(Map<String, String> env) {
        Set<Path> dirs = new LinkedHashSet<>();
        for (String var : List.of("CUDA_HOME", "CUDA_PATH")) {
            String home = env.get(var);
            if (home != null && !home.isBlank()) {
                dirs.add(Path.of(home, "lib64"));
                dirs.add(Path.of(home, "lib"));
            }
        }
        dirs.add(Path.of("/usr/local/cuda/lib64"));
        dirs.addAll(glob(Path.of("/usr/local"), "cuda-13*", "lib64"));
        String ld = env.get("LD_LIBRARY_PATH");
        if (ld != null) {
            for (String part : ld.split(":")) {
                if (!part.isBlank()) {
                    dirs.add(Path.of(part));
                }
            }
        }
        List<Path> libRoots = new ArrayList<>();
        if (env.get("VIRTUAL_ENV") != null) {
            libRoots.add(Path.of(env.get("VIRTUAL_ENV"), "lib"));
        }
        libRoots.add(Path.of("/usr/local/lib"));
        libRoots.add(Path.of("/usr/lib"));
        if (env.get("HOME") != null) {
            libRoots.add(Path.of(env.get("HOME"), ".local", "lib"));
        }
        libRoots.add(Path.of("/opt/conda/lib"));
        for (Path root : libRoots) {
            for (Path python : glob(root, "python3*", null)) {
                for (String site : List.of("site-packages", "dist-packages")) {
                    dirs.add(python.resolve(site).resolve("nvidia/cu13/lib"));
                    dirs.add(python.resolve(site).resolve("nvidia/cublas/lib"));
                }
            }
        }
        dirs.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        dirs.add(Path.of("/usr/lib64"));
        return dirs.stream().filter(Files::isDirectory).toList();
    }

    private static List<Path> glob(Path parent, String pattern, String child) {
        if (!Files.isDirectory(parent)) {
            return List.of();
        }
        List<Path> found = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(parent, pattern)) {
            s.forEach(p -> found.add(child == null ? p : p.resolve(child)));
        } catch (IOException e) {
            return List.of(); // an unreadable directory is a place cuBLAS is not
        }
        found.sort(java.util.Comparator.reverseOrder()); // newest version first
        return found;
    }

    /** Opens {@code library} and looks up every {@link Function}; throws naming a missing required symbol. */
    static Cublas load(Path library) {
        SymbolLookup lookup = SymbolLookup.libraryLookup(library, Arena.global());
        Linker linker = Linker.nativeLinker();
        Map<Function, MethodHandle> handles = new EnumMap<>(Function.class);
        for (Function f : Function.values()) {
            Optional<MemorySegment> symbol = lookup.find(f.symbol);
            if (symbol.isPresent()) {
                handles.put(f, linker.downcallHandle(symbol.get(), f.descriptor));
            } else if (f.required) {
                throw new DeviceException(library + " has no symbol " + f.symbol);
            }
        }
        return new Cublas(library, handles);
    }

    Path library() {
        return library;
    }

    /** A new cuBLAS handle (in the calling thread's current context). */
    MemorySegment create() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check("cublasCreate_v2", (int) handles.get(Function.CREATE).invokeExact(out));
            return out.get(ADDRESS, 0);
        } catch (DeviceException e) {
            throw e;
        } catch (Throwable t) {
            throw new DeviceException("cublasCreate_v2 failed: " + t, t);
        }
    }

    void destroy(MemorySegment handle) {
        check("cublasDestroy_v2", call(Function.DESTROY, handle));
    }

    /** cuBLAS's version as {@code major·10000 + minor·100 + patch}. */
    int version(MemorySegment handle) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT);
            check("cublasGetVersion_v2", call(Function.GET_VERSION, handle, out));
            return out.get(JAVA_INT, 0);
        }
    }

    /** Binds {@code handle} to the raw {@code CUstream} {@code stream}. */
    void setStream(MemorySegment handle, long stream) {
        check("cublasSetStream_v2", call(Function.SET_STREAM, handle, MemorySegment.ofAddress(stream)));
    }

    /** A workspace of our own, so cuBLAS allocates nothing during a stream capture. */
    void setWorkspace(MemorySegment handle, long address, long bytes) {
        check("cublasSetWorkspace_v2", call(Function.SET_WORKSPACE, handle, MemorySegment.ofAddress(address), bytes));
    }

    void setMathMode(MemorySegment handle, int mode) {
        check("cublasSetMathMode", call(Function.SET_MATH_MODE, handle, mode));
    }

    /**
     * The engine's row-major {@code c(m, n) = a(m, k)·b(n, k)ᵀ} as cuBLAS's column-major GEMM.
     *
     * <p>A row-major (r, c) matrix with row stride ld is, read column-major, its transpose: a (c, r)
     * matrix with leading dimension ld. So cuBLAS sees {@code a} as Aᵀ (k, m), {@code b} as Bᵀ (k, n)
     * and must write {@code c} as Cᵀ (n, m). Cᵀ = (A·Bᵀ)ᵀ = B·Aᵀ = op(Bᵀ)·Aᵀ with op = transpose: so
     * {@code transa = T} on b (stored (k, n), ld = ldb ≥ k), {@code transb = N} on a (stored (k, m),
     * ld = lda ≥ k), and cuBLAS's (m, n, k) are our (n, m, k), with ldc ≥ n. bf16 in, bf16 or f32 out,
     * f32 accumulation ({@code CUBLAS_COMPUTE_32F}), alpha 1 and beta 0 as host f32 scalars.
     */
    void gemm(MemorySegment handle, Gemm g) {
        int status;
        try {
            status = (int) handles.get(Function.GEMM_EX).invokeExact(handle,
                    Constant.CUBLAS_OP_T.value, Constant.CUBLAS_OP_N.value,
                    g.n(), g.m(), g.kDim(),
                    one,
                    MemorySegment.ofAddress(g.b()), Constant.CUDA_R_16BF.value, g.ldb(),
                    MemorySegment.ofAddress(g.a()), Constant.CUDA_R_16BF.value, g.lda(),
                    zero,
                    MemorySegment.ofAddress(g.c()), (g.f32Out() ? Constant.CUDA_R_32F : Constant.CUDA_R_16BF).value, g.ldc(),
                    Constant.CUBLAS_COMPUTE_32F.value, Constant.CUBLAS_GEMM_DEFAULT.value);
        } catch (Throwable t) {
            throw new DeviceException("cublasGemmEx failed: " + t, t);
        }
        if (status != Constant.CUBLAS_STATUS_SUCCESS.value) {
            throw new DeviceException("cublasGemmEx of " + g.m() + "×" + g.n() + "×" + g.kDim()
                    + (g.f32Out() ? " (f32 out)" : " (bf16 out)") + " failed: " + statusName(status));
        }
    }

    /** cuBLAS's name for {@code status} ({@code cublasGetStatusName} when the library has it). */
    String statusName(int status) {
        MethodHandle name = handles.get(Function.GET_STATUS_NAME);
        if (name != null) {
            try {
                MemorySegment s = (MemorySegment) name.invokeExact(status);
                if (!s.equals(MemorySegment.NULL)) {
                    return s.reinterpret(256).getString(0);
                }
            } catch (Throwable ignored) {
                // fall through to the number: the status itself is what matters
            }
        }
        return "cuBLAS status " + status;
    }

    private void check(String call, int status) {
        if (status != Constant.CUBLAS_STATUS_SUCCESS.value) {
            throw new DeviceException(call + " failed: " + statusName(status));
        }
    }

    private int call(Function f, Object... args) {
        try {
            return (int) handles.get(f).invokeWithArguments(args);
        } catch (Throwable t) {
            throw new DeviceException(f.symbol + " failed: " + t, t);
        }
    }
}
