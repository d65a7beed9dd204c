package io.loraplex.engine.model;

/** The element types the engine reads from safetensors files. */
public enum DType {
    F32("F32", 4),
    F16("F16", 2),
    BF16("BF16", 2);

    private final String safetensorsName;
    private final int bytes;

    DType(String safetensorsName, int bytes) {
        this.safetensorsName = safetensorsName;
        this.bytes = bytes;
    }

    /** Size of one element in bytes. */
    public int bytes() {
        return bytes;
    }

    /** The name the safetensors header uses ("F32", "F16", "BF16"). */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** The dtype of a safetensors header entry, or an exception naming what is supported. */
    public static DType fromSafetensors(String name, String where) {
        for (DType d : values()) {
            if (d.safetensorsName.equals(name)) {
                return d;
            }
        }
        throw new IllegalArgumentException(where + ": unsupported dtype '" + name + "' (supported: F32, F16, BF16)");
    }

    /** The dtype named by a config's {@code torch_dtype} ("float32", "bfloat16", "float16"). */
    public static DType fromTorchName(String name) {
        return switch (name) {
            case "float32", "f32", "fp32" -> F32;
            case "float16", "f16", "fp16", "half" -> F16;
            case "bfloat16", "bf16" -> BF16;
            default -> throw new IllegalArgumentException("unsupported dtype '" + name + "' (use float32, bfloat16 or float16)");
        };
    }

    public String torchName() {
        return switch (this) {
            case F32 -> "float32";
            case F16 -> "float16";
            case BF16 -> "bfloat16";
        };
    }

    /** bf16 is the top half of an f32: widening is a shift. */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    /** Round-to-nearest-even narrowing of an f32 to bf16 (NaN stays NaN). */
    public static short floatToBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
