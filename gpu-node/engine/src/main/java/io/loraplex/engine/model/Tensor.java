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
        };
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
        long rowBytes = shape[1] * dtype.bytes();
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
