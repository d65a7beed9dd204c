package io.loraplex.persistence.blob;

import static io.loraplex.persistence.blob.AdapterArchiveTest.CONFIG;
import static io.loraplex.persistence.blob.AdapterArchiveTest.WEIGHTS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.cluster.blob.BlobProtocol.FileSink;
import io.loraplex.cluster.blob.BlobProtocol.Stored;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.Done;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The blob store's actor with its messages serialized (Kryo, stream refs included) as between
 * nodes: uploads by files and by archive, the byte limit cut mid-stream, refusals, idempotence,
 * abort, deletion, concurrency, and no temporary file left behind by any of them.
 */
class BlobStoreActorTest {

    static final TenantId ACME = new TenantId("acme");
    static final Duration TIMEOUT = Duration.ofSeconds(10);

    static ActorTestKit kit;

    @TempDir
    Path root;
    BlobStore store;
    ActorRef<BlobProtocol.Command> actor;

    @BeforeAll
    static void start() {
        kit = ActorTestKit.create("blob-store-test", ConfigFactory.parseString("""
                pekko.loglevel = WARNING
                pekko.actor.provider = cluster
                pekko.actor.serialize-messages = on
                pekko.remote.artery.canonical.hostname = "127.0.0.1"
                pekko.remote.artery.canonical.port = 0
                pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                """).withFallback(ConfigFactory.load()));
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    @BeforeEach
    void spawn() {
        store = new BlobStore(root);
        actor = kit.spawn(BlobStoreActor.create(store, new BlobStoreSettings(root, Duration.ofMinutes(5))));
    }

    @AfterEach
    void noTemporaryFilesRemain() throws IOException {
        kit.stop(actor);
        Path temp = root.resolve(BlobStore.TEMP);
        if (Files.isDirectory(temp)) {
            kit.createTestProbe().awaitAssert(TIMEOUT, () -> {
                try (Stream<Path> left = Files.list(temp)) {
                    assertEquals(List.of(), left.toList(), "temporary files left behind");
                } catch (IOException e) {
                    throw new AssertionError(e);
                }
                return null;
            });
        }
    }

    @Test
    void storesAnUploadOfTheTwoFilesUnderItsContentHash() throws Exception {
        String id = begin(1 << 20);
        send(putFile(id, ContentHash.CONFIG_FILE), chunks(CONFIG, 7));
        send(putFile(id, ContentHash.WEIGHTS_FILE), chunks(WEIGHTS, 100));
        Stored stored = finish(id);
        assertNull(stored.error());
        assertEquals(ContentHash.of(CONFIG, WEIGHTS), stored.hash());
        assertEquals(CONFIG.length + WEIGHTS.length, stored.bytes());
        Path dir = root.resolve("acme").resolve(stored.hash().hex());
        assertArrayEquals(CONFIG, Files.readAllBytes(dir.resolve(ContentHash.CONFIG_FILE)));
        assertArrayEquals(WEIGHTS, Files.readAllBytes(dir.resolve(ContentHash.WEIGHTS_FILE)));
        assertEquals(dir, store.verifiedPath(ACME, stored.hash()));
    }

    @Test
    void storesATarAndATarGz() throws Exception {
        byte[] tar = new TarBuilder().file(ContentHash.CONFIG_FILE, CONFIG).file(ContentHash.WEIGHTS_FILE, WEIGHTS).tar();
        String id = begin(1 << 20);
        send(putArchive(id, false), chunks(tar, 333));
        assertEquals(ContentHash.of(CONFIG, WEIGHTS), finish(id).hash());

        byte[] other = "{\"r\": 8}".getBytes(StandardCharsets.UTF_8);
        byte[] tarGz = new TarBuilder().directory("adapter/").file("adapter/" + ContentHash.CONFIG_FILE, other)
                .file("adapter/" + ContentHash.WEIGHTS_FILE, WEIGHTS).tarGz();
        String second = begin(1 << 20);
        send(putArchive(second, true), chunks(tarGz, 100));
        Stored stored = finish(second);
        assertEquals(ContentHash.of(other, WEIGHTS), stored.hash(), stored.error());
        assertTrue(Files.isDirectory(root.resolve("acme").resolve(stored.hash().hex())));
    }

    @Test
    void cutsTheStreamWhenItPassesTheLimit() throws Exception {
        String id = begin(10_000);
        send(putFile(id, ContentHash.CONFIG_FILE), chunks(CONFIG, 64));
        CompletionStage<Done> sent = send(putFile(id, ContentHash.WEIGHTS_FILE), chunks(new byte[50_000], 1000));
        sent.toCompletableFuture().handle((d, t) -> d).get(10, TimeUnit.SECONDS); // over, either way
        Stored stored = finish(id);
        assertEquals("the upload exceeds the limit of 10000 bytes", stored.error());
        assertTrue(stored.overLimit() && !stored.overQuota(), "the refusal says over the limit by its type: " + stored);
        assertNull(stored.hash());
        assertNothingStored();
    }

    @Test
    void refusesAnArchiveWithATraversalAndStoresNothing() throws Exception {
        byte[] tar = new TarBuilder().file(ContentHash.CONFIG_FILE, CONFIG).file("../" + ContentHash.WEIGHTS_FILE, WEIGHTS).tar();
        String id = begin(1 << 20);
        send(putArchive(id, false), chunks(tar, 512));
        assertEquals("unsafe path in archive: ../adapter_model.safetensors", finish(id).error());
        assertNothingStored();
        assertFalse(Files.exists(root.resolve(BlobStore.TEMP).resolve(ContentHash.WEIGHTS_FILE)));
    }

    @Test
    void refusesATruncatedArchive() throws Exception {
        byte[] tar = new TarBuilder().file(ContentHash.CONFIG_FILE, CONFIG).file(ContentHash.WEIGHTS_FILE, WEIGHTS).tarGz();
        String id = begin(1 << 20);
        send(putArchive(id, true), chunks(java.util.Arrays.copyOf(tar, tar.length - 40), 100));
        assertTrue(finish(id).error().startsWith("truncated archive"));
        assertNothingStored();
    }

    @Test
    void refusesPickledWeightsAndUnknownFilesWhenAsked() throws Exception {
        String id = begin(1 << 20);
        FileSink bin = putFile(id, "adapter_model.bin");
        assertNull(bin.sink());
        assertEquals("pickled PyTorch weights (.bin) are not accepted: adapter_model.bin; upload adapter_model.safetensors", bin.error());
        assertTrue(putFile(id, "notes.txt").error().startsWith("unexpected file notes.txt"));
        send(putFile(id, ContentHash.CONFIG_FILE), chunks(CONFIG, 10));
        // refusals name the file, never the internal upload id
        assertEquals("the upload already has adapter_config.json", putFile(id, ContentHash.CONFIG_FILE).error());
        assertEquals("the upload has files already; an archive must come alone", putArchive(id, false).error());
        assertEquals("the upload has no adapter_model.safetensors", finish(id).error());
        assertNothingStored();
        assertEquals("the upload is finished, aborted or timed out", finish(id).error());
    }

    @Test
    void theSameContentTwiceIsOneBlob() throws Exception {
        ContentHash first = uploadFiles(CONFIG, WEIGHTS).hash();
        ContentHash second = uploadFiles(CONFIG, WEIGHTS).hash();
        assertEquals(first, second);
        try (Stream<Path> blobs = Files.list(root.resolve("acme"))) {
            assertEquals(1, blobs.count());
        }
    }

    @Test
    void abortRemovesEverything() throws Exception {
        String id = begin(1 << 20);
        send(putFile(id, ContentHash.CONFIG_FILE), chunks(CONFIG, 10)).toCompletableFuture().get(10, TimeUnit.SECONDS);
        actor.tell(new BlobProtocol.Abort(id));
        assertEquals("the upload is finished, aborted or timed out", finish(id).error());
        assertNothingStored();
    }

    @Test
    void deleteRemovesTheBlob() throws Exception {
        ContentHash hash = uploadFiles(CONFIG, WEIGHTS).hash();
        TestProbe<BlobProtocol.Deleted> probe = kit.createTestProbe();
        actor.tell(new BlobProtocol.DeleteBlob(ACME, hash, probe.getRef()));
        assertEquals(new BlobProtocol.Deleted(hash, true), probe.receiveMessage(TIMEOUT));
        assertFalse(Files.exists(store.directory(ACME, hash)));
        actor.tell(new BlobProtocol.DeleteBlob(ACME, hash, probe.getRef()));
        assertEquals(new BlobProtocol.Deleted(hash, false), probe.receiveMessage(TIMEOUT));
    }

    @Test
    void concurrentUploadsEachLandWhole() throws Exception {
        List<CompletableFuture<Stored>> all = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            byte[] config = ("{\"r\": " + (i % 6) + "}").getBytes(StandardCharsets.UTF_8); // pairs share content
            byte[] weights = AdapterArchiveTest.weights(20_000 + (i % 6));
            all.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return uploadFiles(config, weights);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        for (int i = 0; i < all.size(); i++) {
            Stored stored = all.get(i).get(30, TimeUnit.SECONDS);
            byte[] config = ("{\"r\": " + (i % 6) + "}").getBytes(StandardCharsets.UTF_8);
            assertEquals(ContentHash.of(config, AdapterArchiveTest.weights(20_000 + (i % 6))), stored.hash(), stored.error());
            store.verifiedPath(ACME, stored.hash());
        }
        try (Stream<Path> blobs = Files.list(root.resolve("acme"))) {
            assertEquals(6, blobs.count());
        }
    }

    @Test
    void startRemovesLeftoversOfAPreviousRun() throws Exception {
        Path leftover = store.newUploadDirectory("crashed");
        Files.write(leftover.resolve(ContentHash.WEIGHTS_FILE), WEIGHTS);
        ActorRef<BlobProtocol.Command> restarted = kit.spawn(BlobStoreActor.create(store, new BlobStoreSettings(root, Duration.ofMinutes(5))));
        kit.createTestProbe().awaitAssert(TIMEOUT, () -> {
            assertFalse(Files.exists(leftover));
            return null;
        });
        kit.stop(restarted);
    }

    @Test
    void anUploadLeftOpenTimesOut() throws Exception {
        ActorRef<BlobProtocol.Command> impatient = kit.spawn(BlobStoreActor.create(store, new BlobStoreSettings(root, Duration.ofMillis(200))));
        String id = AskPattern.<BlobProtocol.Command, BlobProtocol.UploadOpened>ask(impatient,
                replyTo -> new BlobProtocol.BeginUpload(ACME, 100, replyTo), TIMEOUT, kit.system().scheduler())
                .toCompletableFuture().get(15, TimeUnit.SECONDS).uploadId();
        assertTrue(Files.isDirectory(root.resolve(BlobStore.TEMP).resolve(id)));
        kit.createTestProbe().awaitAssert(TIMEOUT, () -> {
            assertFalse(Files.exists(root.resolve(BlobStore.TEMP).resolve(id)));
            return null;
        });
        kit.stop(impatient);
    }

    @Test
    void registersWithTheReceptionistForUploadsAndAsASource() {
        awaitListed(BlobProtocol.SERVICE_KEY, actor);
        awaitListed(BlobProtocol.SOURCE_KEY, actor);
    }

    @Test
    void readStreamsTheTwoFilesInChunksWithTheirSizes() throws Exception {
        byte[] weights = AdapterArchiveTest.weights(300_000); // several of FileIO's 8 KiB chunks
        ContentHash hash = uploadFiles(CONFIG, weights).hash();
        BlobProtocol.BlobRead read = this.<BlobProtocol.BlobRead>ask(replyTo -> new BlobProtocol.ReadBlob(ACME, hash, replyTo));
        assertTrue(read.ok(), read.error());
        assertEquals(hash, read.hash());
        assertEquals(CONFIG.length, read.configBytes());
        assertEquals(weights.length, read.weightsBytes());
        assertArrayEquals(CONFIG, drain(read.config()).toArray());
        List<ByteString> chunks = read.weights().getSource().runWith(Sink.seq(), kit.system()).toCompletableFuture()
                .get(15, TimeUnit.SECONDS);
        assertTrue(chunks.size() > 1, "the weights come in chunks, not whole: " + chunks.size());
        assertArrayEquals(weights, chunks.stream().reduce(ByteString.emptyByteString(), ByteString::concat).toArray());
    }

    @Test
    void readOfABlobItDoesNotHoldSaysSo() throws Exception {
        ContentHash missing = ContentHash.of(CONFIG, new byte[] {1, 2, 3});
        BlobProtocol.BlobRead read = this.<BlobProtocol.BlobRead>ask(replyTo -> new BlobProtocol.ReadBlob(ACME, missing, replyTo));
        assertFalse(read.ok());
        assertEquals("blob acme/" + missing + " is not in this store", read.error());
        assertNull(read.config());
        assertNull(read.weights());
    }

    @Test
    void aReadOnlyStoreIsOnlyASourceAndRefusesUploads() throws Exception {
        Path nodeRoot = root.resolve("node-copies");
        ActorRef<BlobProtocol.Command> readOnly = kit.spawn(BlobStoreActor.create(new BlobStore(nodeRoot),
                new BlobStoreSettings(nodeRoot, Duration.ofMinutes(5)), false));
        try {
            awaitListed(BlobProtocol.SOURCE_KEY, readOnly);
            TestProbe<Receptionist.Listing> uploads = kit.createTestProbe();
            kit.system().receptionist().tell(Receptionist.find(BlobProtocol.SERVICE_KEY, uploads.getRef()));
            assertFalse(uploads.receiveMessage(TIMEOUT).getServiceInstances(BlobProtocol.SERVICE_KEY).contains(readOnly),
                    "a read-only store is not offered for uploads");
            TestProbe<BlobProtocol.UploadOpened> opened = kit.createTestProbe();
            readOnly.tell(new BlobProtocol.BeginUpload(ACME, 1000, opened.getRef()));
            opened.expectNoMessage(Duration.ofMillis(300));
            assertFalse(Files.exists(nodeRoot.resolve(BlobStore.TEMP)), "no upload directory was made");
        } finally {
            kit.stop(readOnly);
        }
    }

    private void awaitListed(org.apache.pekko.actor.typed.receptionist.ServiceKey<BlobProtocol.Command> key,
            ActorRef<BlobProtocol.Command> service) {
        TestProbe<Receptionist.Listing> probe = kit.createTestProbe();
        kit.system().receptionist().tell(Receptionist.subscribe(key, probe.getRef()));
        probe.fishForMessage(TIMEOUT, listing -> listing.getServiceInstances(key).contains(service)
                ? FishingOutcomes.complete()
                : FishingOutcomes.continueAndIgnore());
    }

    private ByteString drain(org.apache.pekko.stream.SourceRef<ByteString> ref) throws Exception {
        return ref.getSource().runFold(ByteString.emptyByteString(), ByteString::concat, kit.system()).toCompletableFuture()
                .get(15, TimeUnit.SECONDS);
    }

    private Stored uploadFiles(byte[] config, byte[] weights) throws Exception {
        String id = begin(1 << 20);
        send(putFile(id, ContentHash.CONFIG_FILE), chunks(config, 5));
        send(putFile(id, ContentHash.WEIGHTS_FILE), chunks(weights, 4096));
        return finish(id);
    }

    private void assertNothingStored() throws IOException {
        try (Stream<Path> entries = Files.list(root)) {
            assertEquals(List.of(), entries.filter(p -> !p.getFileName().toString().equals(BlobStore.TEMP)).toList());
        }
    }

    private String begin(long maxBytes) throws Exception {
        return this.<BlobProtocol.UploadOpened>ask(replyTo -> new BlobProtocol.BeginUpload(ACME, maxBytes, replyTo)).uploadId();
    }

    private FileSink putFile(String id, String name) throws Exception {
        return this.<FileSink>ask(replyTo -> new BlobProtocol.PutFile(id, name, replyTo));
    }

    private FileSink putArchive(String id, boolean gzip) throws Exception {
        return this.<FileSink>ask(replyTo -> new BlobProtocol.PutArchive(id, gzip, replyTo));
    }

    private Stored finish(String id) throws Exception {
        return this.<Stored>ask(replyTo -> new BlobProtocol.Finish(id, replyTo));
    }

    /** Streams {@code chunks} into the sink; completes when the sender's side has sent them (or was cut). */
    private CompletionStage<Done> send(FileSink sink, List<ByteString> chunks) {
        assertNotNull(sink.sink(), sink.error());
        return Source.from(chunks).watchTermination(Keep.right()).to(sink.sink().getSink()).run(kit.system());
    }

    private static List<ByteString> chunks(byte[] bytes, int size) {
        List<ByteString> out = new ArrayList<>();
        for (int i = 0; i < bytes.length; i += size) {
            out.add(ByteString.fromArray(bytes, i, Math.min(size, bytes.length - i)));
        }
        return out;
    }

    private <R> R ask(java.util.function.Function<ActorRef<R>, BlobProtocol.Command> message) throws Exception {
        return AskPattern.<BlobProtocol.Command, R>ask(actor, message::apply, TIMEOUT, kit.system().scheduler())
                .toCompletableFuture().get(15, TimeUnit.SECONDS);
    }
}
