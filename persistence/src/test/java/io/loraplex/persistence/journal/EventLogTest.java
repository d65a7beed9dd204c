package io.loraplex.persistence.journal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.persistence.journal.EventLog.Event;
import io.loraplex.persistence.journal.EventLog.Snapshot;
import io.loraplex.persistence.journal.EventLog.SnapshotRange;
import io.loraplex.persistence.journal.EventLog.Write;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The embedded journal's file: what goes in comes back, across reopening, torn ends and concurrent writers. */
class EventLogTest {

    @TempDir
    Path dir;

    static Event event(String id, long seq) {
        return new Event(id, seq, 1000 + seq, "writer-1", "", 7, "m", (id + "#" + seq).getBytes(StandardCharsets.UTF_8));
    }

    static List<Long> replay(EventLog log, String id, long from, long to, long max) {
        List<Long> seen = new ArrayList<>();
        log.replay(id, from, to, max, e -> {
            assertEquals(id + "#" + e.sequenceNr(), new String(e.payload(), StandardCharsets.UTF_8));
            seen.add(e.sequenceNr());
        });
        return seen;
    }

    @Test
    void eventsComeBackInOrderAfterReopening() {
        try (EventLog log = EventLog.acquire(dir, true)) {
            log.append(List.of(new Write.Events(List.of(event("a", 1), event("a", 2))), new Write.Events(List.of(event("b", 1))))).join();
            log.append(List.of(new Write.Events(List.of(event("a", 3))))).join();
            assertEquals(List.of(1L, 2L, 3L), replay(log, "a", 1, Long.MAX_VALUE, Long.MAX_VALUE));
        }
        try (EventLog log = EventLog.acquire(dir, true)) {
            assertEquals(Set.of("a", "b"), log.persistenceIds());
            assertEquals(3, log.highestSequenceNr("a"));
            assertEquals(0, log.highestSequenceNr("never"));
            assertEquals(List.of(1L, 2L, 3L), replay(log, "a", 1, Long.MAX_VALUE, Long.MAX_VALUE));
            assertEquals(List.of(2L), replay(log, "a", 2, 2, Long.MAX_VALUE));
            assertEquals(List.of(1L, 2L), replay(log, "a", 1, Long.MAX_VALUE, 2));
            assertEquals(List.of(1L), replay(log, "b", 0, Long.MAX_VALUE, Long.MAX_VALUE));
        }
    }

    @Test
    void deletedEventsAreNotReplayedButKeepTheHighestSequenceNumber() {
        try (EventLog log = EventLog.acquire(dir, false)) {
            log.append(LongStream.rangeClosed(1, 5).mapToObj(i -> (Write) new Write.Events(List.of(event("a", i)))).toList()).join();
            log.append(List.of(new Write.DeleteEventsTo("a", 3))).join();
            assertEquals(List.of(4L, 5L), replay(log, "a", 1, Long.MAX_VALUE, Long.MAX_VALUE));
        }
        try (EventLog log = EventLog.acquire(dir, false)) {
            assertEquals(List.of(4L, 5L), replay(log, "a", 1, Long.MAX_VALUE, Long.MAX_VALUE));
            assertEquals(5, log.highestSequenceNr("a"));
        }
    }

    @Test
    void theNewestMatchingSnapshotIsLoadedAndDeletedOnesAreNot() {
        SnapshotRange all = new SnapshotRange(0, Long.MAX_VALUE, 0, Long.MAX_VALUE);
        try (EventLog log = EventLog.acquire(dir, true)) {
            for (long seq : new long[] {10, 20, 30}) {
                log.append(List.of(new Write.SaveSnapshot(new Snapshot("a", seq, seq * 100, 7, "s", new byte[] {(byte) seq})))).join();
            }
            assertEquals(30, log.latestSnapshot("a", all).orElseThrow().sequenceNr());
            assertEquals(20, log.latestSnapshot("a", new SnapshotRange(0, 25, 0, Long.MAX_VALUE)).orElseThrow().sequenceNr());
            log.append(List.of(new Write.DeleteSnapshots("a", new SnapshotRange(30, 30, 0, Long.MAX_VALUE)))).join();
        }
        try (EventLog log = EventLog.acquire(dir, true)) {
            Snapshot s = log.latestSnapshot("a", all).orElseThrow();
            assertEquals(20, s.sequenceNr());
            assertEquals(2000, s.timestamp());
            assertEquals(20, s.payload()[0]);
            assertEquals(Optional.empty(), log.latestSnapshot("b", all));
        }
    }

