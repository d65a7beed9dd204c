package io.loraplex.engine.backend.cuda;

/**
 * The checks every host kernel makes before it runs: the launch covers the work the {@code .cu}
 * header's launch line assigns, the pointers it reads are set, and the sizes are inside what the
 * kernel was compiled for. Each message names the kernel, as a GPU launch that went wrong would not.
 */
final class HostLaunch {

    private HostLaunch() {
    }

    /** Throws "kernel: what have < need needed" when the grid or block falls short. */
    static void covers(String kernel, String what, long have, String need, long needed) {
        if (have < needed) {
            throw new IllegalArgumentException(kernel + ": " + what + " " + have + " < " + need + " " + needed);
        }
    }

    /** The kernel sizes shared memory or warps for exactly {@code threads} threads. */
    static void blockIs(String kernel, LaunchShape shape, int threads) {
        if (shape.blockX() != threads) {
            throw new IllegalArgumentException(kernel + ": block of " + shape.blockX() + " threads, the kernel needs " + threads);
        }
    }

    /** The address of pointer parameter {@code name}, refused when null. */
    static long pointer(String kernel, HostKernel.Args args, String name) {
        long p = args.ptr(name);
        if (p == 0) {
            throw new IllegalArgumentException(kernel + ": " + name + " is null");
        }
        return p;
    }

    /** Refuses a size parameter outside [min, max]. */
    static int within(String kernel, HostKernel.Args args, String name, int min, int max) {
        int v = args.i32(name);
        if (v < min || v > max) {
            throw new IllegalArgumentException(kernel + ": " + name + " " + v + " outside [" + min + ", " + max + "]");
        }
        return v;
    }

    /** A count or size: never negative. */
    static int count(String kernel, HostKernel.Args args, String name) {
        return within(kernel, args, name, 0, Integer.MAX_VALUE);
    }

    /** The number of blocks of {@code size} that cover {@code n}. */
    static long ceilDiv(long n, long size) {
        return (n + size - 1) / size;
    }
}
