package io.loraplex.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The device script's check of a {@link Device}, run on the host reference device and on broken ones. */
class CudaDeviceCheckTest {

    private static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    @Test
    void everyCheckPassesOnTheHostReferenceDevice() {
        try (HostDevice host = new HostDevice(256L << 20)) {
            List<String> problems = CudaDeviceCheck.run(host, QUIET);

            assertEquals(List.of(), problems);
        }
    }

    @Test
    void aDeviceThatDoesNotZeroIsCaughtNamingTheFirstByteLeft() {
        try (HostDevice host = new HostDevice(256L << 20)) {
            List<String> problems = CudaDeviceCheck.run(skipping(host, "zero"), QUIET);

            assertTrue(problems.stream().anyMatch(p -> p.startsWith("copies: after zeroing bytes 1000..5999 byte 1000 is ")),
                    problems.toString());
        }
    }

    @Test
    void aDeviceWhoseGemmDoesNothingFailsEveryGemmAndTheGraph() {
        try (HostDevice host = new HostDevice(256L << 20)) {
            List<String> problems = CudaDeviceCheck.run(skipping(host, "gemm"), QUIET);

            List<String> gemms = problems.stream().filter(p -> p.startsWith("gemm ") || p.startsWith("graph replay")).toList();
            assertEquals(6, gemms.size(), problems.toString());
            assertTrue(gemms.getFirst().startsWith("gemm 1×64×128 bf16: "), gemms.getFirst());
            assertTrue(gemms.getFirst().contains(" values off by more than "), gemms.getFirst());
        }
    }

    /** {@code device} with the methods named in {@code skipped} doing nothing. */
    private static Device skipping(Device device, String... skipped) {
        Set<String> names = Set.of(skipped);
        return (Device) Proxy.newProxyInstance(Device.class.getClassLoader(), new Class<?>[] {Device.class}, (proxy, method, args) -> {
            if (names.contains(method.getName())) {
                return null;
            }
            try {
                return method.invoke(device, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        });
    }
}
