package io.loraplex.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.kernels.KernelSignature;
import io.loraplex.kernels.Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * {@link CheckedDevice} over two host devices: a faithful pair passes, a perturbed "GPU" is
 * reported under the kernel that erred (and only that kernel), and pointers are translated into the
 * reference's allocations. The host devices run SwiGLU as its {@code .cu} header states it, since the
 * full {@link HostKernels} table is another part of issue 21.
 */
class CheckedDeviceTest {

    private static final int T = 3; // tokens
    private static final int I = 40; // intermediate width

    /** A host device whose SwiGLU writes {@code silu(gate)·up} rounded to bf16, then passes it through {@code perturb}. */
    private static final class SwigluHost extends ForwardingDevice {
        final HostDevice host;
        final UnaryOperator<Float> perturb;

        SwigluHost(UnaryOperator<Float> perturb) {
            this(new HostDevice(64L << 20), perturb);
        }

        private SwigluHost(HostDevice host, UnaryOperator<Float> perturb) {
            super(host);
            this.host = host;
            this.perturb = perturb;
        }

        @Override
        public void launch(KernelSignature kernel, LaunchShape shape, Object... args) {
            KernelArgs.check(kernel, args);
            assertEquals(Kernels.SWIGLU, kernel, "only SwiGLU runs on this test device");
            HostMemory m = host.memory();
            long out = (Long) args[0];
            long gate = (Long) args[1];
            long up = (Long) args[2];
            int tokens = (Integer) args[3];
            int width = (Integer) args[4];
            int outStride = (Integer) args[5];
            int gateStride = (Integer) args[6];
            int upStride = (Integer) args[7];
            for (int t = 0; t < tokens; t++) {
                for (int i = 0; i < width; i++) {
                    float g = m.bf16(gate, (long) t * gateStride + i);
                    float u = m.bf16(up, (long) t * upStride + i);
                    float silu = g / (1f + (float) Math.exp(-g));
                    m.putBf16(out, (long) t * outStride + i, perturb.apply(HostMemory.roundBf16(silu * u)));
                }
            }
        }

        // everything else is the host device's
        @Override public String description() { return "swiglu host"; }
    }

    /** gate and up side by side in one (T, 2·I) buffer, as a fused gate/up projection writes them. */
    private record Buffers(long gateUp, long out, long weights, long product) {
    }

