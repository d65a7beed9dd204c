package io.loraplex.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.loraplex.kernels.KernelSignature;
import java.lang.foreign.MemorySegment;
import java.util.Random;

/**
 * A {@link HostDevice} with helpers to put arrays on it, launch one kernel and read results back;
 * every test of a host kernel builds its inputs here. Random bf16 inputs are rounded to bf16 before
 * the test keeps them, so the independent computation sees exactly what the kernel reads.
 */
final class HostKernelFixture implements AutoCloseable {

    final HostDevice device = new HostDevice(1L << 30);
    final HostMemory memory = device.memory();
    final Random random;

    HostKernelFixture(long seed) {
        random = new Random(seed);
    }

    /** n values uniform in (-scale, scale), rounded to bf16. */
    float[] randomBf16(int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = HostMemory.roundBf16((float) ((2 * random.nextDouble() - 1) * scale));
        }
        return v;
    }

    long bf16(float[] values) {
        long at = memory.alloc(2L * Math.max(1, values.length));
        for (int i = 0; i < values.length; i++) {
            memory.putBf16(at, i, values[i]);
        }
        return at;
    }

    long f32(float[] values) {
        long at = memory.alloc(4L * Math.max(1, values.length));
        for (int i = 0; i < values.length; i++) {
            memory.putF32(at, i, values[i]);
        }
        return at;
    }

    long i32(int... values) {
        long at = memory.alloc(4L * Math.max(1, values.length));
        memory.at(at, 4L * values.length).copyFrom(MemorySegment.ofArray(values));
        return at;
    }

    long i64(long... values) {
        long at = memory.alloc(8L * Math.max(1, values.length));
        memory.at(at, 8L * values.length).copyFrom(MemorySegment.ofArray(values));
        return at;
    }

    long f64(double... values) {
        long at = memory.alloc(8L * Math.max(1, values.length));
        memory.at(at, 8L * values.length).copyFrom(MemorySegment.ofArray(values));
        return at;
    }

    float[] readBf16(long at, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = memory.bf16(at, i);
        }
        return v;
    }

    float[] readF32(long at, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = memory.f32(at, i);
        }
        return v;
    }

    int[] readI32(long at, int n) {
        int[] v = new int[n];
        for (int i = 0; i < n; i++) {
            v[i] = memory.i32(at, i);
        }
        return v;
    }

    void launch(KernelSignature kernel, LaunchShape shape, Object... args) {
        device.launch(kernel, shape, args);
    }

    /** The launch is refused with exactly {@code message}. */
    void assertRefused(String message, KernelSignature kernel, LaunchShape shape, Object... args) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> launch(kernel, shape, args));
        assertEquals(message, e.getMessage());
    }

    /** |got - want| within {@code tolerance} everywhere, naming the first index that is not. */
    static void assertClose(String what, double[] want, float[] got, double tolerance) {
        assertEquals(want.length, got.length, what + ": length");
        for (int i = 0; i < want.length; i++) {
            if (!(Math.abs(got[i] - want[i]) <= tolerance)) {
                throw new AssertionError(what + "[" + i + "]: expected " + want[i] + " ± " + tolerance + ", got " + got[i]);
            }
        }
    }

    /** Half a bf16 ulp of |v| (2^-9 relative) plus a margin for f32 rounding along the way. */
    static double bf16Tolerance(double magnitude) {
        return Math.abs(magnitude) * 0x1p-8 + 1e-6;
    }

    @Override
    public void close() {
        device.close();
    }
}
