package io.loraplex.engine.model;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A read-only, row-major view of tensor bytes (usually a slice of a memory-mapped file), with the
 * accessors the backends need to read it as floats.
 */
public record Tensor(String name, DType dtype, long[] shape, MemorySegment data) {

    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public Tensor {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int i) {
        return shape[i];
    }

    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** Element {@code index} (flat, row-major) widened to float. */
    public float get(long index) {
        return switch (dtype) {
            case F32 -> data.getAtIndex(F32, index);
            case BF16 -> DType.bf16ToFloat(data.getAtIndex(U16, index));
            case F16 -> Float.float16ToFloat(data.getAtIndex(U16, index));
            case Q8_0, Q4_0 -> dequantized(index);
        };
    }

    /** Element {@code index} of a block-quantized matrix: {@code q · scale}, the layout {@link DType} states. */
    private float dequantized(long index) {
        long n = shape[rank() - 1];
        long row = index / n;
        long col = index % n;
        long base = row * dtype.rowBytes(n);
        int block = (int) (col / DType.BLOCK);
        int q;
        long scales;
        if (dtype == DType.Q8_0) {
            q = data.get(ValueLayout.JAVA_BYTE, base + col);
            scales = base + n;
        } else {
            int j = (int) (col % DType.BLOCK);
            byte b = data.get(ValueLayout.JAVA_BYTE, base + block * (DType.BLOCK / 2L) + j % (DType.BLOCK / 2));
            q = (j < DType.BLOCK / 2 ? b & 0x0f : (b >> 4) & 0x0f) - 8;
            scales = base + n / 2;
        }
        return q * data.get(F32, scales + block * (long) Float.BYTES);
    }

    /** Copies {@code count} elements starting at flat index {@code start} into {@code dst[dstOffset…]}. */
    public void copyTo(long start, float[] dst, int dstOffset, int count) {
        switch (dtype) {
            case F32 -> MemorySegment.copy(data, F32, start * 4, dst, dstOffset, count);
            case BF16 -> {
                for (int i = 0; i < count; i++) {
                    dst[dstOffset + i] = DType.bf16ToFloat(data.getAtIndex(U16, start + i));
                }
            }
            case F16 -> {
                for (int i = 0; i < count; i++) {
                    dst[dstOffset + i] = Float.float16ToFloat(data.getAtIndex(U16, start + i));
                }
            }
            case Q8_0, Q4_0 -> {
                for (int i = 0; i < count; i++) {
                    dst[dstOffset + i] = dequantized(start + i);
                }
            }
        }
    }

    /** The whole tensor as a heap float array; only for small tensors (norms, biases, adapters). */
    public float[] toFloatArray() {
        long n = elementCount();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException(name + " is too large for a heap array: " + Arrays.toString(shape));
        }
        float[] out = new float[(int) n];
        copyTo(0, out, 0, out.length);
        return out;
    }

    /**
     * Rows {@code [start, start + count)} of a 2-D tensor as a view named {@code name}, sharing the
     * bytes: how a fused projection (Phi-3's qkv_proj, gate_up_proj) is split at load.
     */
    public Tensor rows(String name, long start, long count) {
        if (rank() != 2 || start < 0 || count <= 0 || start + count > shape[0]) {
            throw new IllegalArgumentException(this.name + ": rows " + start + "+" + count + " out of shape " + shapeString());
        }
        long rowBytes = dtype.rowBytes(shape[1]);
        return new Tensor(name, dtype, new long[] {count, shape[1]}, data.asSlice(start * rowBytes, count * rowBytes));
    }

    /** True when the shape equals {@code expected}. */
    public boolean hasShape(long... expected) {
        return Arrays.equals(shape, expected);
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }
}
