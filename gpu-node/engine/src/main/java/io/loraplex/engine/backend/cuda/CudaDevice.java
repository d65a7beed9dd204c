package io.loraplex.engine.backend.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD8Async;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static jcuda.driver.JCudaDriver.cuStreamWaitEvent;

import io.loraplex.kernels.KernelImage;
import io.loraplex.kernels.KernelImages;
import io.loraplex.kernels.KernelSignature;
import io.loraplex.kernels.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;

/**
 * The GPU: the CUDA driver API through JCuda (12.6, which loads beside a CUDA 13 driver), the kernels
 * of {@code kernels/} from the fatbins in its jar, and cuBLAS through FFM ({@link Cublas}) for the
 * base GEMMs.
 *
 * <p>One primary context per device (shared with anything else in the process that uses the device),
 * made current on the calling thread by every public method ({@link #makeCurrent}); two non-blocking
 * streams, compute and copy, and one event that orders the copy stream before the compute stream.
 * Every driver result other than {@code CUDA_SUCCESS} becomes a {@link DeviceException} naming the
 * call and the error ({@code CUresult.stringFor}); JCuda's own exceptions stay off (a process-wide
 * switch), this class checks every code itself.
 *
 * <p>Not thread-safe: the engine's step loop is its one user, as for every {@link Device}.
 */
public final class CudaDevice implements Device {

    /** cuBLAS's workspace, set once so that a GEMM allocates nothing while a stream is captured. */
    static final long CUBLAS_WORKSPACE_BYTES = 32L << 20;

    /** bf16 tensor cores and {@code __nv_bfloat16} arithmetic start at Ampere. */
    static final int MIN_COMPUTE_CAPABILITY = 80;

    /** Dynamic shared memory a kernel gets without opting in. */
    private static final int DEFAULT_SHARED_LIMIT = 48 << 10;

    /** The device whose context is current on each thread, so {@link #makeCurrent} costs a lookup. */
    private static final ThreadLocal<CudaDevice> CURRENT = new ThreadLocal<>();

    /** What {@link #open} gives: the device, or why there is none. */
    public sealed interface Opened {
    }

    public record Ready(CudaDevice device) implements Opened {
    }

    /** No usable GPU: {@code reason} says which step failed, for the log line of the CPU fallback. */
    public record Unavailable(String reason) implements Opened {
    }

    private final int ordinal;
    private final CUdevice device;
    private final CUcontext context;
    private final String description;
    private final CudaPointers.Stream compute = new CudaPointers.Stream();
    private final CudaPointers.Stream copy = new CudaPointers.Stream();
    private final CUevent copiesDone = new CUevent();
    private final List<CUmodule> modules = new ArrayList<>();
    private final Map<KernelSignature, CUfunction> functions = new HashMap<>();
    private final Map<KernelSignature, Integer> sharedOptIn = new HashMap<>();
    private final Map<Long, Long> allocations = new HashMap<>();            // address -> bytes
    private final TreeMap<Long, Long> pinned = new TreeMap<>();             // address -> bytes
    private final Cublas cublas;
    private MemorySegment cublasHandle = MemorySegment.NULL;
    private long cublasWorkspace;
    private boolean eventCreated;
    /** The thread capturing the compute stream, or null: the capture is thread-local, so only its own calls are refused. */
    private volatile Thread captureThread;
    private boolean closed;

    private CudaDevice(int ordinal, CUdevice device, String description, Cublas cublas) {
        this.ordinal = ordinal;
        this.device = device;
        this.description = description;
        this.cublas = cublas;
        this.context = new CUcontext();
        check("cuDevicePrimaryCtxRetain", cuDevicePrimaryCtxRetain(context, device));
    }

    /**
     * The GPU of {@code ordinal}, or why it cannot serve: JCuda's native library or the NVIDIA driver
     * ({@code libcuda.so.1}) missing, cuInit failing, no such device, a jar built without nvcc (no
     * fatbins), no cuBLAS (naming where it looked), compute capability below 8.0, or a failure while
     * setting up (the failing call and its error). Never throws for those.
     */
    public static Opened open(int ordinal) {
        try {
            return openChecked(ordinal);
        } catch (LinkageError e) {
            return new Unavailable(Driver.reason(e)); // a driver older than JCuda's binding lacks a symbol
        }
    }

