package io.loraplex.engine.backend.cuda;

import io.loraplex.kernels.KernelSignature;
import java.lang.foreign.MemorySegment;

/** A {@link Device} that passes every call to another; a wrapper overrides only what it changes. */
public abstract class ForwardingDevice implements Device {

    private final Device delegate;

    protected ForwardingDevice(Device delegate) {
        this.delegate = delegate;
    }

    protected final Device delegate() {
        return delegate;
    }

    @Override public String description() { return delegate.description(); }
    @Override public long totalBytes() { return delegate.totalBytes(); }
    @Override public long freeBytes() { return delegate.freeBytes(); }
    @Override public long alloc(long bytes) { return delegate.alloc(bytes); }
    @Override public void free(long address) { delegate.free(address); }
    @Override public MemorySegment allocPinned(long bytes) { return delegate.allocPinned(bytes); }
    @Override public void freePinned(MemorySegment pinned) { delegate.freePinned(pinned); }
    @Override public void upload(MemorySegment src, long dst, long bytes) { delegate.upload(src, dst, bytes); }
    @Override public void download(long src, MemorySegment dst, long bytes) { delegate.download(src, dst, bytes); }
    @Override public void zero(long dst, long bytes) { delegate.zero(dst, bytes); }
    @Override public void uploadAsync(MemorySegment src, long dst, long bytes) { delegate.uploadAsync(src, dst, bytes); }
    @Override public void awaitCopies() { delegate.awaitCopies(); }
    @Override public void syncCopies() { delegate.syncCopies(); }
    @Override public void launch(KernelSignature kernel, LaunchShape shape, Object... args) { delegate.launch(kernel, shape, args); }
    @Override public void gemm(Gemm gemm) { delegate.gemm(gemm); }
    @Override public void synchronize() { delegate.synchronize(); }
    @Override public void beginCapture() { delegate.beginCapture(); }
    @Override public Graph endCapture() { return delegate.endCapture(); }
    @Override public void close() { delegate.close(); }
}
