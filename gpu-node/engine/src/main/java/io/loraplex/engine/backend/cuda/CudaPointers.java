package io.loraplex.engine.backend.cuda;

import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;

/**
 * Raw 64-bit addresses in and out of JCuda's pointer objects, which keep them in protected fields.
 *
 * <p>JCuda's native side reads a {@link Pointer} without a buffer as {@code nativePointer + byteOffset}
 * (jcuda-common {@code PointerUtils.cpp}: {@code getPointer} and {@code NativePointerData}), and every
 * driver call that takes a {@code CUdeviceptr} or a host {@code Pointer} reads it that way. So a null
 * pointer with a byte offset of {@code address} <em>is</em> {@code address}, and the subclasses below
 * read the fields back through the protected accessors instead of reflection.
 */
final class CudaPointers {

    private CudaPointers() {
    }

    /** The device pointer at {@code address}, for any driver call that takes a {@code CUdeviceptr}. */
    static CUdeviceptr device(long address) {
        return new CUdeviceptr().withByteOffset(address);
    }

    /** The host pointer at {@code address} (native memory only: JCuda passes it through unchanged). */
    static Pointer host(long address) {
        return new Pointer().withByteOffset(address);
    }

    /** The address {@code pointer} stands for: what cuMemAlloc wrote into it, plus any byte offset. */
    static long address(CUdeviceptr pointer) {
        return new DeviceAddress(pointer).address();
    }

    /** The address cuMemHostAlloc wrote into {@code pointer}. */
    static long address(Pointer pointer) {
        return new HostAddress(pointer).address();
    }

    /** A copy of a device pointer whose protected fields this class may read. */
    private static final class DeviceAddress extends CUdeviceptr {
        DeviceAddress(CUdeviceptr other) {
            super(other); // copies nativePointer and byteOffset
        }

        long address() {
            return getNativePointer() + getByteOffset();
        }
    }

    private static final class HostAddress extends Pointer {
        HostAddress(Pointer other) {
            super(other);
        }

        long address() {
            return getNativePointer() + getByteOffset();
        }
    }

    /**
     * A stream whose raw {@code CUstream} handle can be read: cuStreamCreate writes the handle into the
     * object it is given, and cuBLAS's {@code cublasSetStream_v2} takes that same handle
     * ({@code cudaStream_t} and {@code CUstream} are one type, {@code struct CUstream_st*}).
     */
    static final class Stream extends CUstream {
        long handle() {
            return getNativePointer();
        }
    }
}