    private static Opened openChecked(int ordinal) {
        String driver = Driver.LOAD_FAILURE;
        if (driver != null) {
            return new Unavailable(driver);
        }
        int init = cuInit(0);
        if (init != CUresult.CUDA_SUCCESS) {
            return new Unavailable("cuInit failed: " + CUresult.stringFor(init)
                    + (init == CUresult.CUDA_ERROR_NO_DEVICE ? " (the driver sees no GPU)" : ""));
        }
        int[] count = {0};
        int r = cuDeviceGetCount(count);
        if (r != CUresult.CUDA_SUCCESS) {
            return new Unavailable("cuDeviceGetCount failed: " + CUresult.stringFor(r));
        }
        if (count[0] == 0) {
            return new Unavailable("no CUDA device: the driver loads but lists none");
        }
        if (ordinal < 0 || ordinal >= count[0]) {
            return new Unavailable("no CUDA device " + ordinal + ": the driver lists " + count[0]);
        }
        String fatbins;
        try {
            fatbins = fatbinProblem(KernelImages.fromClassPath());
        } catch (IllegalStateException e) {
            fatbins = e.getMessage(); // built with nvcc but a fatbin is missing
        }
        if (fatbins != null) {
            return new Unavailable(fatbins);
        }
        CUdevice dev = new CUdevice();
        r = cuDeviceGet(dev, ordinal);
        if (r != CUresult.CUDA_SUCCESS) {
            return new Unavailable("cuDeviceGet(" + ordinal + ") failed: " + CUresult.stringFor(r));
        }
        String name = deviceName(dev);
        int[] major = {0};
        int[] minor = {0};
        r = cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
        if (r == CUresult.CUDA_SUCCESS) {
            r = cuDeviceGetAttribute(minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
        }
        if (r != CUresult.CUDA_SUCCESS) {
            return new Unavailable("cuDeviceGetAttribute(compute capability) failed: " + CUresult.stringFor(r));
        }
        int cc = major[0] * 10 + minor[0];
        if (cc < MIN_COMPUTE_CAPABILITY) {
            return new Unavailable(name + " is sm_" + cc + "; the kernels need sm_" + MIN_COMPUTE_CAPABILITY + " or later");
        }
        Cublas.Location where = Cublas.locate();
        if (where.library().isEmpty()) {
            return new Unavailable(where.notFound());
        }
        Cublas blas;
        try {
            blas = Cublas.load(where.library().get());
        } catch (DeviceException | IllegalArgumentException e) {
            return new Unavailable("cuBLAS at " + where.library().get() + " did not load: " + e.getMessage());
        }
        CudaDevice d = null;
        try {
            d = new CudaDevice(ordinal, dev, name + " (sm_" + cc + ")", blas);
            d.start();
            return new Ready(d);
        } catch (DeviceException | IllegalStateException e) {
            String reason = "setting up " + name + " failed: " + e.getMessage();
            if (d != null) {
                try {
                    d.close();
                } catch (DeviceException again) {
                    reason += "; then " + again.getMessage();
                }
            }
            return new Unavailable(reason);
        }
    }

    /** Why {@code images} cannot serve the CUDA backend, or null when every kernel image is there. */
    static String fatbinProblem(KernelImages images) {
        if (images.isEmpty()) {
            return "the kernels jar carries no fatbins: it was built without nvcc";
        }
        for (KernelImage image : KernelImage.values()) {
            if (!images.available().contains(image)) {
                return "the kernels jar lacks " + image.fatbinFile();
            }
        }
        return null;
    }

    /**
     * Loading JCuda's driver binding, once per process: its class initialiser loads
     * {@code libJCudaDriver} (from the jar), which links {@code libcuda.so.1}, the NVIDIA driver. A
     * second attempt would only see "Could not initialize class", so the first failure is kept.
     */
    static final class Driver {
        /** Null when JCuda's driver binding loaded; otherwise why not. */
        static final String LOAD_FAILURE = load();

        private Driver() {
        }

        private static String load() {
            try {
                JCudaDriver.setExceptionsEnabled(false); // CudaDevice checks every code itself
                return null;
            } catch (LinkageError e) {
                return reason(e);
            }
        }

        /** The failure of loading JCuda's native driver library, in one line. */
        static String reason(Throwable e) {
            String message = String.valueOf(e.getMessage());
            if (message.contains("libcuda.so.1")) {
                return "no NVIDIA driver: libcuda.so.1 is not on this machine's library path (JCuda's driver binding links it)";
            }
            if (e instanceof NoClassDefFoundError) {
                return "JCuda is not on the class path: " + message;
            }
            // LibUtils lists each attempt; the last line that names an UnsatisfiedLinkError is the resource's
            String last = message.lines().filter(l -> l.contains("UnsatisfiedLinkError:")).reduce((a, b) -> b)
                    .orElse(message.lines().findFirst().orElse(message));
            return "JCuda's native driver library did not load: " + last.strip();
        }
    }

    private static String deviceName(CUdevice dev) {
        byte[] name = new byte[256];
        if (cuDeviceGetName(name, name.length, dev) != CUresult.CUDA_SUCCESS) {
            return "CUDA device";
        }
        int n = 0;
        while (n < name.length && name[n] != 0) {
            n++;
        }
        return new String(name, 0, n, StandardCharsets.US_ASCII);
    }

    /** Streams, the copy event, every kernel module and function, the cuBLAS handle and its workspace. */
    private void start() {
        makeCurrent();
        check("cuStreamCreate(compute)", cuStreamCreate(compute, CUstream_flags.CU_STREAM_NON_BLOCKING));
        check("cuStreamCreate(copy)", cuStreamCreate(copy, CUstream_flags.CU_STREAM_NON_BLOCKING));
        check("cuEventCreate", cuEventCreate(copiesDone, CUevent_flags.CU_EVENT_DISABLE_TIMING));
        eventCreated = true;
        KernelImages images = KernelImages.fromClassPath();
        Map<KernelImage, CUmodule> byImage = new EnumMap<>(KernelImage.class);
        for (KernelImage image : KernelImage.values()) {
            CUmodule module = new CUmodule();
            // a fatbin is one of the images cuModuleLoadData accepts; the driver picks sm_80/sm_90 SASS or JITs the PTX
            check("cuModuleLoadData(" + image.fatbinFile() + ")", cuModuleLoadData(module, images.bytes(image)));
            modules.add(module);
            byImage.put(image, module);
        }
        for (KernelSignature k : Kernels.ALL) {
            CUfunction f = new CUfunction();
            check("cuModuleGetFunction(" + k.entryPoint() + ")", cuModuleGetFunction(f, byImage.get(k.image()), k.entryPoint()));
            functions.put(k, f);
        }
        cublasHandle = cublas.create();
        cublas.setStream(cublasHandle, compute.handle());
        cublasWorkspace = alloc(CUBLAS_WORKSPACE_BYTES);
        cublas.setWorkspace(cublasHandle, cublasWorkspace, CUBLAS_WORKSPACE_BYTES);
        cublas.setMathMode(cublasHandle, Cublas.Constant.CUBLAS_DEFAULT_MATH.value
                | Cublas.Constant.CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION.value);
    }

    /** Makes this device's primary context current on the calling thread (a thread-local lookup when it already is). */
    public void makeCurrent() {
        if (closed) {
            throw new IllegalStateException("CUDA device " + ordinal + " is closed");
        }
        if (CURRENT.get() != this) {
            check("cuCtxSetCurrent", cuCtxSetCurrent(context));
            CURRENT.set(this);
        }
    }

    /** The cuBLAS library this device calls and its version, for the start-up log. */
    public String cublasDescription() {
        makeCurrent();
        return cublas.library() + " (version " + cublas.version(cublasHandle) + ")";
    }

    @Override
    public String description() {
        return description;
    }

    @Override
    public long totalBytes() {
        return memInfo()[1];
    }

    @Override
    public long freeBytes() {
        return memInfo()[0];
    }

    private long[] memInfo() {
        makeCurrent();
        long[] free = {0};
        long[] total = {0};
        check("cuMemGetInfo", cuMemGetInfo(free, total));
        return new long[] {free[0], total[0]};
    }

    @Override
    public long alloc(long bytes) {
        makeCurrent();
        notCapturing("alloc");
        if (bytes < 1) {
            throw new IllegalArgumentException("device allocation of " + bytes + " bytes: must be positive");
        }
        CUdeviceptr p = new CUdeviceptr();
        int r = cuMemAlloc(p, bytes);
        if (r != CUresult.CUDA_SUCCESS) {
            throw new DeviceException("cuMemAlloc of " + bytes + " bytes failed: " + CUresult.stringFor(r)
                    + (r == CUresult.CUDA_ERROR_OUT_OF_MEMORY ? " (" + freeBytes() + " bytes free)" : ""));
        }
        long address = CudaPointers.address(p);
        allocations.put(address, bytes);
        return address;
    }

    @Override
    public void free(long address) {
        makeCurrent();
        notCapturing("free");
        if (allocations.remove(address) == null) {
            throw new IllegalArgumentException("free of 0x" + Long.toHexString(address) + ": not an allocation of this device");
        }
        check("cuMemFree", cuMemFree(CudaPointers.device(address)));
    }

    @Override
    public MemorySegment allocPinned(long bytes) {
        makeCurrent();
        notCapturing("allocPinned");
        if (bytes < 1) {
            throw new IllegalArgumentException("pinned allocation of " + bytes + " bytes: must be positive");
        }
        Pointer p = new Pointer();
        // portable: pinned for every context, in case another device of the process copies from it
        check("cuMemHostAlloc(" + bytes + " bytes)", cuMemHostAlloc(p, bytes, JCudaDriver.CU_MEMHOSTALLOC_PORTABLE));
        long address = CudaPointers.address(p);
        pinned.put(address, bytes);
        return MemorySegment.ofAddress(address).reinterpret(bytes);
    }

    @Override
    public void freePinned(MemorySegment segment) {
        makeCurrent();
        notCapturing("freePinned");
        if (pinned.remove(segment.address()) == null) {
            throw new IllegalArgumentException("freePinned of 0x" + Long.toHexString(segment.address())
                    + ": not the start of a pinned allocation of this device");
        }
        check("cuMemFreeHost", cuMemFreeHost(CudaPointers.host(segment.address())));
    }

    /**
     * Copies on the compute stream, in order with launches. Outside a capture it returns once the copy
     * is done (cuStreamSynchronize on the compute stream), so the caller may reuse {@code src} at once
     * whatever memory it is; a heap segment is first copied to native memory. Inside a capture the copy
     * becomes a graph node that reads {@code src} at every replay, so {@code src} must be pinned.
     */
    @Override
    public void upload(MemorySegment src, long dst, long bytes) {
        makeCurrent();
        checkRange("upload", src, bytes);
        if (bytes == 0) {
            return;
        }
        if (capturing()) {
            requirePinned("a captured upload", src, bytes);
            check("cuMemcpyHtoDAsync", cuMemcpyHtoDAsync(CudaPointers.device(dst), CudaPointers.host(src.address()), bytes, compute));
            return;
        }
        try (Arena staging = Arena.ofConfined()) {
            MemorySegment from = src.isNative() ? src : staging.allocate(bytes, 16).copyFrom(src.asSlice(0, bytes));
            check("cuMemcpyHtoDAsync", cuMemcpyHtoDAsync(CudaPointers.device(dst), CudaPointers.host(from.address()), bytes, compute));
            check("cuStreamSynchronize(compute) after an upload", cuStreamSynchronize(compute));
        }
    }

    @Override
    public void download(long src, MemorySegment dst, long bytes) {
        makeCurrent();
        if (capturing()) {
            throw new IllegalStateException("a download waits for the stream, which cannot be captured");
        }
        checkRange("download", dst, bytes);
        if (bytes == 0) {
            return;
        }
        try (Arena staging = Arena.ofConfined()) {
            MemorySegment to = dst.isNative() ? dst : staging.allocate(bytes, 16);
            check("cuMemcpyDtoHAsync", cuMemcpyDtoHAsync(CudaPointers.host(to.address()), CudaPointers.device(src), bytes, compute));
            check("cuStreamSynchronize(compute) after a download", cuStreamSynchronize(compute));
            if (to != dst) {
                dst.asSlice(0, bytes).copyFrom(to);
            }
        }
    }

    @Override
    public void zero(long dst, long bytes) {
        makeCurrent();
        if (bytes > 0) {
            check("cuMemsetD8Async", cuMemsetD8Async(CudaPointers.device(dst), (byte) 0, bytes, compute));
        }
    }

    @Override
    public void uploadAsync(MemorySegment pinnedSrc, long dst, long bytes) {
        makeCurrent();
        if (capturing()) {
            throw new IllegalStateException("copy-stream uploads are not part of a captured step");
        }
        checkRange("uploadAsync", pinnedSrc, bytes);
        requirePinned("uploadAsync", pinnedSrc, bytes);
        if (bytes > 0) {
            check("cuMemcpyHtoDAsync(copy stream)",
                    cuMemcpyHtoDAsync(CudaPointers.device(dst), CudaPointers.host(pinnedSrc.address()), bytes, copy));
        }
    }

    @Override
    public void awaitCopies() {
        makeCurrent();
        if (capturing()) {
            // an event recorded outside the capture cannot order a captured stream
            throw new IllegalStateException("awaitCopies inside a capture: wait for the copies before capturing or replaying");
        }
        check("cuEventRecord(copy stream)", cuEventRecord(copiesDone, copy));
        check("cuStreamWaitEvent(compute)", cuStreamWaitEvent(compute, copiesDone, 0));
    }

    @Override
    public void syncCopies() {
        makeCurrent();
        check("cuStreamSynchronize(copy)", cuStreamSynchronize(copy));
    }

    @Override
    public void launch(KernelSignature kernel, LaunchShape shape, Object... args) {
        makeCurrent();
        KernelArgs.check(kernel, args);
        CUfunction f = functions.get(kernel);
        if (f == null) {
            throw new IllegalArgumentException(kernel.entryPoint() + " is not one of the kernels this device loaded");
        }
        if (shape.sharedBytes() > DEFAULT_SHARED_LIMIT && sharedOptIn.getOrDefault(kernel, 0) < shape.sharedBytes()) {
            check("cuFuncSetAttribute(" + kernel.entryPoint() + ", max dynamic shared " + shape.sharedBytes() + ")",
                    cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, shape.sharedBytes()));
            sharedOptIn.put(kernel, shape.sharedBytes());
        }
        NativePointerObject[] params = new NativePointerObject[args.length];
        for (int i = 0; i < args.length; i++) {
            params[i] = switch (args[i]) {
                case Long address -> Pointer.to(new long[] {address}); // a device pointer is its 8-byte address
                case Integer v -> Pointer.to(new int[] {v});
                case Float v -> Pointer.to(new float[] {v});
                case Double v -> Pointer.to(new double[] {v});
                default -> throw new IllegalStateException("KernelArgs.check let " + args[i].getClass() + " through");
            };
        }
        int r = cuLaunchKernel(f, shape.gridX(), shape.gridY(), shape.gridZ(), shape.blockX(), 1, 1,
                shape.sharedBytes(), compute, Pointer.to(params), null);
        if (r != CUresult.CUDA_SUCCESS) {
            throw new DeviceException("cuLaunchKernel(" + kernel.entryPoint() + ", grid " + shape.gridX() + "×" + shape.gridY()
                    + "×" + shape.gridZ() + ", block " + shape.blockX() + ", shared " + shape.sharedBytes() + ") failed: "
                    + CUresult.stringFor(r));
        }
    }

