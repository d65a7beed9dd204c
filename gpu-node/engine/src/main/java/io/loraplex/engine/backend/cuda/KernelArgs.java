package io.loraplex.engine.backend.cuda;

import io.loraplex.kernels.KernelSignature;
import io.loraplex.kernels.ParamType;

/** The argument rules every {@link Device#launch} applies before it touches a device. */
public final class KernelArgs {

    private KernelArgs() {
    }

    /** Throws naming the kernel and parameter when {@code args} do not match {@code kernel}'s parameters. */
    public static void check(KernelSignature kernel, Object... args) {
        if (args.length != kernel.params().size()) {
            throw new IllegalArgumentException(kernel.entryPoint() + " takes " + kernel.params().size()
                    + " arguments, got " + args.length);
        }
        for (int i = 0; i < args.length; i++) {
            KernelSignature.Param p = kernel.params().get(i);
            Class<?> want = javaType(p.type());
            if (!want.isInstance(args[i])) {
                throw new IllegalArgumentException(kernel.entryPoint() + " parameter " + i + " (" + p + ") needs a "
                        + want.getSimpleName() + ", got " + (args[i] == null ? "null" : args[i].getClass().getSimpleName()));
            }
        }
    }

    /** The boxed Java type a launch passes for {@code type}. */
    public static Class<?> javaType(ParamType type) {
        if (type.isPointer()) {
            return Long.class;
        }
        return switch (type) {
            case I32 -> Integer.class;
            case F32 -> Float.class;
            case F64 -> Double.class;
            default -> throw new IllegalStateException("no Java type for " + type);
        };
    }
}
