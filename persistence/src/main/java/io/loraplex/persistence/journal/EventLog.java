package io.loraplex.persistence.journal;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded journal: one append-only file of events and snapshots ({@code events.log} in its
 * directory), and an index of it in memory.
 *
 * <p>Durability is the point, so it is stated here and tested ({@code EventLogTest},
 * {@code CrashLoopIT}): a write completes only after its bytes were handed to the operating system
 * by {@code write(2)} — so it survives a SIGKILL of the JVM at any moment after — and, with
 * {@code fsync} on (the default), after {@code fdatasync}, so it survives a power cut too. Writes
 * that arrive together share one {@code write} and one {@code fdatasync} (group commit): one thread
 * writes, in arrival order. Nothing is ever written in place; a crash can only leave a torn frame
 * at the end of the file, which the next open cuts off (it was never acknowledged). A damaged frame
 * anywhere else stops the open with the offset, rather than silently dropping what follows.
 *
 * <p>The file: an 8-byte header ({@link #MAGIC}, {@link #FORMAT}), then frames of
 * {@code int length, int crc32c(body), body}. A body is one {@link Kind} and its fields: all the
 * events of one atomic write (so they land together or not at all), a snapshot, or a deletion
 * marker. Strings are UTF-8 with an int length, payloads raw bytes with an int length.
 *
 * <p>One process opens a directory at a time (a lock file); within a JVM the journal, snapshot
 * store and read journal plugins share one instance per directory ({@link #acquire}).
 */
public final class EventLog implements AutoCloseable {

    static final int MAGIC = 0x4C50_4A4C; // "LPJL"
    static final int FORMAT = 1;
    static final String FILE = "events.log";
    static final String LOCK = "lock";
    /** A frame larger than this is refused on write and taken for damage on read. */
    static final int MAX_FRAME = 256 << 20;

    private static final Logger log = LoggerFactory.getLogger(EventLog.class);
    private static final Map<Path, EventLog> open = new HashMap<>();

    /** What a frame holds. */
    enum Kind {
        EVENTS, DELETE_EVENTS_TO, SNAPSHOT, DELETE_SNAPSHOTS
    }

    /** One journaled event, its payload serialized by the serializer {@code serializerId}. */
    public record Event(String persistenceId, long sequenceNr, long timestamp, String writerUuid, String manifest,
                        int serializerId, String serializerManifest, byte[] payload) {
    }

    /** One snapshot of an entity's state at {@code sequenceNr}. */
    public record Snapshot(String persistenceId, long sequenceNr, long timestamp, int serializerId, String serializerManifest,
                           byte[] payload) {
    }

    /** Snapshots with a sequence number and timestamp in these (inclusive) ranges. */
    public record SnapshotRange(long minSequenceNr, long maxSequenceNr, long minTimestamp, long maxTimestamp) {
        boolean matches(long sequenceNr, long timestamp) {
            return sequenceNr >= minSequenceNr && sequenceNr <= maxSequenceNr && timestamp >= minTimestamp && timestamp <= maxTimestamp;
        }
    }

    /** A write: the frames of one or more atomic writes, acknowledged together. */
    public sealed interface Write {
        /** The events of one atomic write, all of one entity, in sequence order. */
        record Events(List<Event> events) implements Write {
        }

        /** Events up to {@code toSequenceNr} are deleted: replays skip them. */
        record DeleteEventsTo(String persistenceId, long toSequenceNr) implements Write {
        }

        record SaveSnapshot(Snapshot snapshot) implements Write {
        }

        record DeleteSnapshots(String persistenceId, SnapshotRange range) implements Write {
        }
    }

    /** Where one entity's events and snapshots lie in the file. */
    private static final class Stream {
        long highestSequenceNr;
        long deletedTo;
        final List<long[]> spans = new ArrayList<>(); // {frame offset, first sequence nr, last sequence nr}
        final List<long[]> snapshots = new ArrayList<>(); // {frame offset, sequence nr, timestamp}
    }

    private record Pending(List<Write> writes, List<ByteBuffer> frames, CompletableFuture<Void> done) {
    }

    private final Path dir;
    private final boolean fsync;
    private final FileChannel channel;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final Map<String, Stream> index = new HashMap<>();
    private final BlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
    private final Thread writer;
    private final ExecutorService readers = Executors.newVirtualThreadPerTaskExecutor();
    private long end;
    private int users;
    private volatile IOException broken;
    private volatile boolean closing;

    private EventLog(Path dir, boolean fsync) throws IOException {
        this.dir = dir;
        this.fsync = fsync;
        createPrivateDirectory(dir);
        lockChannel = FileChannel.open(privateFile(dir.resolve(LOCK)), StandardOpenOption.WRITE);
        lock = lockChannel.tryLock();
        if (lock == null) {
            lockChannel.close();
            throw new IllegalStateException("the journal in " + dir + " is in use by another process (another loraplex on the same"
                    + " data directory?)");
        }
        try {
            Path file = privateFile(dir.resolve(FILE));
            channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
            if (channel.size() == 0) {
                ByteBuffer header = ByteBuffer.allocate(8).putInt(MAGIC).putInt(FORMAT).flip();
                while (header.hasRemaining()) {
                    channel.write(header, 8 - header.remaining());
                }
                channel.force(true);
                // the new file's directory entry, so that a power cut cannot lose the file itself
                syncDirectory(dir);
            }
            end = recover(file);
            channel.position(end);
        } catch (IOException | RuntimeException e) {
            lock.release();
            lockChannel.close();
            throw e;
        }
        writer = Thread.ofPlatform().daemon().name("loraplex-journal-writer").start(this::writeLoop);
    }

    /**
     * The log of {@code dir}, opened on first use and shared by every caller in this JVM until each
     * has called {@link #close}.
     */
    public static EventLog acquire(Path dir, boolean fsync) {
        Path key = dir.toAbsolutePath().normalize();
        synchronized (open) {
            EventLog log = open.get(key);
            if (log == null) {
                try {
                    log = new EventLog(key, fsync);
                } catch (IOException e) {
                    throw new UncheckedIOException("could not open the journal in " + key + ": " + e.getMessage(), e);
                }
                open.put(key, log);
            }
            log.users++;
            return log;
        }
    }

    /** The log a plugin's configuration names ({@code dir}, {@code fsync}), as {@link #acquire(Path, boolean)}. */
    public static EventLog acquire(com.typesafe.config.Config plugin) {
        return acquire(Path.of(plugin.getString("dir")), plugin.getBoolean("fsync"));
    }

    /** Releases this caller's use; the last one closes the file. */
    @Override
    public void close() {
        synchronized (open) {
            if (--users > 0) {
                return;
            }
            open.remove(dir);
        }
        closing = true;
        queue.add(new Pending(List.of(), List.of(), new CompletableFuture<>())); // wakes the writer
        try {
            writer.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        readers.shutdown();
        try {
            channel.force(true);
            channel.close();
            lock.release();
            lockChannel.close();
        } catch (IOException e) {
            log.warn("closing the journal in {}: {}", dir, e.getMessage());
        }
    }

    public Path directory() {
        return dir;
    }

    // ---- writing ----

    /**
     * Appends {@code writes}; the future completes once they are in the file (and synced, with
     * fsync on), and only then are they visible to reads. On an I/O error nothing of them stays in
     * the file and the future fails.
     */
    public CompletableFuture<Void> append(List<Write> writes) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        if (broken != null) {
            done.completeExceptionally(new IOException("the journal in " + dir + " failed earlier and takes no more writes: "
                    + broken.getMessage(), broken));
            return done;
        }
        if (closing) {
            done.completeExceptionally(new IllegalStateException("the journal in " + dir + " is closed"));
            return done;
        }
        List<ByteBuffer> frames = new ArrayList<>(writes.size());
        for (Write w : writes) {
            frames.add(frame(w));
        }
        queue.add(new Pending(writes, frames, done));
        return done;
    }

    private void writeLoop() {
        List<Pending> batch = new ArrayList<>();
        while (true) {
            try {
                batch.add(queue.take());
            } catch (InterruptedException e) {
                return;
            }
            queue.drainTo(batch, 4096);
            List<Pending> real = batch.stream().filter(p -> !p.frames().isEmpty()).toList();
            if (!real.isEmpty()) {
                writeBatch(real);
            }
            batch.stream().filter(p -> p.frames().isEmpty()).forEach(p -> p.done().complete(null));
            batch.clear();
            if (closing && queue.isEmpty()) {
                return;
            }
        }
    }

    private void writeBatch(List<Pending> batch) {
        long start = end;
        List<ByteBuffer> buffers = new ArrayList<>();
        for (Pending p : batch) {
            buffers.addAll(p.frames());
        }
        ByteBuffer[] all = buffers.stream().map(ByteBuffer::duplicate).toArray(ByteBuffer[]::new);
        try {
            if (broken != null) {
                throw broken;
            }
            long left = 0;
            for (ByteBuffer b : all) {
                left += b.remaining();
            }
            while (left > 0) {
                left -= channel.write(all);
            }
            if (fsync) {
                channel.force(false);
            }
        } catch (IOException e) {
            try {
                channel.truncate(start);
                channel.position(start);
            } catch (IOException gone) {
                broken = gone;
                log.error("the journal in {} could not undo a failed write and takes no more writes: {}", dir, gone.getMessage());
            }
            for (Pending p : batch) {
                p.done().completeExceptionally(new IOException("writing the journal in " + dir + ": " + e.getMessage(), e));
            }
            return;
        }
        long offset = start;
        synchronized (index) {
            for (Pending p : batch) {
                for (int i = 0; i < p.writes().size(); i++) {
                    indexWrite(p.writes().get(i), offset);
                    offset += p.frames().get(i).remaining();
                }
            }
            end = offset;
        }
        for (Pending p : batch) {
            p.done().complete(null);
        }
    }

    // ---- reading ----

    /** Every entity with a frame in the log (deleted events included). */
    public Set<String> persistenceIds() {
        synchronized (index) {
            return new TreeSet<>(index.keySet());
        }
    }

    public long highestSequenceNr(String persistenceId) {
        synchronized (index) {
            Stream s = index.get(persistenceId);
            return s == null ? 0 : s.highestSequenceNr;
        }
    }

    /** Reads, in sequence order, at most {@code max} events of {@code persistenceId} in {@code [from, to]}, deleted ones left out. */
    public void replay(String persistenceId, long from, long to, long max, Consumer<Event> each) {
        List<long[]> spans;
        long deletedTo;
        synchronized (index) {
            Stream s = index.get(persistenceId);
            if (s == null) {
                return;
            }
            spans = List.copyOf(s.spans);
            deletedTo = s.deletedTo;
        }
        long first = Math.max(from, deletedTo + 1);
        long count = 0;
        for (long[] span : spans) {
            if (span[2] < first || span[1] > to) {
                continue;
            }
            Body body = read(span[0]);
            if (body.kind() != Kind.EVENTS) {
                throw new IllegalStateException("the journal index points at a " + body.kind() + " frame at " + span[0]);
            }
            for (Event e : body.events()) {
                if (e.sequenceNr() >= first && e.sequenceNr() <= to) {
                    if (count++ >= max) {
                        return;
                    }
                    each.accept(e);
                }
            }
        }
    }

    /** The newest snapshot of {@code persistenceId} in {@code range}, if any. */
    public Optional<Snapshot> latestSnapshot(String persistenceId, SnapshotRange range) {
        long[] best = null;
        synchronized (index) {
            Stream s = index.get(persistenceId);
            if (s == null) {
                return Optional.empty();
            }
            for (long[] snap : s.snapshots) {
                if (range.matches(snap[1], snap[2]) && (best == null || snap[1] > best[1] || (snap[1] == best[1] && snap[2] > best[2]))) {
                    best = snap;
                }
            }
        }
        return best == null ? Optional.empty() : Optional.of(read(best[0]).snapshot());
    }

    /** An executor for reads, so that replays do not block the plugin actors' threads. */
    public ExecutorService readers() {
        return readers;
    }

    private Body read(long offset) {
        try {
            ByteBuffer head = ByteBuffer.allocate(8);
            readFully(head, offset);
            head.flip();
            int length = head.getInt();
            int crc = head.getInt();
            ByteBuffer body = ByteBuffer.allocate(length);
            readFully(body, offset + 8);
            if (crc32c(body.array(), length) != crc) {
                throw new IllegalStateException("the journal " + dir.resolve(FILE) + " is damaged: the frame at byte " + offset
                        + " fails its checksum");
            }
            return decode(new java.io.DataInputStream(new java.io.ByteArrayInputStream(body.array())));
        } catch (IOException e) {
            throw new UncheckedIOException("reading the journal " + dir.resolve(FILE) + " at byte " + offset + ": " + e.getMessage(), e);
        }
    }

    private void readFully(ByteBuffer into, long position) throws IOException {
        while (into.hasRemaining()) {
            int n = channel.read(into, position + into.position());
            if (n < 0) {
                throw new EOFException("end of file");
            }
        }
    }

    // ---- the index ----

    private void indexWrite(Write w, long offset) {
        switch (w) {
            case Write.Events(List<Event> events) -> {
                Stream s = index.computeIfAbsent(events.getFirst().persistenceId(), id -> new Stream());
                long first = events.getFirst().sequenceNr();
                long last = events.getLast().sequenceNr();
                s.spans.add(new long[] {offset, first, last});
                s.highestSequenceNr = Math.max(s.highestSequenceNr, last);
            }
            case Write.DeleteEventsTo(String id, long to) -> {
                Stream s = index.computeIfAbsent(id, x -> new Stream());
                s.deletedTo = Math.max(s.deletedTo, Math.min(to, s.highestSequenceNr));
                s.spans.removeIf(span -> span[2] <= s.deletedTo);
            }
            case Write.SaveSnapshot(Snapshot snap) -> {
                Stream s = index.computeIfAbsent(snap.persistenceId(), x -> new Stream());
                s.snapshots.add(new long[] {offset, snap.sequenceNr(), snap.timestamp()});
            }
            case Write.DeleteSnapshots(String id, SnapshotRange range) -> {
                Stream s = index.get(id);
                if (s != null) {
                    s.snapshots.removeIf(snap -> range.matches(snap[1], snap[2]));
                }
            }
        }
    }

    // ---- recovery ----

    /** Reads the whole file into the index; cuts off a torn frame at its end. Returns where the next frame goes. */
    private long recover(Path file) throws IOException {
        long size = channel.size();
        // a channel of its own: closing the stream closes the channel under it
        try (FileChannel reading = FileChannel.open(file, StandardOpenOption.READ);
             InputStream raw = Channels.newInputStream(reading);
             DataInputStream in = new DataInputStream(new BufferedInputStream(raw, 1 << 16))) {
            if (size < 8 || in.readInt() != MAGIC) {
                throw new IllegalStateException(file + " is not a loraplex journal (no journal header)");
            }
            int format = in.readInt();
            if (format != FORMAT) {
                throw new IllegalStateException(file + " is a loraplex journal of format " + format + "; this version reads format " + FORMAT);
            }
            long offset = 8;
            int frames = 0;
            while (offset < size) {
                String damage = null;
                int length = -1;
                byte[] body = null;
                if (size - offset < 8) {
                    damage = "a frame header cut short";
                } else {
                    length = in.readInt();
                    int crc = in.readInt();
                    if (length <= 0 || length > MAX_FRAME) {
                        damage = "a frame length of " + length;
                    } else if (offset + 8 + length > size) {
                        damage = "a frame running past the end of the file";
                    } else {
                        body = in.readNBytes(length);
                        if (crc32c(body, length) != crc) {
                            damage = "a frame failing its checksum";
                        }
                    }
                }
                if (damage != null) {
                    boolean atEnd = length > 0 && offset + 8 + length >= size || zeroFrom(offset, size) || size - offset < 8;
                    if (!atEnd) {
                        throw new IllegalStateException("the journal " + file + " is damaged at byte " + offset + " (" + damage
                                + "), and frames follow it: it is not a crash's torn end. Move the file aside to start empty, or"
                                + " restore it from a copy");
                    }
                    // the end of a write the crash cut: it was never acknowledged
                    log.warn("the journal {} ends in an incomplete write (byte {} of {}): cut off", file, offset, size);
                    channel.truncate(offset);
                    channel.force(true);
                    break;
                }
                Body decoded = decode(new DataInputStream(new java.io.ByteArrayInputStream(body)));
                indexWrite(decoded.asWrite(), offset);
                offset += 8 + length;
                frames++;
            }
            log.debug("journal {}: {} frames, {} entities", file, frames, index.size());
            return Math.min(offset, channel.size());
        }
    }

    private boolean zeroFrom(long offset, long size) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(1 << 16);
        for (long at = offset; at < size; ) {
            buf.clear();
            int n = channel.read(buf, at);
            if (n <= 0) {
                break;
            }
            for (int i = 0; i < n; i++) {
                if (buf.get(i) != 0) {
                    return false;
                }
            }
            at += n;
        }
        return true;
    }

    // ---- encoding ----

    private record Body(Kind kind, List<Event> events, Snapshot snapshot, String persistenceId, long toSequenceNr,
                        SnapshotRange range) {
        Write asWrite() {
            return switch (kind) {
                case EVENTS -> new Write.Events(events);
                case DELETE_EVENTS_TO -> new Write.DeleteEventsTo(persistenceId, toSequenceNr);
                case SNAPSHOT -> new Write.SaveSnapshot(snapshot);
                case DELETE_SNAPSHOTS -> new Write.DeleteSnapshots(persistenceId, range);
            };
        }
    }

    static ByteBuffer frame(Write w) {
        Encoder out = new Encoder();
        switch (w) {
            case Write.Events(List<Event> events) -> {
                if (events.isEmpty()) {
                    throw new IllegalArgumentException("an atomic write of no events");
                }
                out.kind(Kind.EVENTS);
                out.string(events.getFirst().persistenceId());
                out.integer(events.size());
                for (Event e : events) {
                    if (!e.persistenceId().equals(events.getFirst().persistenceId())) {
                        throw new IllegalArgumentException("an atomic write spans " + events.getFirst().persistenceId() + " and "
                                + e.persistenceId());
                    }
                    out.number(e.sequenceNr());
                    out.number(e.timestamp());
                    out.string(e.writerUuid());
                    out.string(e.manifest());
                    out.integer(e.serializerId());
                    out.string(e.serializerManifest());
                    out.bytes(e.payload());
                }
            }
            case Write.DeleteEventsTo(String id, long to) -> {
                out.kind(Kind.DELETE_EVENTS_TO);
                out.string(id);
                out.number(to);
            }
            case Write.SaveSnapshot(Snapshot s) -> {
                out.kind(Kind.SNAPSHOT);
                out.string(s.persistenceId());
                out.number(s.sequenceNr());
                out.number(s.timestamp());
                out.integer(s.serializerId());
                out.string(s.serializerManifest());
                out.bytes(s.payload());
            }
            case Write.DeleteSnapshots(String id, SnapshotRange r) -> {
                out.kind(Kind.DELETE_SNAPSHOTS);
                out.string(id);
                out.number(r.minSequenceNr());
                out.number(r.maxSequenceNr());
                out.number(r.minTimestamp());
                out.number(r.maxTimestamp());
            }
        }
        return out.frame();
    }

    private static Body decode(DataInputStream in) throws IOException {
        Kind kind = Kind.values()[in.readUnsignedByte()];
        String id = readString(in);
        return switch (kind) {
            case EVENTS -> {
                int n = in.readInt();
                List<Event> events = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    events.add(new Event(id, in.readLong(), in.readLong(), readString(in), readString(in), in.readInt(), readString(in),
                            readBytes(in)));
                }
                yield new Body(kind, events, null, id, 0, null);
            }
            case DELETE_EVENTS_TO -> new Body(kind, null, null, id, in.readLong(), null);
            case SNAPSHOT -> new Body(kind, null, new Snapshot(id, in.readLong(), in.readLong(), in.readInt(), readString(in),
                    readBytes(in)), id, 0, null);
            case DELETE_SNAPSHOTS -> new Body(kind, null, null, id, 0,
                    new SnapshotRange(in.readLong(), in.readLong(), in.readLong(), in.readLong()));
        };
    }

    private static String readString(DataInputStream in) throws IOException {
        return new String(readBytes(in), StandardCharsets.UTF_8);
    }

    private static byte[] readBytes(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0 || n > MAX_FRAME) {
            throw new IOException("a field length of " + n);
        }
        return in.readNBytes(n);
    }

    static int crc32c(byte[] bytes, int length) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, 0, length);
        return (int) crc.getValue();
    }

    /** A growing frame body; {@link #frame} prefixes its length and checksum. */
    private static final class Encoder {
        private final java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream(256);
        private final java.io.DataOutputStream out = new java.io.DataOutputStream(bytes);

        void kind(Kind k) {
            write(() -> out.writeByte(k.ordinal()));
        }

        void string(String s) {
            bytes((s == null ? "" : s).getBytes(StandardCharsets.UTF_8));
        }

        void bytes(byte[] b) {
            write(() -> {
                out.writeInt(b.length);
                out.write(b);
            });
        }

        void integer(int i) {
            write(() -> out.writeInt(i));
        }

        void number(long l) {
            write(() -> out.writeLong(l));
        }

        ByteBuffer frame() {
            byte[] body = bytes.toByteArray();
            if (body.length > MAX_FRAME) {
                throw new IllegalArgumentException("a journal write of " + body.length + " bytes; at most " + MAX_FRAME);
            }
            return ByteBuffer.allocate(8 + body.length).putInt(body.length).putInt(crc32c(body, body.length)).put(body).flip();
        }

        private interface IoAction {
            void run() throws IOException;
        }

        private void write(IoAction a) {
            try {
                a.run();
            } catch (IOException e) {
                throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
            }
        }
    }

    // ---- files readable by the owner only: the journal holds key hashes and tenants' data ----

    private static void createPrivateDirectory(Path dir) throws IOException {
        if (Files.isDirectory(dir)) {
            return;
        }
        try {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (UnsupportedOperationException e) {
            Files.createDirectories(dir);
        }
    }

    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            log.debug("could not sync the directory {}: {}", dir, e.getMessage()); // not every file system can
        }
    }

    private static Path privateFile(Path file) throws IOException {
        if (!Files.exists(file)) {
            try {
                Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } catch (UnsupportedOperationException e) {
                Files.createFile(file);
            }
        }
        return file;
    }
}
