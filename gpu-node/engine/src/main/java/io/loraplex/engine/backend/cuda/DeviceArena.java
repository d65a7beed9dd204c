package io.loraplex.engine.backend.cuda;

import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.model.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The page arena in device memory: the engine's {@link ArenaLayout} with bf16 elements, so every
 * element offset the host computes (KV keys and values, {@code PagedAdapter} rows) is the device's
 * unchanged. KV pages and adapter pages are one allocation, one budget.
 *
 * <p>Writes (adapter rows loaded into pages) are narrowed to bf16 in a pinned staging ring and
 * copied on the device's copy stream: the host never waits for a step, and the next step's compute
 * stream waits for the copies on the device ({@link Device#awaitCopies}). The host waits only when
 * the ring is full. One page past {@link #pages()} is the backend's scratch page: a padded decode row
 * of a captured step writes its key there and attends to it, never to a sequence's page.
 */
public final class DeviceArena implements PageArena {

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long STAGING_BYTES = 8L << 20;

    private final Device device;
    private final ArenaLayout layout;
    private final int pages;
    private final long base;
    private final MemorySegment staging;
    private long stagingUsed;

    DeviceArena(Device device, ArenaLayout layout, int pages) {
        this.device = device;
        this.layout = layout;
        this.pages = pages;
        long bytes = (pages + 1L) * layout.pageFloats() * 2;
        if (bytes > device.freeBytes()) {
            throw new IllegalArgumentException(pages + " pages of " + layout.pageFloats() * 2L + " bytes (bf16) need "
                    + bytes + " bytes of device memory; " + device.freeBytes() + " are free on " + device.description()
                    + ": lower the memory budget");
        }
        this.base = device.alloc(bytes);
        this.staging = device.allocPinned(STAGING_BYTES);
    }

    /** The arena's first element's address. */
    public long address() {
        return base;
    }

    /** The page padded rows write to and read: one past the pages the engine hands out. */
    public int scratchPage() {
        return pages;
    }

    @Override
    public ArenaLayout layout() {
        return layout;
    }

    @Override
    public int pages() {
        return pages;
    }

    /** Called from the adapter loader threads while steps run: the ring is this arena's, so one writer at a time. */
    @Override
    public synchronized void write(int page, int offset, float[] src, int srcOff, int len) {
        checkRange(page, offset, len);
        long dst = base + ((long) page * layout.pageFloats() + offset) * 2;
        int done = 0;
        while (done < len) {
            int chunk = (int) Math.min(len - done, STAGING_BYTES / 2);
            if (stagingUsed + 2L * chunk > STAGING_BYTES) {
                device.syncCopies(); // every earlier copy has read its staging bytes
                stagingUsed = 0;
            }
            MemorySegment slice = staging.asSlice(stagingUsed, 2L * chunk);
            for (int i = 0; i < chunk; i++) {
                slice.setAtIndex(U16, i, DType.floatToBf16(src[srcOff + done + i]));
            }
            device.uploadAsync(slice, dst + 2L * done, 2L * chunk);
            stagingUsed += (2L * chunk + 255) & ~255L;
            done += chunk;
        }
    }

    @Override
    public synchronized void read(int page, int offset, float[] dst, int dstOff, int len) {
        checkRange(page, offset, len);
        device.syncCopies();
        device.awaitCopies();
        MemorySegment host = MemorySegment.ofArray(new short[len]);
        device.download(base + ((long) page * layout.pageFloats() + offset) * 2, host, 2L * len);
        for (int i = 0; i < len; i++) {
            dst[dstOff + i] = DType.bf16ToFloat(host.getAtIndex(U16, i));
        }
    }

    private void checkRange(int page, int offset, int len) {
        if (page < 0 || page >= pages || offset < 0 || len < 0 || (long) offset + len > layout.pageFloats()) {
            throw new IndexOutOfBoundsException("page " + page + " [" + offset + ", " + ((long) offset + len) + ") outside "
                    + pages + " pages of " + layout.pageFloats() + " elements");
        }
    }

    @Override
    public synchronized void close() {
        device.syncCopies();
        device.freePinned(staging);
        device.free(base);
    }
}
