package io.loraplex.engine.backend;

import io.loraplex.engine.model.BaseModel;

/** Creates a backend by name. */
public final class Backends {

    public static final String CPU = "cpu";
    public static final String REFERENCE = "reference";

    private Backends() {
    }

    public static Backend create(String name, BaseModel model, int threads) {
        return switch (name) {
            case CPU -> new CpuBackend(model.config(), model.weights(), threads);
            case REFERENCE -> new ReferenceBackend(model.config(), model.weights());
            default -> throw new IllegalArgumentException("unknown backend '" + name + "' (use cpu or reference)");
        };
    }

    /** Threads to use by default: the available processors. */
    public static int defaultThreads() {
        return Runtime.getRuntime().availableProcessors();
    }
}
