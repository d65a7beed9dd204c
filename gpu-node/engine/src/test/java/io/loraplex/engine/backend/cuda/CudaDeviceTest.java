package io.loraplex.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import io.loraplex.kernels.KernelImages;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** What can be checked of {@link CudaDevice} without a GPU; the device script runs the rest. */
class CudaDeviceTest {

    @Test
    void openingWithoutAnNvidiaDriverGivesAReasonNamingLibcudaInsteadOfThrowing() {
        assumeFalse(driverPresent(), "libcuda.so.1 loads here: the device script checks CudaDevice on this GPU");

        CudaDevice.Opened opened = CudaDevice.open(0);

        CudaDevice.Unavailable none = assertInstanceOf(CudaDevice.Unavailable.class, opened);
        assertEquals("no NVIDIA driver: libcuda.so.1 is not on this machine's library path (JCuda's driver binding links it)",
                none.reason());
    }

    @Test
    void openingTwiceGivesTheSameReasonRatherThanJcudasClassInitialisationError() {
        assumeFalse(driverPresent(), "libcuda.so.1 loads here");

        String first = ((CudaDevice.Unavailable) CudaDevice.open(0)).reason();
        String second = ((CudaDevice.Unavailable) CudaDevice.open(1)).reason();

        assertEquals(first, second);
    }

    @Test
    void jcudasDriverBindingLoadsOrItsFailureSaysWhy() {
        String failure = CudaDevice.Driver.LOAD_FAILURE;
        if (driverPresent()) {
            assertNull(failure, "libcuda.so.1 is here, so JCuda's driver binding should load");
        } else {
            assertTrue(failure.contains("libcuda.so.1"), failure);
        }
    }

    @Test
    void anUnsatisfiedLinkOtherThanTheDriverIsReportedByItsLastAttempt() {
        UnsatisfiedLinkError e = new UnsatisfiedLinkError("""
                Error while loading native library "JCudaDriver-12.6.0-linux-x86_64"
                Stack trace from the attempt to load the library as a file:
                java.lang.UnsatisfiedLinkError: no JCudaDriver-12.6.0-linux-x86_64 in java.library.path: /usr/lib
                Stack trace from the attempt to load the library as a resource:
                java.lang.UnsatisfiedLinkError: could not find resource /lib/libJCudaDriver-12.6.0-linux-x86_64.so
                """);

        assertEquals("JCuda's native driver library did not load: "
                + "java.lang.UnsatisfiedLinkError: could not find resource /lib/libJCudaDriver-12.6.0-linux-x86_64.so",
                CudaDevice.Driver.reason(e));
    }

    @Test
    void aKernelsJarBuiltWithoutNvccIsAReasonNotAnError() throws Exception {
        try (URLClassLoader empty = new URLClassLoader(new URL[0], null)) {
            assertEquals("the kernels jar carries no fatbins: it was built without nvcc",
                    CudaDevice.fatbinProblem(KernelImages.of(empty)));
        }
    }

    @Test
    void aKernelsJarWithEveryFatbinIsNoProblem() {
        KernelImages images = KernelImages.fromClassPath();
        assumeFalse(images.isEmpty(), "this build had no nvcc, so the jar carries no fatbins");

        assertNull(CudaDevice.fatbinProblem(images));
    }

    @Test
    void aCopyFromPinnedMemoryMustLieInsideOnePinnedAllocation() {
        TreeMap<Long, Long> pinned = new TreeMap<>(Map.of(0x1000L, 0x100L, 0x1100L, 0x100L));

        assertTrue(CudaDevice.inside(pinned, 0x1000, 0x100));
        assertTrue(CudaDevice.inside(pinned, 0x1080, 0x80));
        assertTrue(CudaDevice.inside(pinned, 0x1100, 0x100));
        assertFalse(CudaDevice.inside(pinned, 0x1080, 0x81), "runs into the next allocation");
        assertFalse(CudaDevice.inside(pinned, 0x0fff, 0x10), "starts before every allocation");
        assertFalse(CudaDevice.inside(pinned, 0x1200, 0x1), "starts past the last allocation");
    }

    /** Whether the NVIDIA driver's library loads here, asked of the dynamic loader without JCuda. */
    static boolean driverPresent() {
        try {
            SymbolLookup.libraryLookup("libcuda.so.1", Arena.global());
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }
}
