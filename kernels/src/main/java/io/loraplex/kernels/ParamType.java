package io.loraplex.kernels;

/**
 * The C types kernel entry points take, spelled as the {@code .cu} files spell them. A launcher
 * passes a device pointer ({@code CUdeviceptr}, 8 bytes) for each pointer type and the Java
 * primitive of the same width for each scalar.
 */
public enum ParamType {
    BF16_PTR("__nv_bfloat16*", 8),
    CONST_BF16_PTR("const __nv_bfloat16*", 8),
    F32_PTR("float*", 8),
    CONST_F32_PTR("const float*", 8),
    CONST_F64_PTR("const double*", 8),
    CONST_I32_PTR("const int*", 8),
    I32_PTR("int*", 8),
    CONST_I64_PTR("const long long*", 8),
    I32("int", 4),
    F32("float", 4),
    F64("double", 8);

    private final String cSpelling;
    private final int bytes;

    ParamType(String cSpelling, int bytes) {
        this.cSpelling = cSpelling;
        this.bytes = bytes;
    }

    /** The type as written in the kernel's signature, with single spaces and the {@code *} attached. */
    public String cSpelling() {
        return cSpelling;
    }

    /** Bytes the argument takes in the launch's parameter buffer. */
    public int bytes() {
        return bytes;
    }

    public boolean isPointer() {
        return cSpelling.endsWith("*");
    }

    /** The type spelled {@code spelling} (normalised as {@link #cSpelling()}), or null when none is. */
    public static ParamType ofSpelling(String spelling) {
        for (ParamType t : values()) {
            if (t.cSpelling.equals(spelling)) {
                return t;
            }
        }
        return null;
    }
}
