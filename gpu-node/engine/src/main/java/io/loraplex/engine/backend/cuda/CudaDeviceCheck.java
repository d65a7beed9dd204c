package io.loraplex.engine.backend.cuda;

import io.loraplex.kernels.Kernels;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;

/**
 * A check of a {@link Device} against values computed here in Java, for the device script on a GPU machine:
 * copies both ways (heap and pinned sources, offsets, zeroing), the copy stream ordered by
 * {@link Device#awaitCopies}, GEMMs of several shapes and strides in bf16 and f32 out, two kernel
 * launches with pointer, int and float arguments, a captured graph replayed after its pinned input
 * changed in place, and an allocation past the device's size failing with a {@link DeviceException}.
 * {@code main} adds the header check and opens GPU 0; the unit test runs the same checks on a
 * {@link HostDevice}, so the check itself is tested where no GPU is.
 *
 * <p>It checks this class's contract only; the kernels against {@link HostKernels} are the CUDA
 * backend's own device check.
 */
public final class CudaDeviceCheck {

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Device device;
    private final PrintStream log;
    private final List<String> problems = new ArrayList<>();
    private final SplittableRandom random = new SplittableRandom(21);

    private CudaDeviceCheck(Device device, PrintStream log) {
        this.device = device;
        this.log = log;
    }

    /** Runs every check of {@code device}; the problems found, each naming its check. */
    public static List<String> run(Device device, PrintStream log) {
        CudaDeviceCheck c = new CudaDeviceCheck(device, log);
        c.step("copies", c::copies);
        c.step("copy stream", c::copyStream);
        c.step("gemm 1×64×128 bf16", () -> c.gemm(1, 64, 128, 0, false));
        c.step("gemm 7×256×96 f32, padded strides", () -> c.gemm(7, 256, 96, 24, true));
        c.step("gemm 33×1000×256 bf16", () -> c.gemm(33, 1000, 256, 0, false));
        c.step("gemm 16×512×1024 f32", () -> c.gemm(16, 512, 1024, 0, true));
        c.step("launch swiglu", c::swiglu);
        c.step("launch rmsnorm", c::rmsnorm);
        c.step("graph replay", c::graph);
        c.step("allocation past the device", c::tooLarge);
        return c.problems;
    }

    /** GPU 0, after the header check; exit 0 all good, 1 problems, 2 no GPU. */
    public static void main(String[] args) {
        PrintStream out = System.out;
        List<String> problems = new ArrayList<>();
        List<Path> dirs = CudaHeaderCheck.includeDirs(System.getenv());
        Optional<Path> cudaH = CudaHeaderCheck.find("cuda.h", dirs);
        Optional<Path> api = CudaHeaderCheck.find("cublas_api.h", dirs);
        Optional<Path> types = CudaHeaderCheck.find("library_types.h", dirs);
        cudaH.ifPresentOrElse(h -> problems.addAll(CudaHeaderCheck.driver(h)), () -> out.println("header check: no cuda.h in " + dirs));
        if (api.isPresent() && types.isPresent()) {
            problems.addAll(CudaHeaderCheck.cublas(api.get(), types.get()));
            out.println("header check against " + api.get() + " and " + types.get());
        } else {
            out.println("header check: no cublas_api.h/library_types.h in " + dirs + " (skipped)");
        }
        CudaDevice.Opened opened = CudaDevice.open(0);
        if (opened instanceof CudaDevice.Unavailable(String reason)) {
            out.println("no CUDA device: " + reason);
            problems.forEach(p -> out.println("PROBLEM " + p));
            System.exit(2);
        }
        try (CudaDevice gpu = ((CudaDevice.Ready) opened).device()) {
            out.println("device: " + gpu.description() + ", " + (gpu.totalBytes() >> 20) + " MiB, "
                    + (gpu.freeBytes() >> 20) + " MiB free; cuBLAS " + gpu.cublasDescription());
            problems.addAll(run(gpu, out));
        }
        problems.forEach(p -> out.println("PROBLEM " + p));
        out.println(problems.isEmpty() ? "device check: OK" : "device check: " + problems.size() + " problem(s)");
        System.exit(problems.isEmpty() ? 0 : 1);
    }

    private void step(String name, Runnable check) {
        int before = problems.size();
        try {
            check.run();
        } catch (RuntimeException e) {
            problems.add(name + ": " + e);
        }
        log.println((problems.size() == before ? "ok   " : "FAIL ") + name);
    }

    private void problem(String what) {
        problems.add(what);
    }

