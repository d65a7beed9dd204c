package io.loraplex.engine.backend.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Lays a step's index tables one after another in one host buffer, each section 256-byte aligned
 * and as long as its capacity (not its contents), so the same capacities give the same offsets:
 * a captured step's kernels keep reading their tables at the addresses they were captured with,
 * and the next step only rewrites the contents and copies the buffer again.
 */
final class TablePack {

    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final MemorySegment host;
    private long used;

    /** Packs into {@code host}; a null host only measures (the offsets and {@link #bytes()} are the same). */
    TablePack(MemorySegment host) {
        this.host = host;
    }

    long bytes() {
        return used;
    }

    /** {@code values} padded with {@code pad} to {@code capacity}; returns the section's byte offset. */
    long ints(int[] values, int capacity, int pad) {
        require(values.length, capacity);
        long at = section(4L * capacity);
        if (host != null) {
            for (int i = 0; i < capacity; i++) {
                host.set(I32, at + 4L * i, i < values.length ? values[i] : pad);
            }
        }
        return at;
    }

    long longs(long[] values, int capacity) {
        require(values.length, capacity);
        long at = section(8L * capacity);
        if (host != null) {
            for (int i = 0; i < capacity; i++) {
                host.set(I64, at + 8L * i, i < values.length ? values[i] : 0L);
            }
        }
        return at;
    }

    long floats(float[] values, int capacity) {
        require(values.length, capacity);
        long at = section(4L * capacity);
        if (host != null) {
            for (int i = 0; i < capacity; i++) {
                host.set(F32, at + 4L * i, i < values.length ? values[i] : 0f);
            }
        }
        return at;
    }

    long doubles(double[] values) {
        long at = section(8L * values.length);
        if (host != null) {
            MemorySegment.copy(values, 0, host, F64, at, values.length);
        }
        return at;
    }

    private long section(long bytes) {
        long at = used;
        used = (used + Math.max(bytes, 1) + 255) & ~255L;
        if (host != null && used > host.byteSize()) {
            throw new IllegalStateException("step tables need " + used + " bytes; the staging buffer holds " + host.byteSize());
        }
        return at;
    }

    private static void require(int length, int capacity) {
        if (length > capacity) {
            throw new IllegalArgumentException("a table of " + length + " entries exceeds its section of " + capacity);
        }
    }
}
