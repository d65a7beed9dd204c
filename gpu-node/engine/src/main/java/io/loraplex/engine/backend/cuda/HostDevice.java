package io.loraplex.engine.backend.cuda;

import io.loraplex.kernels.KernelSignature;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * A {@link Device} on the host: every kernel as its {@code .cu} header states it ({@link HostKernels}),
 * the GEMM in f32 over bf16, one stream (copies are done when called). It is the reference the
 * device script compares each GPU kernel with, and it lets the tests run {@link CudaBackend}'s whole
 * host side (buffers, strides, tables, launch shapes, graph capture) on a machine without a GPU.
 */
public final class HostDevice implements Device {

    private static final java.lang.foreign.ValueLayout.OfShort BF16_BITS =
            java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    private final HostMemory memory = new HostMemory();
    private final long capacity;
    private volatile List<Runnable> capture;
    private volatile Thread captureThread;

    /** A host device that refuses allocations past {@code capacity} bytes, as a GPU of that size would. */
    public HostDevice(long capacity) {
        this.capacity = capacity;
    }

    public HostMemory memory() {
        return memory;
    }

    @Override
    public String description() {
        return "host reference device (" + (capacity >> 20) + " MiB)";
    }

    @Override
    public long totalBytes() {
        return capacity;
    }

    @Override
    public long freeBytes() {
        return capacity - memory.used();
    }

    @Override
    public long alloc(long bytes) {
        if (bytes > freeBytes()) {
            throw new DeviceException("out of device memory: " + bytes + " bytes asked, " + freeBytes() + " free of " + capacity);
        }
        return memory.alloc(bytes);
    }

    @Override
    public void free(long address) {
        memory.free(address);
    }

    @Override
    public MemorySegment allocPinned(long bytes) {
        return Arena.ofAuto().allocate(bytes, 256);
    }

    @Override
    public void freePinned(MemorySegment pinned) {
        // Arena.ofAuto: released when unreachable
    }

    @Override
    public void upload(MemorySegment src, long dst, long bytes) {
        run(() -> memory.at(dst, bytes).copyFrom(src.asSlice(0, bytes)));
    }

    @Override
    public void download(long src, MemorySegment dst, long bytes) {
        if (capturing()) {
            throw new IllegalStateException("a download waits for the stream, which cannot be captured");
        }
        dst.asSlice(0, bytes).copyFrom(memory.at(src, bytes));
    }

    @Override
    public void zero(long dst, long bytes) {
        run(() -> memory.at(dst, bytes).fill((byte) 0));
    }

    @Override
    public void uploadAsync(MemorySegment pinnedSrc, long dst, long bytes) {
        if (capturing()) {
            throw new IllegalStateException("copy-stream uploads are not part of a captured step");
        }
        memory.at(dst, bytes).copyFrom(pinnedSrc.asSlice(0, bytes));
    }

    @Override
    public void awaitCopies() {
        // one stream: every copy is done when its call returns
    }

    @Override
    public void syncCopies() {
    }

    @Override
    public void launch(KernelSignature kernel, LaunchShape shape, Object... args) {
        KernelArgs.check(kernel, args);
        HostKernel k = HostKernels.of(kernel);
        HostKernel.Args named = named(kernel, args.clone());
        run(() -> k.run(shape, named, memory));
    }

    @Override
    public void gemm(Gemm g) {
        run(() -> IntStream.range(0, g.m()).parallel().forEach(i -> {
            float[] a = new float[g.kDim()];
            for (int k = 0; k < g.kDim(); k++) {
                a[k] = memory.bf16(g.a(), (long) i * g.lda() + k);
            }
            for (int j = 0; j < g.n(); j++) {
                float acc = 0;
                // one lookup of b's row, not one per element: the address map is shared by every thread
                MemorySegment row = memory.at(g.b() + 2L * j * g.ldb(), 2L * g.kDim());
                for (int k = 0; k < g.kDim(); k++) {
                    acc = Math.fma(a[k], HostMemory.bf16ToFloat(row.getAtIndex(BF16_BITS, k)), acc);
                }
                long at = (long) i * g.ldc() + j;
                if (g.f32Out()) {
                    memory.putF32(g.c(), at, acc);
                } else {
                    memory.putBf16(g.c(), at, acc);
                }
            }
        }));
    }

    @Override
    public void synchronize() {
    }

    @Override
    public void beginCapture() {
        if (capture != null) {
            throw new IllegalStateException("already capturing");
        }
        capture = new ArrayList<>();
        captureThread = Thread.currentThread();
    }

    @Override
    public Graph endCapture() {
        if (capture == null) {
            throw new IllegalStateException("not capturing");
        }
        List<Runnable> recorded = List.copyOf(capture);
        capture = null;
        captureThread = null;
        return new Graph() {
            @Override
            public void replay() {
                recorded.forEach(Runnable::run);
            }

            @Override
            public void close() {
            }
        };
    }

    @Override
    public void close() {
        memory.close();
    }

    /** True when this thread captures; as on a GPU, other threads' work (an adapter load) runs meanwhile. */
    private boolean capturing() {
        return captureThread == Thread.currentThread();
    }

    private void run(Runnable work) {
        if (capturing()) {
            capture.add(work);
        } else {
            work.run();
        }
    }

    private static HostKernel.Args named(KernelSignature kernel, Object[] args) {
        return new HostKernel.Args() {
            @Override
            public long ptr(String name) {
                return (Long) args[kernel.indexOf(name)];
            }

            @Override
            public int i32(String name) {
                return (Integer) args[kernel.indexOf(name)];
            }

            @Override
            public float f32(String name) {
                return (Float) args[kernel.indexOf(name)];
            }

            @Override
            public double f64(String name) {
                return (Double) args[kernel.indexOf(name)];
            }
        };
    }
}