    /** Heap-to-device, device-to-heap, at an offset, and zeroing a middle range. */
    private void copies() {
        int bytes = (1 << 20) + 1;
        byte[] data = new byte[bytes];
        random.nextBytes(data);
        long d = device.alloc(bytes + 512);
        try {
            device.upload(MemorySegment.ofArray(data), d + 256, bytes);
            byte[] back = new byte[bytes];
            device.download(d + 256, MemorySegment.ofArray(back), bytes);
            if (!Arrays.equals(data, back)) {
                problem("copies: a 1 MiB + 1 byte heap upload at offset 256 did not download unchanged");
            }
            device.zero(d + 256 + 1000, 5000);
            device.download(d + 256, MemorySegment.ofArray(back), bytes);
            for (int i = 0; i < bytes; i++) {
                byte want = i >= 1000 && i < 6000 ? 0 : data[i];
                if (back[i] != want) {
                    problem("copies: after zeroing bytes 1000..5999 byte " + i + " is " + back[i] + ", expected " + want);
                    break;
                }
            }
        } finally {
            device.free(d);
        }
    }

    /** A pinned buffer through the copy stream, then read on the compute stream after awaitCopies. */
    private void copyStream() {
        int bytes = 64 << 10;
        MemorySegment pinned = device.allocPinned(bytes);
        long d = device.alloc(bytes);
        try {
            byte[] data = new byte[bytes];
            random.nextBytes(data);
            pinned.copyFrom(MemorySegment.ofArray(data));
            device.uploadAsync(pinned, d, bytes);
            device.awaitCopies();
            byte[] back = new byte[bytes];
            device.download(d, MemorySegment.ofArray(back), bytes);
            device.syncCopies();
            if (!Arrays.equals(data, back)) {
                problem("copy stream: 64 KiB from pinned memory did not reach the compute stream unchanged");
            }
        } finally {
            device.free(d);
            device.freePinned(pinned);
        }
    }

    private void gemm(int m, int n, int k, int pad, boolean f32Out) {
        int lda = k + pad;
        int ldb = k + pad;
        int ldc = n + pad;
        short[] a = randomBf16(m * lda);
        short[] b = randomBf16(n * ldb);
        float[] got = runGemm(device, a, b, m, n, k, lda, ldb, ldc, f32Out);
        float[] want = expectedGemm(a, b, m, n, k, lda, ldb, f32Out);
        compare("gemm " + m + "×" + n + "×" + k + (f32Out ? " f32" : " bf16"), got, want, f32Out ? 1e-3 : 1e-2);
    }

    private static float[] runGemm(Device dev, short[] a, short[] b, int m, int n, int k, int lda, int ldb, int ldc, boolean f32Out) {
        long da = dev.alloc(2L * a.length);
        long db = dev.alloc(2L * b.length);
        long cBytes = (long) m * ldc * (f32Out ? 4 : 2);
        long dc = dev.alloc(cBytes);
        try {
            dev.upload(MemorySegment.ofArray(a), da, 2L * a.length);
            dev.upload(MemorySegment.ofArray(b), db, 2L * b.length);
            dev.gemm(new Gemm(da, lda, db, ldb, dc, ldc, m, n, k, f32Out));
            return readRows(dev, dc, m, n, ldc, f32Out);
        } finally {
            dev.free(da);
            dev.free(db);
            dev.free(dc);
        }
    }

