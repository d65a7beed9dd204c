package io.loraplex.kernels;

import java.util.List;
import java.util.Objects;

/**
 * One kernel entry point: the fatbin it is in, its {@code extern "C"} name, and its parameters in
 * order. A launcher builds its argument list from this, and {@code KernelSignaturesTest} checks it
 * against the {@code .cu} source, so the two cannot drift apart.
 *
 * @param image      the fatbin holding it
 * @param entryPoint the name {@code cuModuleGetFunction} looks up
 * @param params     the parameters in declaration order
 */
public record KernelSignature(KernelImage image, String entryPoint, List<Param> params) {

    /** One parameter: its name in the source and its type. */
    public record Param(String name, ParamType type) {
        public Param {
            Objects.requireNonNull(type, "type");
            if (name == null || !name.matches("[A-Za-z_][A-Za-z0-9_]*")) {
                throw new IllegalArgumentException("parameter name must be a C identifier, got '" + name + "'");
            }
        }

        @Override
        public String toString() {
            return type.cSpelling() + " " + name;
        }
    }

    public KernelSignature {
        Objects.requireNonNull(image, "image");
        if (entryPoint == null || !entryPoint.startsWith("loraplex_")) {
            throw new IllegalArgumentException("entry point must start with 'loraplex_', got '" + entryPoint + "'");
        }
        params = List.copyOf(params);
        if (params.isEmpty()) {
            throw new IllegalArgumentException(entryPoint + " declares no parameters");
        }
    }

    /** The parameter named {@code name}'s position, for launchers that fill arguments by name. */
    public int indexOf(String name) {
        for (int i = 0; i < params.size(); i++) {
            if (params.get(i).name().equals(name)) {
                return i;
            }
        }
        throw new IllegalArgumentException(entryPoint + " has no parameter '" + name + "'");
    }

    /** The C declaration, as {@code extern "C" __global__ void name(type name, ...)} reads. */
    @Override
    public String toString() {
        StringBuilder s = new StringBuilder(entryPoint).append('(');
        for (int i = 0; i < params.size(); i++) {
            s.append(i == 0 ? "" : ", ").append(params.get(i));
        }
        return s.append(')').toString();
    }
}