    private static Buffers setUp(Device d) {
        long gateUp = d.alloc(2L * T * 2 * I);
        long out = d.alloc(2L * T * I);
        long weights = d.alloc(2L * 8 * I);
        long product = d.alloc(2L * T * 8);
        try (Arena arena = Arena.ofConfined()) {
            int n = Math.max(T * 2 * I, 8 * I);
            MemorySegment values = arena.allocate(2L * n);
            for (int i = 0; i < n; i++) {
                values.setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i,
                        HostMemory.floatToBf16((float) Math.sin(0.37 * i) * 3f));
            }
            d.upload(values, gateUp, 2L * T * 2 * I);
            d.upload(values, weights, 2L * 8 * I);
        }
        return new Buffers(gateUp, out, weights, product);
    }

    /** SwiGLU over the halves of gate/up (pointers inside one allocation), then a GEMM that reads its output. */
    private static void step(Device d, Buffers b) {
        d.launch(Kernels.SWIGLU, LaunchShape.of(T, 1, 128), b.out(), b.gateUp(), b.gateUp() + 2L * I,
                T, I, I, 2 * I, 2 * I);
        d.gemm(new Gemm(b.out(), I, b.weights(), I, b.product(), 8, T, 8, I, false));
    }

    private static CheckedDevice.KernelReport report(CheckedDevice d, String kernel) {
        return d.reports().stream().filter(r -> r.kernel().equals(kernel)).findFirst().orElseThrow();
    }

    @Test
    void twoFaithfulDevicesAgreeOnEveryKernelAndTheGemm() {
        try (CheckedDevice d = new CheckedDevice(new SwigluHost(v -> v), new SwigluHost(v -> v))) {
            Buffers b = setUp(d);
            step(d, b);
            step(d, b);
            assertFalse(d.mismatched());
            List<CheckedDevice.KernelReport> reports = d.reports();
            assertEquals(List.of("loraplex_swiglu", CheckedDevice.GEMM), reports.stream().map(CheckedDevice.KernelReport::kernel).toList());
            CheckedDevice.KernelReport swiglu = reports.get(0);
            assertEquals(2, swiglu.launches());
            assertEquals(2L * T * I, swiglu.elements(), "the output from its pointer to the end of its allocation, per launch");
            assertEquals(0.0, swiglu.worstRatio());
        }
    }

    @Test
    void aWrongKernelIsReportedByNameWithTheElementAndBothValuesAndTheGemmAfterItStillAgrees() {
        // the "GPU" doubles element 5 of its output: far outside one bf16 step
        float[] seen = new float[1];
        try (CheckedDevice d = new CheckedDevice(new SwigluHost(v -> {
            seen[0]++;
            return seen[0] == 6 ? v * 2 + 1 : v;
        }), new SwigluHost(v -> v))) {
            Buffers b = setUp(d);
            step(d, b);
            assertTrue(d.mismatched());
            CheckedDevice.KernelReport swiglu = report(d, "loraplex_swiglu");
            assertEquals(1, swiglu.mismatches());
            assertTrue(swiglu.worstRatio() > 1);
            assertTrue(swiglu.where().startsWith("launch 1, out[5]: gpu "), swiglu.where());
            assertTrue(swiglu.where().contains(", reference "), swiglu.where());
            // the GEMM read the GPU's (wrong) SwiGLU output on both sides: it is not blamed for SwiGLU's error
            CheckedDevice.KernelReport gemm = report(d, CheckedDevice.GEMM);
            assertTrue(gemm.passed(), gemm.where());
        }
    }

    @Test
    void aDifferenceOfOneBf16StepIsWithinTheTolerance() {
        // one unit in the last place of bf16 (relative 2^-8..2^-7), as two summation orders can give
        try (CheckedDevice d = new CheckedDevice(new SwigluHost(v -> v == 0 ? v
                : HostMemory.bf16ToFloat((short) (HostMemory.floatToBf16(v) + 1))), new SwigluHost(v -> v))) {
            Buffers b = setUp(d);
            step(d, b);
            CheckedDevice.KernelReport swiglu = report(d, "loraplex_swiglu");
            assertTrue(swiglu.passed(), swiglu.where());
            assertTrue(swiglu.worstRatio() > 0, "the devices did differ");
        }
    }

    @Test
    void aPointerOutsideEveryAllocationIsRefusedNamingTheKernelAndParameter() {
        try (CheckedDevice d = new CheckedDevice(new SwigluHost(v -> v), new SwigluHost(v -> v))) {
            Buffers b = setUp(d);
            long past = b.out() + 2L * T * I + (64L << 20);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> d.launch(Kernels.SWIGLU,
                    LaunchShape.of(T, 1, 128), past, b.gateUp(), b.gateUp(), T, I, I, 2 * I, 2 * I));
            assertTrue(e.getMessage().startsWith("loraplex_swiglu parameter out: address 0x"), e.getMessage());
            assertTrue(e.getMessage().endsWith(" is in no allocation made through the checked device"), e.getMessage());
        }
    }

    @Test
    void aCapturedStepIsCheckedKernelByKernelWhenReplayed() {
        float[] calls = new float[1];
        try (CheckedDevice d = new CheckedDevice(new SwigluHost(v -> ++calls[0] > (float) T * I ? -v - 1 : v), new SwigluHost(v -> v))) {
            Buffers b = setUp(d);
            d.beginCapture();
            step(d, b);
            Device.Graph graph = d.endCapture();
            assertTrue(d.reports().isEmpty(), "nothing runs while capturing");
            graph.replay();
            assertFalse(d.mismatched(), "first replay: the perturbation starts after it");
            graph.replay();
            assertEquals(2, report(d, "loraplex_swiglu").launches());
            assertTrue(report(d, "loraplex_swiglu").mismatches() > 0, "second replay: every element of SwiGLU is wrong");
        }
    }

    @Test
    void rowWidthsComeFromTheOutputsStrideOrWidthParameter() {
        Object[] swiglu = {1L, 2L, 3L, 4, 40, 96, 80, 80};
        assertEquals(96, CheckedDevice.rowWidth(Kernels.SWIGLU, "out", swiglu));
        Object[] rmsnorm = {1L, 2L, 3L, 7, 64, 1e-5f, 0};
        assertEquals(64, CheckedDevice.rowWidth(Kernels.RMSNORM, "out", rmsnorm));
    }
}
