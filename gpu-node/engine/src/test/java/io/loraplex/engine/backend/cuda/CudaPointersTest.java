package io.loraplex.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.Field;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CudaPointersTest {

    @ParameterizedTest
    @ValueSource(longs = {0L, 256L, 0x7f12_3456_7800L, 0x7fff_ffff_ffff_ff00L, -256L})
    void aNullDevicePointerWithAByteOffsetCarriesThatOffsetAsItsAddress(long address) {
        assertEquals(address, CudaPointers.address(new CUdeviceptr().withByteOffset(address)));
        assertEquals(address, CudaPointers.address(CudaPointers.device(address)));
    }

    @ParameterizedTest
    @ValueSource(longs = {0L, 0x7f12_3456_7800L})
    void anOffsetAddsToWhatTheDriverWroteIntoThePointer(long written) throws ReflectiveOperationException {
        CUdeviceptr allocated = new CUdeviceptr();
        nativePointer().setLong(allocated, written); // what cuMemAlloc's setPointer does
        assertEquals(written, CudaPointers.address(allocated));
        assertEquals(written + 4096, CudaPointers.address(allocated.withByteOffset(4096)));
    }

    @ParameterizedTest
    @ValueSource(longs = {0L, 0x7f00_dead_b000L})
    void aHostPointerAtAnAddressReadsBackAsThatAddress(long address) throws ReflectiveOperationException {
        assertEquals(address, CudaPointers.address(CudaPointers.host(address)));
        Pointer hostAlloc = new Pointer();
        nativePointer().setLong(hostAlloc, address); // what cuMemHostAlloc writes
        assertEquals(address, CudaPointers.address(hostAlloc));
    }

    @ParameterizedTest
    @ValueSource(longs = {0L, 0x5555_0000_1230L})
    void aStreamHandsOutTheRawHandleTheDriverWroteIntoIt(long handle) throws ReflectiveOperationException {
        CudaPointers.Stream stream = new CudaPointers.Stream();
        nativePointer().setLong(stream, handle); // what cuStreamCreate's setNativePointerValue does
        assertEquals(handle, stream.handle());
    }

    /** The field JCuda's native side writes; set here by reflection only to stand in for the driver. */
    private static Field nativePointer() throws NoSuchFieldException {
        Field f = NativePointerObject.class.getDeclaredField("nativePointer");
        f.setAccessible(true);
        return f;
    }
}
