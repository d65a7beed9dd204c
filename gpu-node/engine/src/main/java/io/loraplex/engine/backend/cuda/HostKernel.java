package io.loraplex.engine.backend.cuda;

/**
 * One kernel entry point run on the host, as its {@code .cu} header states it: f32 accumulation,
 * bf16 stored through {@link HostMemory#putBf16} (round to nearest even). It checks that
 * {@code shape} covers the work the header's launch line assigns, so a launcher that under-launches
 * fails here and not only on a GPU.
 */
@FunctionalInterface
public interface HostKernel {

    void run(LaunchShape shape, Args args, HostMemory memory);

    /** The launch's arguments by parameter name. */
    interface Args {
        long ptr(String name);

        int i32(String name);

        float f32(String name);

        double f64(String name);
    }
}