    @Test
    void aTornWriteAtTheEndIsCutOffAndTheLogGoesOn() throws IOException {
        try (EventLog log = EventLog.acquire(dir, true)) {
            log.append(List.of(new Write.Events(List.of(event("a", 1))))).join();
        }
        // what a crash in the middle of write(2) leaves: the first bytes of a frame
        ByteBuffer frame = EventLog.frame(new Write.Events(List.of(event("a", 2))));
        long whole = Files.size(dir.resolve(EventLog.FILE));
        try (FileChannel ch = FileChannel.open(dir.resolve(EventLog.FILE), StandardOpenOption.APPEND)) {
            ch.write(frame.limit(frame.limit() - 5));
        }
        try (EventLog log = EventLog.acquire(dir, true)) {
            assertEquals(whole, Files.size(dir.resolve(EventLog.FILE)), "the torn frame is cut off");
            assertEquals(List.of(1L), replay(log, "a", 1, Long.MAX_VALUE, Long.MAX_VALUE));
            log.append(List.of(new Write.Events(List.of(event("a", 2))))).join();
        }
        try (EventLog log = EventLog.acquire(dir, true)) {
            assertEquals(List.of(1L, 2L), replay(log, "a", 1, Long.MAX_VALUE, Long.MAX_VALUE));
        }
    }

    @Test
    void zerosAtTheEndAreATornWriteToo() throws IOException {
        try (EventLog log = EventLog.acquire(dir, true)) {
            log.append(List.of(new Write.Events(List.of(event("a", 1))))).join();
        }
        // a power cut can leave the file longer than what reached the disk, the rest zeros
        Files.write(dir.resolve(EventLog.FILE), new byte[4096], StandardOpenOption.APPEND);
        try (EventLog log = EventLog.acquire(dir, true)) {
            assertEquals(List.of(1L), replay(log, "a", 1, Long.MAX_VALUE, Long.MAX_VALUE));
        }
    }

    @Test
    void damageBeforeTheEndStopsTheOpenWithItsOffset() throws IOException {
        long second;
        try (EventLog log = EventLog.acquire(dir, true)) {
            log.append(List.of(new Write.Events(List.of(event("a", 1))))).join();
            second = Files.size(dir.resolve(EventLog.FILE));
            log.append(List.of(new Write.Events(List.of(event("a", 2))))).join();
            log.append(List.of(new Write.Events(List.of(event("a", 3))))).join();
        }
        try (FileChannel ch = FileChannel.open(dir.resolve(EventLog.FILE), StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {42}), second + 20); // one byte of the second frame's body
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> EventLog.acquire(dir, true));
        assertTrue(e.getMessage().contains("damaged at byte " + second), e.getMessage());
        assertTrue(e.getMessage().contains("checksum"), e.getMessage());
    }

    @Test
    void aFileThatIsNotAJournalIsRefusedByName() throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(EventLog.FILE), "hello, world");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> EventLog.acquire(dir, true));
        assertTrue(e.getMessage().contains("is not a loraplex journal"), e.getMessage());
    }

    @Test
    void concurrentWritersAllLandAndEachKeepsItsOrder() {
        int writers = 16;
        int each = 200;
        try (EventLog log = EventLog.acquire(dir, true)) {
            List<CompletableFuture<Void>> all = IntStream.range(0, writers).mapToObj(w -> CompletableFuture.runAsync(() -> {
                for (long i = 1; i <= each; i++) {
                    log.append(List.of(new Write.Events(List.of(event("w" + w, i))))).join();
                }
            }, log.readers())).toList();
            all.forEach(CompletableFuture::join);
        }
        try (EventLog log = EventLog.acquire(dir, true)) {
            for (int w = 0; w < writers; w++) {
                assertEquals(LongStream.rangeClosed(1, each).boxed().toList(), replay(log, "w" + w, 1, Long.MAX_VALUE, Long.MAX_VALUE));
            }
        }
    }

    @Test
    void theFilesAreTheOwnersOnly() throws IOException {
        try (EventLog log = EventLog.acquire(dir.resolve("journal"), true)) {
            log.append(List.of(new Write.Events(List.of(event("a", 1))))).join();
        }
        assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("journal"))));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("journal").resolve(EventLog.FILE))));
    }

    @Test
    void anAtomicWriteOfTwoEntitiesIsRefused() {
        try (EventLog log = EventLog.acquire(dir, true)) {
            assertThrows(IllegalArgumentException.class, () -> log.append(List.of(new Write.Events(List.of(event("a", 1), event("b", 1))))));
        }
    }
}
