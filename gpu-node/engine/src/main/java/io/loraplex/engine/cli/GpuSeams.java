package io.loraplex.engine.cli;

import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.cuda.Device;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelWeights;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;

/**
 * The two classes of issue 21 that {@code gpu-check} drives but that are written beside it:
 * {@code CudaDevice.open(int ordinal)} (the GPU) and {@code new CudaBackend(ModelConfig, ModelWeights,
 * Device)}. They are looked up by name, so this command builds and tests before they land; once they
 * are on the branch, the two bodies below become direct calls (the only place that knows them).
 */
final class GpuSeams {

    static final String DEVICE_CLASS = "io.loraplex.engine.backend.cuda.CudaDevice";
    static final String BACKEND_CLASS = "io.loraplex.engine.backend.cuda.CudaBackend";

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
            if (m.getParameterCount() != 0 || m.getDeclaringClass() == Object.class) {
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

    /** {@code new CudaBackend(config, weights, device)}, or an exception naming why it cannot be made. */
    static Backend cudaBackend(ModelConfig config, ModelWeights weights, Device device) {
        try {
            Class<?> type = Class.forName(BACKEND_CLASS);
            return (Backend) type.getConstructor(ModelConfig.class, ModelWeights.class, Device.class)
                    .newInstance(config, weights, device);
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("this engine has no CUDA backend (" + BACKEND_CLASS + ")");
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException("CudaBackend failed: " + cause, cause);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("CudaBackend(ModelConfig, ModelWeights, Device) cannot be called: " + e, e);
        }
    }

    /** Whether the CUDA backend class is in this engine. */
    static boolean hasBackend() {
        try {
            Class.forName(BACKEND_CLASS);
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }
}
