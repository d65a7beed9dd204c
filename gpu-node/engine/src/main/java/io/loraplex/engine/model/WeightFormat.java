package io.loraplex.engine.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Locale;

/**
 * The dtype the base projections (q, k, v, o, gate, up, down) and the lm head are computed in,
 * chosen at load ({@code --weights}) from any f32, bf16 or f16 checkpoint. Embeddings, norms, biases
 * and adapters stay as they are. {@link #INT8} is llama.cpp's Q8_0 (blocks of 32, scale
 * {@code max|w|/127}), {@link #INT4} its Q4_0 (blocks of 32, scale {@code m/-8} where {@code m} is the
 * block's weight of largest magnitude, values -8..7); see {@link DType} for the layout. Under int4 the
 * lm head is int8: the logits are the one projection every token's choice reads directly, and
 * llama.cpp keeps its output matrix above 4 bits for the same reason.
 */
public enum WeightFormat {
    F32(DType.F32),
    BF16(DType.BF16),
    INT8(DType.Q8_0),
    INT4(DType.Q4_0);

    private final DType dtype;

    WeightFormat(DType dtype) {
        this.dtype = dtype;
    }

    /** The dtype of the converted projections. */
    public DType dtype() {
        return dtype;
    }

    /** The dtype of the converted lm head. */
    public DType lmHeadDtype() {
        return this == INT4 ? DType.Q8_0 : dtype;
    }

    /** The name the {@code --weights} flag takes. */
    public String flagName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The format named {@code value} ({@code f32}, {@code bf16}, {@code int8}, {@code int4}), or an exception naming it. */
    public static WeightFormat parse(String value) {
        for (WeightFormat f : values()) {
            if (f.flagName().equals(value)) {
                return f;
            }
        }
        throw new IllegalArgumentException("unknown weights '" + value + "' (use "
                + String.join(", ", Arrays.stream(values()).map(WeightFormat::flagName).toList()) + ")");
    }

    /**
     * {@code t} (2-D, {@code (out, in)}) in {@code target}: the same view when it already is, else a
     * copy in memory the garbage collector frees with the tensor.
     */
    public static Tensor convert(Tensor t, DType target) {
        if (t.dtype() == target) {
            return t;
        }
        checkConvertible(t, target);
        int rows = Math.toIntExact(t.dim(0));
        int n = Math.toIntExact(t.dim(1));
        long rowBytes = target.rowBytes(n);
        MemorySegment out = Arena.ofAuto().allocate(rowBytes * rows, Float.BYTES);
        float[] row = new float[n];
        for (int r = 0; r < rows; r++) {
            t.copyTo((long) r * n, row, 0, n);
            long base = r * rowBytes;
            switch (target) {
                case F32 -> MemorySegment.copy(row, 0, out, Tensor.F32, base, n);
                case BF16 -> {
                    for (int i = 0; i < n; i++) {
                        out.set(Tensor.U16, base + 2L * i, DType.floatToBf16(row[i]));
                    }
                }
                case F16 -> {
                    for (int i = 0; i < n; i++) {
                        out.set(Tensor.U16, base + 2L * i, Float.floatToFloat16(row[i]));
                    }
                }
                case Q8_0 -> quantizeQ8(row, out, base);
                case Q4_0 -> quantizeQ4(row, out, base);
            }
        }
        return new Tensor(t.name(), target, t.shape(), out);
    }

    /** Refuses, naming the tensor, what {@link #convert} cannot make of {@code t} in {@code target}. */
    public static void checkConvertible(Tensor t, DType target) {
        if (t.dtype() == target) {
            return;
        }
        if (t.rank() != 2) {
            throw new IllegalArgumentException(t.name() + ": only matrices are converted, shape " + t.shapeString());
        }
        long n = t.dim(1);
        if (target.quantized() && n % DType.BLOCK != 0) {
            throw new IllegalArgumentException("weight tensor '" + t.name() + "' has rows of " + n + " weights; "
                    + target + " quantizes blocks of " + DType.BLOCK + ", so its input width must be a multiple of "
                    + DType.BLOCK);
        }
    }

    /** One row as Q8_0: per block, {@code scale = max|w|/127}, {@code q = round(w/scale)}. */
    public static void quantizeQ8(float[] row, MemorySegment out, long base) {
        int n = row.length;
        long scales = base + n;
        for (int b = 0; b < n / DType.BLOCK; b++) {
            float max = 0;
            for (int j = 0; j < DType.BLOCK; j++) {
                max = Math.max(max, Math.abs(row[b * DType.BLOCK + j]));
            }
            float scale = max / 127f;
            for (int j = 0; j < DType.BLOCK; j++) {
                int q = scale == 0 ? 0 : Math.round(row[b * DType.BLOCK + j] / scale);
                out.set(ValueLayout.JAVA_BYTE, base + b * DType.BLOCK + j, (byte) Math.clamp(q, -127, 127));
            }
            out.set(Tensor.F32, scales + b * (long) Float.BYTES, scale);
        }
    }

    /**
     * One row as Q4_0: per block, {@code scale = m/-8} for the weight {@code m} of largest magnitude
     * (so it lands exactly on -8 and the other side keeps 7 steps), {@code q = clamp(round(w/scale), -8, 7)}.
     */
    public static void quantizeQ4(float[] row, MemorySegment out, long base) {
        int n = row.length;
        int half = DType.BLOCK / 2;
        long scales = base + n / 2;
        for (int b = 0; b < n / DType.BLOCK; b++) {
            float m = 0;
            for (int j = 0; j < DType.BLOCK; j++) {
                float v = row[b * DType.BLOCK + j];
                if (Math.abs(v) > Math.abs(m)) {
                    m = v;
                }
            }
            float scale = m / -8f;
            for (int j = 0; j < half; j++) {
                int lo = quant4(row[b * DType.BLOCK + j], scale);
                int hi = quant4(row[b * DType.BLOCK + half + j], scale);
                out.set(ValueLayout.JAVA_BYTE, base + (long) b * half + j, (byte) (lo | hi << 4));
            }
            out.set(Tensor.F32, scales + b * (long) Float.BYTES, scale);
        }
    }

    /** A weight's Q4_0 nibble: its quant -8..7, stored offset by 8. */
    private static int quant4(float w, float scale) {
        return (scale == 0 ? 0 : Math.clamp(Math.round(w / scale), -8, 7)) + 8;
    }
}
