package io.loraplex.engine.backend;

import io.loraplex.engine.backend.cuda.CudaBackend;
import io.loraplex.engine.backend.cuda.CudaDevice;
import io.loraplex.engine.model.BaseModel;

/** Creates a backend by name. */
public final class Backends {

    public static final String CPU = "cpu";
    public static final String REFERENCE = "reference";
    public static final String CUDA = "cuda";

    private static final System.Logger LOG = System.getLogger(Backends.class.getName());

    private Backends() {
    }

    public static Backend create(String name, BaseModel model, int threads) {
        return switch (name) {
            case CPU -> new CpuBackend(model.config(), model.weights(), threads);
            case REFERENCE -> new ReferenceBackend(model.config(), model.weights());
            case CUDA -> cudaOrCpu(model, threads);
            default -> throw new IllegalArgumentException("unknown backend '" + name + "' (use cpu, cuda or reference)");
        };
    }

    /**
     * The CUDA backend on GPU 0, or, where it cannot run (no driver, no GPU, a build without nvcc, no
     * cuBLAS, an architecture or weight format it does not cover), the CPU backend, with the reason
     * logged once: a node without a GPU still serves.
     */
    static Backend cudaOrCpu(BaseModel model, int threads) {
        String why = CudaBackend.unsupported(model.config(), model.weights());
        if (why == null) {
            switch (CudaDevice.open(0)) {
                case CudaDevice.Unavailable u -> why = u.reason();
                case CudaDevice.Ready r -> {
                    try {
                        return new CudaBackend(model.config(), model.weights(), r.device());
                    } catch (RuntimeException e) {
                        r.device().close();
                        why = "the CUDA backend failed to start: " + e.getMessage();
                    }
                }
            }
        }
        LOG.log(System.Logger.Level.WARNING, "backend cuda is not available ({0}); serving on the CPU backend", why);
        return new CpuBackend(model.config(), model.weights(), threads);
    }

    /**
     * Why the CUDA backend cannot serve {@code model} here, or null when it can: the model's own reason
     * first, else GPU 0's (opened to find out, and released).
     */
    public static String cudaUnavailable(BaseModel model) {
        String why = CudaBackend.unsupported(model.config(), model.weights());
        if (why != null) {
            return why;
        }
        return switch (CudaDevice.open(0)) {
            case CudaDevice.Unavailable u -> u.reason();
            case CudaDevice.Ready r -> {
                r.device().close();
                yield null;
            }
        };
    }

    /** Threads to use by default: the available processors. */
    public static int defaultThreads() {
        return Runtime.getRuntime().availableProcessors();
    }
}
