package io.loraplex.engine.cli;

import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.cuda.CudaBackend;
import io.loraplex.engine.backend.cuda.CudaDevice;
import io.loraplex.engine.backend.cuda.Device;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelWeights;

/** Where {@code gpu-check} gets its GPU and its backend. */
final class GpuSeams {

    private GpuSeams() {
    }

    /** A GPU, or why there is none. */
    sealed interface Opened {
        record Gpu(Device device) implements Opened {
        }

        record Unavailable(String reason) implements Opened {
        }
    }

    /** GPU {@code ordinal}, or the driver's, library's or fatbins' reason why not. */
    static Opened openGpu(int ordinal) {
        return switch (CudaDevice.open(ordinal)) {
            case CudaDevice.Ready r -> new Opened.Gpu(r.device());
            case CudaDevice.Unavailable u -> new Opened.Unavailable(u.reason());
        };
    }

    /** The CUDA backend on {@code device}. */
    static Backend cudaBackend(ModelConfig config, ModelWeights weights, Device device) {
        return new CudaBackend(config, weights, device);
    }
}
