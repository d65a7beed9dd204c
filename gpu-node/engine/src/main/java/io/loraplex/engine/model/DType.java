package io.loraplex.engine.model;

/**
 * The element types the engine reads from safetensors files, and the two block-quantized types it
 * makes at load ({@link WeightFormat}): {@code Q8_0} and {@code Q4_0}, blocks of {@value #BLOCK}
 * weights along a row with one f32 scale each. A quantized row of {@code n} weights is laid out as
 * its quants ({@code n} bytes, or {@code n/2}: block {@code b}'s byte {@code j} holds element
 * {@code j} in its low nibble and {@code j + 16} in its high one, as llama.cpp's Q4_0), then its
 * {@code n/32} scales; a weight is {@code q · scale} ({@code q} in -127..127, or -8..7).
 */
public enum DType {
    F32("F32", 4),
    F16("F16", 2),
    BF16("BF16", 2),
    Q8_0("Q8_0", 0),
    Q4_0("Q4_0", 0);

    /** Weights per quantization block. */
    public static final int BLOCK = 32;

    private final String safetensorsName;
    private final int bytes;

    DType(String safetensorsName, int bytes) {
        this.safetensorsName = safetensorsName;
        this.bytes = bytes;
    }

    /** Size of one element in bytes; block-quantized types have none ({@link #rowBytes}). */
    public int bytes() {
        if (quantized()) {
            throw new IllegalStateException(this + " has no per-element size; use rowBytes");
        }
        return bytes;
    }

    /** True for the block-quantized types, which exist only in memory, never in a checkpoint. */
    public boolean quantized() {
        return this == Q8_0 || this == Q4_0;
    }

    /** Bytes of one row of {@code n} elements ({@code n} a multiple of {@link #BLOCK} when quantized). */
    public long rowBytes(long n) {
        return switch (this) {
            case F32, F16, BF16 -> n * bytes;
            case Q8_0 -> n + n / BLOCK * Float.BYTES;
            case Q4_0 -> n / 2 + n / BLOCK * Float.BYTES;
        };
    }

    /** The name the safetensors header uses ("F32", "F16", "BF16"). */
    public String safetensorsName() {
        return safetensorsName;
    }

    /** The dtype of a safetensors header entry, or an exception naming what is supported. */
    public static DType fromSafetensors(String name, String where) {
        for (DType d : values()) {
            if (!d.quantized() && d.safetensorsName.equals(name)) {
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
            case Q8_0, Q4_0 -> throw new IllegalStateException(this + " is a load-time format, not a checkpoint dtype");
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
