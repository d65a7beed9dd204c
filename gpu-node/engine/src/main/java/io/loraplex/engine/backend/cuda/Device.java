package io.loraplex.engine.backend.cuda;

import io.loraplex.kernels.KernelSignature;
import java.lang.foreign.MemorySegment;

/**
 * What {@link CudaBackend} asks of a GPU: device memory, copies, kernel launches, the base GEMM and
 * stream capture. {@link CudaDevice} is the GPU (the driver API through JCuda, cuBLAS through FFM);
 * {@link HostDevice} runs every kernel as its {@code .cu} header states it, in Java on host memory,
 * and is the reference the device script checks the GPU's kernels against.
 *
 * <p>Device memory is named by 64-bit addresses. Two streams: the compute stream runs launches,
 * GEMMs and the ordered copies ({@link #upload}, {@link #download}, {@link #zero}) in call order; the
 * copy stream runs {@link #uploadAsync} from pinned host memory, and the compute stream waits for it
 * on the device (never the host) at {@link #awaitCopies}.
 */
public interface Device extends AutoCloseable {

    /** The device's name and compute capability, e.g. "NVIDIA H100 80GB HBM3 (sm_90)". */
    String description();

    long totalBytes();

    long freeBytes();

    /** Allocates {@code bytes} of device memory (256-byte aligned) and returns its address. */
    long alloc(long bytes);

    void free(long address);

    /** Page-locked host memory the copy stream reads without staging. */
    MemorySegment allocPinned(long bytes);

    void freePinned(MemorySegment pinned);

    /**
     * Copies {@code bytes} from host {@code src} to device {@code dst} on the compute stream, in order
     * with launches. From {@link #allocPinned pinned} memory the copy is asynchronous and may be
     * captured into a graph: the caller leaves {@code src} unchanged until the stream has passed it
     * (after {@link #synchronize} or a {@link #download}). From any other memory it returns only once
     * {@code src} has been read, and cannot be captured.
     */
    void upload(MemorySegment src, long dst, long bytes);

    /** Copies {@code bytes} from device {@code src} to host {@code dst} after the compute stream's earlier work; returns when done. */
    void download(long src, MemorySegment dst, long bytes);

    /** Sets {@code bytes} of device memory to zero on the compute stream. */
    void zero(long dst, long bytes);

    /** Queues a copy from pinned host memory on the copy stream; returns at once. */
    void uploadAsync(MemorySegment pinnedSrc, long dst, long bytes);

    /** Makes the compute stream's later work wait, on the device, for every copy queued so far. */
    void awaitCopies();

    /** Blocks the host until every queued copy is done (before reusing a pinned buffer). */
    void syncCopies();

    /**
     * Launches {@code kernel} on the compute stream with {@code args} in its parameter order: a
     * {@code Long} address for each pointer parameter, {@code Integer}, {@code Float} or {@code Double}
     * for the scalars ({@link KernelArgs#check} enforces it).
     */
    void launch(KernelSignature kernel, LaunchShape shape, Object... args);

    void gemm(Gemm gemm);

    /** Blocks the host until the compute stream is idle. */
    void synchronize();

    /** Starts recording the compute stream's launches, GEMMs and copies into a graph instead of running them. */
    void beginCapture();

    /** Ends the capture and returns the graph, ready to replay. */
    Graph endCapture();

    /** A captured sequence of work, replayed with the same arguments (the tables it reads may change in place). */
    interface Graph extends AutoCloseable {
        void replay();

        @Override
        void close();
    }

    @Override
    void close();
}
