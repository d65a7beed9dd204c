package io.loraplex.engine.backend.cuda;

import io.loraplex.engine.model.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.TreeMap;

/**
 * The address space of {@link HostDevice}: allocations at made-up, 256-byte aligned addresses
 * (never 0, with gaps between them), each backed by host memory, so an address one past an
 * allocation or into a freed one fails instead of reading a neighbour.
 */
public final class HostMemory implements AutoCloseable {

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Arena arena = Arena.ofShared();
    private final TreeMap<Long, MemorySegment> blocks = new TreeMap<>();
    private long next = 1L << 32;
    private long used;

    public synchronized long alloc(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("allocation of " + bytes + " bytes");
        }
        long address = next;
        blocks.put(address, arena.allocate(bytes, 256));
        next = (address + bytes + (1 << 20) + 255) & ~255L;
        used += bytes;
        return address;
    }

    public synchronized void free(long address) {
        MemorySegment s = blocks.remove(address);
        if (s == null) {
            throw new IllegalArgumentException("free of 0x" + Long.toHexString(address) + ": not an allocation's start");
        }
        used -= s.byteSize();
    }

    public synchronized long used() {
        return used;
    }

    /** The memory from {@code address} to the end of its allocation. */
    public synchronized MemorySegment at(long address) {
        Map.Entry<Long, MemorySegment> e = blocks.floorEntry(address);
        if (e == null || address - e.getKey() >= e.getValue().byteSize()) {
            throw new IndexOutOfBoundsException("address 0x" + Long.toHexString(address) + " is in no allocation");
        }
        return e.getValue().asSlice(address - e.getKey());
    }

    /** {@code bytes} from {@code address}, all inside one allocation. */
    public MemorySegment at(long address, long bytes) {
        MemorySegment s = at(address);
        if (bytes > s.byteSize()) {
            throw new IndexOutOfBoundsException(bytes + " bytes at 0x" + Long.toHexString(address) + " run "
                    + (bytes - s.byteSize()) + " past the end of its allocation");
        }
        return s.asSlice(0, bytes);
    }

    public float bf16(long address, long index) {
        return bf16ToFloat(at(address + 2 * index, 2).get(U16, 0));
    }

    public void putBf16(long address, long index, float value) {
        at(address + 2 * index, 2).set(U16, 0, floatToBf16(value));
    }

    public float f32(long address, long index) {
        return at(address + 4 * index, 4).get(F32, 0);
    }

    public void putF32(long address, long index, float value) {
        at(address + 4 * index, 4).set(F32, 0, value);
    }

    public int i32(long address, long index) {
        return at(address + 4 * index, 4).get(I32, 0);
    }

    public long i64(long address, long index) {
        return at(address + 8 * index, 8).get(I64, 0);
    }

    public double f64(long address, long index) {
        return at(address + 8 * index, 8).get(F64, 0);
    }

    /** bf16 bits to float. */
    public static float bf16ToFloat(short bits) {
        return DType.bf16ToFloat(bits);
    }

    /** float to bf16 bits, round to nearest even (as {@code __float2bfloat16}). */
    public static short floatToBf16(float value) {
        return DType.floatToBf16(value);
    }

    /** float rounded through bf16. */
    public static float roundBf16(float value) {
        return bf16ToFloat(floatToBf16(value));
    }

    @Override
    public synchronized void close() {
        blocks.clear();
        arena.close();
    }
}
