package io.loraplex.persistence.files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.files.FileStoreProtocol;
import io.loraplex.cluster.files.FileStoreProtocol.FileRef;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The training file store: streamed uploads, the size limit, atomic commit, verified reads, delete and abort. */
class FileStoreActorTest {

    static final TenantId ACME = new TenantId("acme");
    static ActorTestKit kit;
    static Path root;
    static ActorRef<FileStoreProtocol.Command> store;

    @BeforeAll
    static void start(@TempDir Path dir) {
        kit = ActorTestKit.create("file-store-test");
        root = dir;
        store = kit.spawn(FileStoreActor.create(new FileStoreSettings(root, 1000)));
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    static FileStoreProtocol.Stored upload(String fileId, long maxBytes, List<String> chunks) {
        TestProbe<FileStoreProtocol.UploadSink> sinks = kit.createTestProbe();
        store.tell(new FileStoreProtocol.OpenUpload(ACME, fileId, maxBytes, sinks.ref()));
        FileStoreProtocol.UploadSink sink = sinks.receiveMessage();
        assertNull(sink.error());
        Source.from(chunks).map(ByteString::fromString).runWith(sink.sink().getSink(), kit.system());
        TestProbe<FileStoreProtocol.Stored> stored = kit.createTestProbe();
        store.tell(new FileStoreProtocol.Finish(sink.uploadId(), stored.ref()));
        return stored.receiveMessage();
    }

    static byte[] read(FileRef ref) throws Exception {
        TestProbe<FileStoreProtocol.FileSource> sources = kit.createTestProbe();
        store.tell(new FileStoreProtocol.ReadFile(ref, sources.ref()));
        FileStoreProtocol.FileSource source = sources.receiveMessage();
        assertNull(source.error(), source.error());
        return source.source().getSource().runWith(Sink.fold(ByteString.emptyByteString(), ByteString::concat), kit.system())
                .toCompletableFuture().get(10, TimeUnit.SECONDS).toArray();
    }

    static String sha256(String text) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
    }

    static long uploadsLeft() throws Exception {
        try (Stream<Path> s = Files.list(root.resolve(".uploads"))) {
            return s.count();
        }
    }

    @Test
    void anUploadIsStoredWithItsHashAndReadsBackVerified() throws Exception {
        FileStoreProtocol.Stored stored = upload("file-one", 1000, List.of("{\"a\":1}\n", "{\"b\":2}\n"));
        assertTrue(stored.ok(), stored.error());
        String text = "{\"a\":1}\n{\"b\":2}\n";
        assertEquals(new FileRef(ACME, "file-one", sha256(text), text.length()), stored.file());
        assertEquals(text, Files.readString(root.resolve("acme").resolve("file-one")));
        assertArrayEquals(text.getBytes(StandardCharsets.UTF_8), read(stored.file()));
        assertEquals(0, uploadsLeft());
    }

    @Test
    void aFileOverTheLimitIsRefusedAndNothingStays() throws Exception {
        FileStoreProtocol.Stored stored = upload("file-big", 10, List.of("0123456789", "x"));
        assertFalse(stored.ok());
        assertTrue(stored.tooLarge(), stored.error());
        assertTrue(stored.error().contains("10 bytes"), stored.error());
        assertFalse(Files.exists(root.resolve("acme").resolve("file-big")));
        assertEquals(0, uploadsLeft());
    }

    @Test
    void aLimitAboveTheStoresIsRefused() {
        TestProbe<FileStoreProtocol.UploadSink> sinks = kit.createTestProbe();
        store.tell(new FileStoreProtocol.OpenUpload(ACME, "file-x", 1001, sinks.ref()));
        assertTrue(sinks.receiveMessage().error().contains("maxBytes must be 1 to 1000"));
    }

    @Test
    void anUnsafeFileIdIsRefused() {
        TestProbe<FileStoreProtocol.UploadSink> sinks = kit.createTestProbe();
        store.tell(new FileStoreProtocol.OpenUpload(ACME, "../etc", 10, sinks.ref()));
        FileStoreProtocol.UploadSink sink = sinks.receiveMessage();
        assertNull(sink.sink());
        assertTrue(sink.error().contains("file id"), sink.error());
    }

    @Test
    void aCorruptedFileIsNotRead() throws Exception {
        FileStoreProtocol.Stored stored = upload("file-corrupt", 1000, List.of("hello\n"));
        Files.writeString(root.resolve("acme").resolve("file-corrupt"), "jello\n");
        TestProbe<FileStoreProtocol.FileSource> sources = kit.createTestProbe();
        store.tell(new FileStoreProtocol.ReadFile(stored.file(), sources.ref()));
        FileStoreProtocol.FileSource source = sources.receiveMessage();
        assertNull(source.source());
        assertTrue(source.error().contains("corrupt"), source.error());
    }

    @Test
    void anotherTenantsRefReadsNothing() {
        FileStoreProtocol.Stored stored = upload("file-mine", 1000, List.of("mine\n"));
        FileRef other = new FileRef(new TenantId("globex"), "file-mine", stored.file().sha256(), stored.file().bytes());
        TestProbe<FileStoreProtocol.FileSource> sources = kit.createTestProbe();
        store.tell(new FileStoreProtocol.ReadFile(other, sources.ref()));
        assertTrue(sources.receiveMessage().error().contains("no file file-mine of tenant globex"));
    }

    @Test
    void deleteRemovesTheFileOnce() {
        upload("file-gone", 1000, List.of("bye\n"));
        TestProbe<FileStoreProtocol.Deleted> deleted = kit.createTestProbe();
        store.tell(new FileStoreProtocol.DeleteFile(ACME, "file-gone", deleted.ref()));
        assertTrue(deleted.receiveMessage().existed());
        assertFalse(Files.exists(root.resolve("acme").resolve("file-gone")));
        store.tell(new FileStoreProtocol.DeleteFile(ACME, "file-gone", deleted.ref()));
        assertFalse(deleted.receiveMessage().existed());
    }

    @Test
    void abortDropsTheUpload() throws Exception {
        TestProbe<FileStoreProtocol.UploadSink> sinks = kit.createTestProbe();
        store.tell(new FileStoreProtocol.OpenUpload(ACME, "file-aborted", 100, sinks.ref()));
        FileStoreProtocol.UploadSink sink = sinks.receiveMessage();
        store.tell(new FileStoreProtocol.Abort(sink.uploadId()));
        TestProbe<FileStoreProtocol.Stored> stored = kit.createTestProbe();
        store.tell(new FileStoreProtocol.Finish(sink.uploadId(), stored.ref()));
        assertFalse(stored.receiveMessage().ok());
        kit.createTestProbe().awaitAssert(() -> {
            assertEquals(0, uploadsLeft0());
            return null;
        });
    }

    private static long uploadsLeft0() {
        try {
            return uploadsLeft();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }
}
