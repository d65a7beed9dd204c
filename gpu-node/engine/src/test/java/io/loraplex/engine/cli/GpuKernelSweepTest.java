package io.loraplex.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.backend.cuda.Device;
import io.loraplex.engine.backend.cuda.ForwardingDevice;
import io.loraplex.engine.backend.cuda.HostDevice;
import io.loraplex.engine.backend.cuda.LaunchShape;
import io.loraplex.engine.model.Architecture;
import io.loraplex.kernels.KernelSignature;
import io.loraplex.kernels.Kernels;
import io.loraplex.kernels.ParamType;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code gpu-check kernels}' sweep without a GPU: the host device stands in for the GPU, so the sweep
 * drives the real CUDA backend through the checked device, and every kernel the backend launches is
 * compared with the reference. A faithful "GPU" passes; one whose RMSNorm is off in one element fails,
 * naming that kernel and no other.
 */
class GpuKernelSweepTest {

    /** The host device, but the first output element of every launch of {@code broken} is doubled plus one. */
    private static final class Broken extends ForwardingDevice {
        private final HostDevice host;
        private final KernelSignature broken;

        Broken(HostDevice host, KernelSignature broken) {
            super(host);
            this.host = host;
            this.broken = broken;
        }

        @Override
        public void launch(KernelSignature kernel, LaunchShape shape, Object... args) {
            host.launch(kernel, shape, args);
            if (kernel.equals(broken)) {
                for (int i = 0; i < args.length; i++) {
                    if (kernel.params().get(i).type() == ParamType.BF16_PTR) {
                        long out = (Long) args[i];
                        host.memory().putBf16(out, 0, host.memory().bf16(out, 0) * 2 + 1);
                        return;
                    }
                }
            }
        }

        @Override public String description() { return "broken " + broken.entryPoint(); }
    }

    /** Small enough for the host reference twice over: prefill and decode, both LoRA forms, base rows, 8 adapters. */
    private static final GpuKernelSweep.Sweep TINY = new GpuKernelSweep.Sweep(List.of(Architecture.LLAMA), 16, new int[] {1, 5, 19},
            48, new int[] {1, 3, 16}, new int[] {0, 8});

    private static int sweep(Device gpu, Path dir, ByteArrayOutputStream out) throws Exception {
        try (gpu) {
            return GpuKernelSweep.run(gpu, dir.resolve("work"), TINY, 1, dir, new PrintStream(out, true, StandardCharsets.UTF_8));
        }
    }

    @Test
    void theQuickSweepOfTheCudaBackendOnAFaithfulDeviceFindsEveryKernelWithinTolerance(@TempDir Path dir) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int status = sweep(new HostDevice(4L << 30), dir, out);
        String report = Files.readString(dir.resolve("kernels.txt"));
        assertEquals(0, status, report);
        assertTrue(report.endsWith("RESULT: every kernel within tolerance\n"), report);
        for (String kernel : new String[] {"loraplex_embedding_gather", "loraplex_rmsnorm", "loraplex_rope", "loraplex_swiglu",
                "loraplex_lora_shrink_segmented", "loraplex_lora_expand_gathered", "gemm (cuBLAS)"}) {
            assertTrue(report.contains("\n" + kernel + " "), kernel + " was launched and checked:\n" + report);
        }
    }

    @Test
    void aKernelOffInOneElementFailsTheSweepNamingThatKernelAlone(@TempDir Path dir) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int status = sweep(new Broken(new HostDevice(4L << 30), Kernels.RMSNORM), dir, out);
        String report = Files.readString(dir.resolve("kernels.txt"));
        assertEquals(1, status, report);
        assertTrue(report.endsWith("RESULT: MISMATCH\n"), report);
        for (String line : report.split("\n")) {
            if (line.startsWith("loraplex_") || line.startsWith("gemm")) {
                boolean rmsnorm = line.startsWith("loraplex_rmsnorm ");
                String[] cols = line.trim().split("\\s+");
                long mismatches = Long.parseLong(cols[rmsnorm || !line.startsWith("gemm") ? 3 : 4]);
                assertEquals(rmsnorm, mismatches > 0, line);
            }
        }
        assertTrue(report.contains("out[0]: gpu "), "the worst element is the one broken: " + report);
    }
}
