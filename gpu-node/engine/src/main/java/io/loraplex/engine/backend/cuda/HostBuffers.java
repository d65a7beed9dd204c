package io.loraplex.engine.backend.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Typed views of {@link HostMemory} from a kernel argument's address to the end of its allocation,
 * so a host kernel looks its allocation up once per pointer instead of once per element. An index
 * past the allocation (or before the address) fails as {@link HostMemory#at} does.
 */
final class HostBuffers {

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private HostBuffers() {
    }

    /** bf16 elements; reads widen to f32, writes round to nearest even once. */
    record Bf16(MemorySegment s, long address) {
        static Bf16 at(HostMemory m, long address) {
            return new Bf16(m.at(address), address);
        }

        float get(long i) {
            return HostMemory.bf16ToFloat(s.get(U16, 2 * i));
        }

        void put(long i, float v) {
            s.set(U16, 2 * i, HostMemory.floatToBf16(v));
        }

        short bits(long i) {
            return s.get(U16, 2 * i);
        }

        void putBits(long i, short bits) {
            s.set(U16, 2 * i, bits);
        }

        /** True when element {@code i} starts on a {@code bytes} boundary (the kernels' vector-load test). */
        boolean aligned(long i, int bytes) {
            return (address + 2 * i) % bytes == 0;
        }
    }

    record F32s(MemorySegment s) {
        static F32s at(HostMemory m, long address) {
            return new F32s(m.at(address));
        }

        float get(long i) {
            return s.get(F32, 4 * i);
        }

        void put(long i, float v) {
            s.set(F32, 4 * i, v);
        }
    }

    record I32s(MemorySegment s) {
        static I32s at(HostMemory m, long address) {
            return new I32s(m.at(address));
        }

        int get(long i) {
            return s.get(I32, 4 * i);
        }

        void put(long i, int v) {
            s.set(I32, 4 * i, v);
        }
    }

    record I64s(MemorySegment s) {
        static I64s at(HostMemory m, long address) {
            return new I64s(m.at(address));
        }

        long get(long i) {
            return s.get(I64, 8 * i);
        }
    }

    record F64s(MemorySegment s) {
        static F64s at(HostMemory m, long address) {
            return new F64s(m.at(address));
        }

        double get(long i) {
            return s.get(F64, 8 * i);
        }
    }
}
