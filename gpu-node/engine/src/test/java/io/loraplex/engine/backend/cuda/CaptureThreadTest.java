package io.loraplex.engine.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * A capture belongs to the thread that began it (CUDA's thread-local capture mode): an adapter
 * loader copying pages on another thread while the step thread captures a decode graph is not
 * refused, and is not recorded into the step's graph.
 */
class CaptureThreadTest {

    @Test
    void anotherThreadsCopyDuringACaptureRunsAtOnceAndStaysOutOfTheGraph() throws Exception {
        try (HostDevice device = new HostDevice(1 << 20)) {
            long dst = device.alloc(64);
            MemorySegment pinned = device.allocPinned(64);
            pinned.set(ValueLayout.JAVA_INT, 0, 42);
            device.beginCapture();
            CompletableFuture.runAsync(() -> device.uploadAsync(pinned, dst, 4)).get();
            assertEquals(42, device.memory().i32(dst, 0), "the loader's copy is done, not deferred into the graph");
            assertThrows(IllegalStateException.class, () -> device.uploadAsync(pinned, dst, 4),
                    "the capturing thread's own copy-stream upload is refused");
            pinned.set(ValueLayout.JAVA_INT, 0, 7);
            try (Device.Graph g = device.endCapture()) {
                g.replay();
            }
            assertEquals(42, device.memory().i32(dst, 0), "the graph holds none of the loader's work");
        }
    }
}
