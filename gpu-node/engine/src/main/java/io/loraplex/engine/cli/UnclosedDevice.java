package io.loraplex.engine.cli;

import io.loraplex.engine.backend.cuda.Device;
import io.loraplex.engine.backend.cuda.Gemm;
import io.loraplex.engine.backend.cuda.LaunchShape;
import io.loraplex.kernels.KernelSignature;
import java.lang.foreign.MemorySegment;

/** A device lent to one user that closes what it owns (a checked device, a backend) but not the device itself. */
record UnclosedDevice(Device device) implements Device {

    @Override
    public void close() {
        // the lender closes it
    }

    @Override public String description() { return device.description(); }
    @Override public long totalBytes() { return device.totalBytes(); }
    @Override public long freeBytes() { return device.freeBytes(); }
    @Override public long alloc(long bytes) { return device.alloc(bytes); }
    @Override public void free(long address) { device.free(address); }
    @Override public MemorySegment allocPinned(long bytes) { return device.allocPinned(bytes); }
    @Override public void freePinned(MemorySegment pinned) { device.freePinned(pinned); }
    @Override public void upload(MemorySegment src, long dst, long bytes) { device.upload(src, dst, bytes); }
    @Override public void download(long src, MemorySegment dst, long bytes) { device.download(src, dst, bytes); }
    @Override public void zero(long dst, long bytes) { device.zero(dst, bytes); }
    @Override public void uploadAsync(MemorySegment src, long dst, long bytes) { device.uploadAsync(src, dst, bytes); }
    @Override public void awaitCopies() { device.awaitCopies(); }
    @Override public void syncCopies() { device.syncCopies(); }
    @Override public void launch(KernelSignature kernel, LaunchShape shape, Object... args) { device.launch(kernel, shape, args); }
    @Override public void gemm(Gemm gemm) { device.gemm(gemm); }
    @Override public void synchronize() { device.synchronize(); }
    @Override public void beginCapture() { device.beginCapture(); }
    @Override public Graph endCapture() { return device.endCapture(); }
}
