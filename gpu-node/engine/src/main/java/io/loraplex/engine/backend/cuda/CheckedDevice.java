package io.loraplex.engine.backend.cuda;

import io.loraplex.kernels.KernelSignature;
import io.loraplex.kernels.ParamType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A {@link Device} that runs every call on two devices, the one under test (a GPU) and a reference
 * (a {@link HostDevice}), and compares each kernel's and GEMM's output as soon as it is written:
 * {@code gpu-check kernels} drives {@code CudaBackend} on it, so every kernel is checked with the
 * arguments the backend really passes.
 *
 * <p>Memory is mirrored: each allocation exists on both, and a pointer argument (a GPU address,
 * possibly inside an allocation) is translated to the reference's address through a map of the
 * allocations. After each launch the buffers the kernel may write (its non-const pointer
 * parameters; a GEMM's {@code c}) are read back from both, from the pointer to the end of its
 * allocation, compared element by element, and the GPU's bytes are then copied into the reference,
 * so the next kernel runs on identical inputs on both: an error is charged to the kernel that made
 * it, never to the kernels after it.
 *
 * <p>Tolerance per element: {@code |g - h| <= 2^-7·max(|g|, |h|) + 1e-3·rowMax}, rowMax the largest
 * |h| of the element's output row. Both sides sum in f32 but in different orders (warps, tiles,
 * cuBLAS's split-k), then round once to bf16, whose spacing is 2^-7 relative: two correct results can
 * sit one bf16 step apart, and an element much smaller than its row may lose all its digits to
 * cancellation, hence the row term. A wrong index or a missing term moves elements by O(rowMax).
 */
public final class CheckedDevice implements Device {

    /** Relative part of the tolerance: one bf16 step (8 significant bits). */
    public static final double RELATIVE = 0x1p-7;

    /** Part of the tolerance relative to the largest value of the element's row. */
    public static final double ROW_RELATIVE = 1e-3;

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The name a GEMM's outcome is recorded under, beside the kernels' entry points. */
    public static final String GEMM = "gemm (cuBLAS)";

    private record Allocation(long reference, long bytes) {
    }

    private final Device gpu;
    private final Device reference;
    private final TreeMap<Long, Allocation> allocations = new TreeMap<>(); // GPU address -> its mirror
    private final Map<String, KernelReport.Builder> reports = new LinkedHashMap<>();
    private List<Runnable> capture;

    /** Checks {@code gpu} against {@code reference}; closing this closes both. */
    public CheckedDevice(Device gpu, Device reference) {
        this.gpu = gpu;
        this.reference = reference;
    }

    /** Each kernel's outcome so far, in the order the kernels first ran. */
    public synchronized List<KernelReport> reports() {
        return reports.values().stream().map(KernelReport.Builder::build).toList();
    }

    /** True when some kernel or GEMM wrote an element outside the tolerance. */
    public synchronized boolean mismatched() {
        return reports.values().stream().anyMatch(b -> b.mismatches > 0);
    }

    @Override
    public String description() {
        return gpu.description() + ", checked against " + reference.description();
    }

    @Override
    public long totalBytes() {
        return gpu.totalBytes();
    }

    @Override
    public long freeBytes() {
        return gpu.freeBytes();
    }

    @Override
    public synchronized long alloc(long bytes) {
        long g = gpu.alloc(bytes);
        long h = reference.alloc(bytes);
        allocations.put(g, new Allocation(h, bytes));
        // fresh GPU memory holds garbage and the host's zeros: zero both, so bytes no kernel writes compare equal
        gpu.zero(g, bytes);
        reference.zero(h, bytes);
        return g;
    }

    @Override
    public synchronized void free(long address) {
        Allocation a = allocations.remove(address);
        if (a == null) {
            throw new IllegalArgumentException("free of 0x" + Long.toHexString(address) + ": not an allocation's start");
        }
        gpu.free(address);
        reference.free(a.reference());
    }

    @Override
    public MemorySegment allocPinned(long bytes) {
        return gpu.allocPinned(bytes);
    }

    @Override
    public void freePinned(MemorySegment pinned) {
        gpu.freePinned(pinned);
    }

    @Override
    public void upload(MemorySegment src, long dst, long bytes) {
        // inside a capture, read at replay as a GPU graph's copy node reads its host source
        run(() -> {
            gpu.upload(src, dst, bytes);
            reference.upload(src, translate(dst, "upload destination"), bytes);
        });
    }

    @Override
    public void download(long src, MemorySegment dst, long bytes) {
        gpu.download(src, dst, bytes);
    }

    @Override
    public void zero(long dst, long bytes) {
        run(() -> {
            gpu.zero(dst, bytes);
            reference.zero(translate(dst, "zero destination"), bytes);
        });
    }

    @Override
    public void uploadAsync(MemorySegment pinnedSrc, long dst, long bytes) {
        gpu.uploadAsync(pinnedSrc, dst, bytes);
        reference.upload(pinnedSrc, translate(dst, "async upload destination"), bytes);
    }

    @Override
    public void awaitCopies() {
        run(gpu::awaitCopies);
    }

    @Override
    public void syncCopies() {
        gpu.syncCopies();
    }

    @Override
    public void launch(KernelSignature kernel, LaunchShape shape, Object... args) {
        KernelArgs.check(kernel, args);
        Object[] copy = args.clone();
        run(() -> checkedLaunch(kernel, shape, copy));
    }

    @Override
    public void gemm(Gemm g) {
        run(() -> checkedGemm(g));
    }

    @Override
    public void synchronize() {
        gpu.synchronize();
    }

    /**
     * Records instead of running, as a GPU's capture does; the returned graph replays the recorded
     * calls one by one on both devices, checking each kernel (a captured GPU graph cannot be
     * stopped between kernels to read their outputs). The GPU's own capture and replay are
     * exercised where {@code gpu-check model} runs the backend on the GPU alone.
     */
    @Override
    public synchronized void beginCapture() {
        if (capture != null) {
            throw new IllegalStateException("already capturing");
        }
        capture = new ArrayList<>();
    }

    @Override
    public synchronized Graph endCapture() {
        if (capture == null) {
            throw new IllegalStateException("not capturing");
        }
        List<Runnable> recorded = List.copyOf(capture);
        capture = null;
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
        try {
            gpu.close();
        } finally {
            reference.close();
        }
    }

    private synchronized void run(Runnable work) {
        if (capture != null) {
            capture.add(work);
        } else {
            work.run();
        }
    }

    private void checkedLaunch(KernelSignature kernel, LaunchShape shape, Object[] args) {
        Object[] translated = args.clone();
        for (int i = 0; i < args.length; i++) {
            KernelSignature.Param p = kernel.params().get(i);
            if (p.type().isPointer() && (Long) args[i] != 0L) {
                translated[i] = translate((Long) args[i], kernel.entryPoint() + " parameter " + p.name());
            }
        }
        gpu.launch(kernel, shape, args);
        reference.launch(kernel, shape, translated);
        KernelReport.Builder report = report(kernel.entryPoint());
        for (int i = 0; i < args.length; i++) {
            KernelSignature.Param p = kernel.params().get(i);
            if (written(p.type()) && (Long) args[i] != 0L) {
                int row = rowWidth(kernel, p.name(), args);
                compare(report, p.name(), (Long) args[i], p.type() == ParamType.F32_PTR, row);
            }
        }
    }

    private void checkedGemm(Gemm g) {
        Gemm mirrored = new Gemm(translate(g.a(), "gemm a"), g.lda(), translate(g.b(), "gemm b"), g.ldb(),
                translate(g.c(), "gemm c"), g.ldc(), g.m(), g.n(), g.kDim(), g.f32Out());
        gpu.gemm(g);
        reference.gemm(mirrored);
        compare(report(GEMM), "c", g.c(), g.f32Out(), g.ldc());
    }

    private synchronized KernelReport.Builder report(String name) {
        return reports.computeIfAbsent(name, KernelReport.Builder::new).launched();
    }

    /** The pointer types a kernel writes through. */
    private static boolean written(ParamType t) {
        return t == ParamType.BF16_PTR || t == ParamType.F32_PTR;
    }

    /**
     * Elements per output row, for the row term of the tolerance: the kernel's stride or width
     * parameter for that output ({@code .cu} headers: rows of {@code *_stride} elements); 0 when the
     * kernel has none, which makes the whole buffer one row.
     */
    static int rowWidth(KernelSignature kernel, String output, Object[] args) {
        for (String name : List.of(output + "_stride", "hidden", "n", "out_stride")) {
            if (kernel.params().stream().anyMatch(p -> p.name().equals(name) && p.type() == ParamType.I32)) {
                return (Integer) args[kernel.indexOf(name)];
            }
        }
        return 0;
    }

    private void compare(KernelReport.Builder report, String param, long gpuAddress, boolean f32, int rowWidth) {
        Map.Entry<Long, Allocation> e = allocation(gpuAddress, report.name + " parameter " + param);
        long offset = gpuAddress - e.getKey();
        long bytes = e.getValue().bytes() - offset;
        long refAddress = e.getValue().reference() + offset;
        int width = f32 ? Float.BYTES : Short.BYTES;
        long elements = bytes / width;
        if (elements == 0) {
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment g = arena.allocate(elements * width, 8);
            MemorySegment h = arena.allocate(elements * width, 8);
            gpu.download(gpuAddress, g, elements * width);
            reference.download(refAddress, h, elements * width);
            long row = rowWidth > 0 ? rowWidth : elements;
            for (long start = 0; start < elements; start += row) {
                long end = Math.min(elements, start + row);
                double rowMax = 0;
                for (long i = start; i < end; i++) {
                    rowMax = Math.max(rowMax, Math.abs(value(h, i, f32)));
                }
                for (long i = start; i < end; i++) {
                    float gv = value(g, i, f32);
                    float hv = value(h, i, f32);
                    report.element(param, i, gv, hv, rowMax);
                }
            }
            // the GPU's result becomes the reference's input for every later kernel: no drift between the two
            reference.upload(g, refAddress, elements * width);
        }
    }

    private static float value(MemorySegment s, long i, boolean f32) {
        return f32 ? s.getAtIndex(F32, i) : HostMemory.bf16ToFloat(s.getAtIndex(U16, i));
    }

    private long translate(long gpuAddress, String what) {
        Map.Entry<Long, Allocation> e = allocation(gpuAddress, what);
        return e.getValue().reference() + (gpuAddress - e.getKey());
    }

    private synchronized Map.Entry<Long, Allocation> allocation(long gpuAddress, String what) {
        Map.Entry<Long, Allocation> e = allocations.floorEntry(gpuAddress);
        if (e == null || gpuAddress - e.getKey() >= e.getValue().bytes()) {
            throw new IllegalArgumentException(what + ": address 0x" + Long.toHexString(gpuAddress)
                    + " is in no allocation made through the checked device");
        }
        return e;
    }

    /**
     * One kernel's outcome: how often it ran, how many elements it wrote outside the tolerance, and
     * its worst element as a share of the tolerance (under 1 passes) with where it was.
     *
     * @param kernel     entry point, or {@link #GEMM}
     * @param launches   launches (GEMM calls) checked
     * @param elements   output elements compared
     * @param mismatches elements outside the tolerance
     * @param worstRatio the largest |g - h| / tolerance
     * @param worstAbs   |g - h| of that element
     * @param where      that element: launch, output parameter, element index, both values
     */
    public record KernelReport(String kernel, long launches, long elements, long mismatches, double worstRatio, double worstAbs,
            String where) {

        public boolean passed() {
            return mismatches == 0;
        }

        static final class Builder {
            final String name;
            long launches;
            long elements;
            long mismatches;
            double worstRatio;
            double worstAbs;
            String where = "-";

            Builder(String name) {
                this.name = name;
            }

            Builder launched() {
                launches++;
                return this;
            }

            void element(String param, long index, float g, float h, double rowMax) {
                elements++;
                double diff = Math.abs((double) g - h);
                double bound = RELATIVE * Math.max(Math.abs(g), Math.abs(h)) + ROW_RELATIVE * rowMax;
                double ratio;
                if (Float.isNaN(g) || Float.isNaN(h)) {
                    ratio = Float.isNaN(g) && Float.isNaN(h) ? 0 : Double.POSITIVE_INFINITY;
                } else if (diff == 0) {
                    ratio = 0;
                } else {
                    ratio = bound == 0 ? Double.POSITIVE_INFINITY : diff / bound;
                }
                if (ratio > 1) {
                    mismatches++;
                }
                if (ratio > worstRatio) {
                    worstRatio = ratio;
                    worstAbs = Float.isNaN(g) || Float.isNaN(h) ? Double.NaN : diff;
                    where = "launch " + launches + ", " + param + "[" + index + "]: gpu " + g + ", reference " + h;
                }
            }

            KernelReport build() {
                return new KernelReport(name, launches, elements, mismatches, worstRatio, worstAbs, where);
            }
        }
    }
}
