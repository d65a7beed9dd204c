package io.loraplex.engine.backend.cuda;

import io.loraplex.kernels.KernelSignature;
import io.loraplex.kernels.Kernels;
import java.util.Map;

/** Every kernel of {@link Kernels#ALL} on the host, by entry point. */
public final class HostKernels {

    private static final Map<String, HostKernel> KERNELS = Map.of();

    private HostKernels() {
    }

    public static HostKernel of(KernelSignature kernel) {
        HostKernel k = KERNELS.get(kernel.entryPoint());
        if (k == null) {
            throw new IllegalArgumentException("no host version of " + kernel.entryPoint());
        }
        return k;
    }
}