    @Override
    public void gemm(Gemm gemm) {
        makeCurrent();
        cublas.gemm(cublasHandle, gemm);
    }

    @Override
    public void synchronize() {
        makeCurrent();
        notCapturing("synchronize");
        check("cuStreamSynchronize(compute)", cuStreamSynchronize(compute));
    }

    @Override
    public void beginCapture() {
        makeCurrent();
        if (captureThread != null) {
            throw new IllegalStateException("already capturing");
        }
        // thread-local: another thread's allocations (an adapter load) do not break this capture
        check("cuStreamBeginCapture", cuStreamBeginCapture(compute, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
        captureThread = Thread.currentThread();
    }

    @Override
    public Graph endCapture() {
        makeCurrent();
        if (!capturing()) {
            throw new IllegalStateException("not capturing");
        }
        captureThread = null;
        CUgraph graph = new CUgraph();
        check("cuStreamEndCapture", cuStreamEndCapture(compute, graph));
        CUgraphExec exec = new CUgraphExec();
        int r = cuGraphInstantiate(exec, graph, 0);
        if (r != CUresult.CUDA_SUCCESS) {
            cuGraphDestroy(graph);
            throw new DeviceException("cuGraphInstantiate failed: " + CUresult.stringFor(r));
        }
        return new CudaGraph(graph, exec);
    }

    private final class CudaGraph implements Graph {
        private final CUgraph graph;
        private final CUgraphExec exec;
        private boolean closed;

        CudaGraph(CUgraph graph, CUgraphExec exec) {
            this.graph = graph;
            this.exec = exec;
        }

        @Override
        public void replay() {
            makeCurrent();
            if (closed) {
                throw new IllegalStateException("replay of a closed graph");
            }
            check("cuGraphLaunch", cuGraphLaunch(exec, compute));
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            makeCurrent();
            check("cuGraphExecDestroy", cuGraphExecDestroy(exec));
            check("cuGraphDestroy", cuGraphDestroy(graph));
        }
    }

    /** Releases everything this device made, then its hold on the primary context. Errors are collected, not thrown mid-way. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        List<String> failures = new ArrayList<>();
        try {
            makeCurrent();
        } catch (DeviceException e) {
            failures.add(e.getMessage());
        }
        quietly(failures, "cuStreamSynchronize(compute)", () -> cuStreamSynchronize(compute));
        quietly(failures, "cuStreamSynchronize(copy)", () -> cuStreamSynchronize(copy));
        if (!cublasHandle.equals(MemorySegment.NULL)) {
            try {
                cublas.destroy(cublasHandle);
            } catch (DeviceException e) {
                failures.add(e.getMessage());
            }
        }
        for (long address : List.copyOf(allocations.keySet())) {
            quietly(failures, "cuMemFree", () -> cuMemFree(CudaPointers.device(address)));
        }
        allocations.clear();
        for (long address : List.copyOf(pinned.keySet())) {
            quietly(failures, "cuMemFreeHost", () -> cuMemFreeHost(CudaPointers.host(address)));
        }
        pinned.clear();
        for (CUmodule m : modules) {
            quietly(failures, "cuModuleUnload", () -> cuModuleUnload(m));
        }
        if (eventCreated) {
            quietly(failures, "cuEventDestroy", () -> cuEventDestroy(copiesDone));
        }
        if (compute.handle() != 0) {
            quietly(failures, "cuStreamDestroy(compute)", () -> cuStreamDestroy(compute));
        }
        if (copy.handle() != 0) {
            quietly(failures, "cuStreamDestroy(copy)", () -> cuStreamDestroy(copy));
        }
        quietly(failures, "cuDevicePrimaryCtxRelease", () -> cuDevicePrimaryCtxRelease(device));
        closed = true;
        CURRENT.remove();
        if (!failures.isEmpty()) {
            throw new DeviceException("closing CUDA device " + ordinal + ": " + String.join("; ", failures));
        }
    }

    private static void quietly(List<String> failures, String call, java.util.function.IntSupplier result) {
        int r = result.getAsInt();
        if (r != CUresult.CUDA_SUCCESS) {
            failures.add(call + " failed: " + CUresult.stringFor(r));
        }
    }

    /** True when this thread is capturing: another thread (an adapter loader) may copy and allocate meanwhile. */
    private boolean capturing() {
        return captureThread == Thread.currentThread();
    }

    /** Calls the driver refuses while this thread captures (and that would end the capture with an error). */
    private void notCapturing(String call) {
        if (capturing()) {
            throw new IllegalStateException(call + " inside a capture: allocate, free and synchronize before beginCapture or after endCapture");
        }
    }

    private void requirePinned(String what, MemorySegment src, long bytes) {
        if (!src.isNative() || !inside(pinned, src.address(), bytes)) {
            throw new IllegalArgumentException(what + " reads " + bytes + " bytes at 0x" + Long.toHexString(src.address())
                    + ", which is not inside memory from allocPinned");
        }
    }

    /** Whether {@code [address, address + bytes)} lies inside one of {@code blocks} (start → length). */
    static boolean inside(TreeMap<Long, Long> blocks, long address, long bytes) {
        Map.Entry<Long, Long> block = blocks.floorEntry(address);
        return block != null && address + bytes <= block.getKey() + block.getValue();
    }

    private static void checkRange(String what, MemorySegment segment, long bytes) {
        if (bytes < 0 || bytes > segment.byteSize()) {
            throw new IllegalArgumentException(what + " of " + bytes + " bytes from a segment of " + segment.byteSize());
        }
    }

    static void check(String call, int result) {
        if (result != CUresult.CUDA_SUCCESS) {
            throw new DeviceException(call + " failed: " + CUresult.stringFor(result));
        }
    }
}
