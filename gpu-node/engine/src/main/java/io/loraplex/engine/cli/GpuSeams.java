package io.loraplex.engine.cli;

import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.cuda.CudaBackend;
import io.loraplex.engine.backend.cuda.Device;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelWeights;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;

/**
 * Where {@code gpu-check} gets its GPU and its backend. {@code CudaDevice.open(int ordinal)} is written
 * beside this command and looked up by name, so the command builds and tests before it lands; once it
 * is on the branch, {@link #openGpu} becomes a direct call (this is the only place that knows it).
 */
final class GpuSeams {

    static final String DEVICE_CLASS = "io.loraplex.engine.backend.cuda.CudaDevice";

    private GpuSeams() {
    }

    /** A GPU, or why there is none. */
    sealed interface Opened {
        record Gpu(Device device) implements Opened {
        }

        record Unavailable(String reason) implements Opened {
        }
    }

    /**
     * {@code CudaDevice.open(ordinal)}: its result is the device itself, or an object with an accessor
     * returning the device (null when none) and one returning the reason; a thrown exception's message
     * is a reason too.
     */
    static Opened openGpu(int ordinal) {
        Class<?> type;
        try {
            type = Class.forName(DEVICE_CLASS);
        } catch (ClassNotFoundException e) {
            return new Opened.Unavailable("this engine has no CUDA device class (" + DEVICE_CLASS + ")");
        }
        Object result;
        try {
            result = type.getMethod("open", int.class).invoke(null, ordinal);
        } catch (InvocationTargetException e) {
            return new Opened.Unavailable(String.valueOf(e.getCause().getMessage()));
        } catch (ReflectiveOperationException | LinkageError e) {
            return new Opened.Unavailable("CudaDevice.open(int) cannot be called: " + e);
        }
        if (result instanceof Device d) {
            return new Opened.Gpu(d);
        }
        if (result instanceof java.util.Optional<?> o) {
            return o.filter(Device.class::isInstance).<Opened>map(d -> new Opened.Gpu((Device) d))
                    .orElse(new Opened.Unavailable("CudaDevice.open(" + ordinal + ") found no device"));
        }
        String reason = null;
        for (Method m : result == null ? new Method[0] : result.getClass().getMethods()) {
            if (m.getParameterCount() != 0 || m.getDeclaringClass() == Object.class || m.getName().equals("toString")) {
                continue;
            }
            try {
                Object v = m.invoke(result);
                if (v instanceof Device d) {
                    return new Opened.Gpu(d);
                }
                if (v instanceof java.util.Optional<?> o && o.isPresent() && o.get() instanceof Device d) {
                    return new Opened.Gpu(d);
                }
                if (v instanceof String s && reason == null) {
                    reason = s;
                }
            } catch (ReflectiveOperationException e) {
                // not an accessor
            }
        }
        return new Opened.Unavailable(reason != null ? reason : "CudaDevice.open(" + ordinal + ") returned " + result);
    }

    /** The CUDA backend on {@code device}. */
    static Backend cudaBackend(ModelConfig config, ModelWeights weights, Device device) {
        return new CudaBackend(config, weights, device);
    }
}