    /** {@code c[i, j] = Σ_l a[i, l]·b[j, l]} in f32, rounded through bf16 unless {@code f32Out}. */
    private static float[] expectedGemm(short[] a, short[] b, int m, int n, int k, int lda, int ldb, boolean f32Out) {
        float[] c = new float[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float acc = 0;
                for (int l = 0; l < k; l++) {
                    acc = Math.fma(HostMemory.bf16ToFloat(a[i * lda + l]), HostMemory.bf16ToFloat(b[j * ldb + l]), acc);
                }
                c[i * n + j] = f32Out ? acc : HostMemory.roundBf16(acc);
            }
        }
        return c;
    }

    private static float[] readRows(Device dev, long dc, int m, int n, int ldc, boolean f32) {
        MemorySegment c = MemorySegment.ofArray(new byte[(int) ((long) m * ldc * (f32 ? 4 : 2))]);
        dev.download(dc, c, c.byteSize());
        float[] out = new float[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                long at = (long) i * ldc + j;
                out[i * n + j] = f32 ? c.get(F32, 4 * at) : HostMemory.bf16ToFloat(c.get(U16, 2 * at));
            }
        }
        return out;
    }

    /** {@code out = silu(gate)·up} over 5 tokens of 300 (past one block of 256), gate and up halves of one row. */
    private void swiglu() {
        int t = 5;
        int inter = 300;
        short[] gateUp = randomBf16(t * 2 * inter);
        long dIn = device.alloc(2L * gateUp.length);
        long dOut = device.alloc(2L * t * inter);
        try {
            device.upload(MemorySegment.ofArray(gateUp), dIn, 2L * gateUp.length);
            device.launch(Kernels.SWIGLU, LaunchShape.of(t, 1, 256),
                    dOut, dIn, dIn + 2L * inter, t, inter, inter, 2 * inter, 2 * inter);
            float[] got = readRows(device, dOut, t, inter, inter, false);
            float[] want = new float[t * inter];
            for (int r = 0; r < t; r++) {
                for (int i = 0; i < inter; i++) {
                    float g = HostMemory.bf16ToFloat(gateUp[r * 2 * inter + i]);
                    float u = HostMemory.bf16ToFloat(gateUp[r * 2 * inter + inter + i]);
                    want[r * inter + i] = HostMemory.roundBf16((float) (g / (1 + Math.exp(-g))) * u);
                }
            }
            compare("swiglu", got, want, 1e-2);
        } finally {
            device.free(dIn);
            device.free(dOut);
        }
    }

    /** RMSNorm of 3 rows of 1000 with eps 1e-5 (a float argument) and add_one 1. */
    private void rmsnorm() {
        int rows = 3;
        int n = 1000;
        float eps = 1e-5f;
        short[] x = randomBf16(rows * n);
        short[] w = randomBf16(n);
        long dx = device.alloc(2L * x.length);
        long dw = device.alloc(2L * w.length);
        long dOut = device.alloc(2L * x.length);
        try {
            device.upload(MemorySegment.ofArray(x), dx, 2L * x.length);
            device.upload(MemorySegment.ofArray(w), dw, 2L * w.length);
            device.launch(Kernels.RMSNORM, LaunchShape.of(rows, 1, 256), dOut, dx, dw, rows, n, eps, 1);
            float[] got = readRows(device, dOut, rows, n, n, false);
            float[] want = new float[rows * n];
            for (int r = 0; r < rows; r++) {
                double ss = 0;
                for (int i = 0; i < n; i++) {
                    float v = HostMemory.bf16ToFloat(x[r * n + i]);
                    ss += v * v;
                }
                float scale = (float) (1 / Math.sqrt(ss / n + eps));
                for (int i = 0; i < n; i++) {
                    float g = 1 + HostMemory.bf16ToFloat(w[i]);
                    want[r * n + i] = HostMemory.roundBf16(HostMemory.bf16ToFloat(x[r * n + i]) * scale * g);
                }
            }
            compare("rmsnorm", got, want, 1e-2);
        } finally {
            device.free(dx);
            device.free(dw);
            device.free(dOut);
        }
    }

    /** upload(pinned → a) + gemm captured once, replayed twice with new values written into the pinned buffer. */
    private void graph() {
        int m = 4;
        int n = 128;
        int k = 64;
        short[] b = randomBf16(n * k);
        MemorySegment pinned = device.allocPinned(2L * m * k);
        long da = device.alloc(2L * m * k);
        long db = device.alloc(2L * n * k);
        long dc = device.alloc(4L * m * n);
        try {
            device.upload(MemorySegment.ofArray(b), db, 2L * b.length);
            device.beginCapture();
            Device.Graph graph;
            try {
                device.upload(pinned, da, 2L * m * k);
                device.gemm(new Gemm(da, k, db, k, dc, n, m, n, k, true));
            } finally {
                graph = device.endCapture();
            }
            try (graph) {
                for (int round = 0; round < 2; round++) {
                    short[] a = randomBf16(m * k);
                    MemorySegment.copy(a, 0, pinned, ValueLayout.JAVA_SHORT, 0, a.length);
                    device.zero(dc, 4L * m * n);
                    graph.replay();
                    device.synchronize();
                    float[] got = readRows(device, dc, m, n, n, true);
                    float[] want = expectedGemm(a, b, m, n, k, k, k, true);
                    compare("graph replay " + round, got, want, 1e-3);
                }
            }
        } finally {
            device.free(da);
            device.free(db);
            device.free(dc);
            device.freePinned(pinned);
        }
    }

    private void tooLarge() {
        long bytes = device.totalBytes() + (1L << 30);
        try {
            long d = device.alloc(bytes);
            device.free(d);
            problem("allocating " + bytes + " bytes, past the device's " + device.totalBytes() + ", did not fail");
        } catch (DeviceException expected) {
            log.println("     " + expected.getMessage());
        }
    }

    private void compare(String what, float[] got, float[] want, double relative) {
        double scale = 0;
        for (float w : want) {
            scale = Math.max(scale, Math.abs(w));
        }
        double tolerance = relative * Math.max(scale, 1e-6);
        int bad = 0;
        int first = -1;
        for (int i = 0; i < want.length; i++) {
            if (!(Math.abs(got[i] - want[i]) <= tolerance)) {
                bad++;
                first = first < 0 ? i : first;
            }
        }
        if (bad > 0) {
            problem(what + ": " + bad + " of " + want.length + " values off by more than " + tolerance
                    + "; first at " + first + ": " + got[first] + " vs " + want[first]);
        }
    }

    private short[] randomBf16(int count) {
        short[] v = new short[count];
        for (int i = 0; i < count; i++) {
            v[i] = HostMemory.floatToBf16((float) (random.nextDouble() * 2 - 1));
        }
        return v;
    }
}
