package io.loraplex.persistence.blob;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.cluster.blob.BlobProtocol.FileSink;
import io.loraplex.cluster.blob.BlobProtocol.Stored;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Quota before bytes: concurrent archive bombs and oversized uploads of one tenant never put more
 * than its quota (plus one chunk ahead and one write buffer) on disk, each is refused naming the
 * quota, and afterwards nothing is left on disk nor held. The quota here keeps holds exactly as the
 * Tenant entity does (TenantEntitySuite tests the entity's own accounting).
 */
class UploadQuotaTest {

    static final TenantId ACME = new TenantId("acme");
    static final long QUOTA = 10_000_000;
    static final long CHUNK = 1 << 20;
    /** What one write may add past its charge: the extractor's buffer. */
    static final long WRITE_BUFFER = 1 << 16;
    static final Duration TIMEOUT = Duration.ofSeconds(30);

    static ActorTestKit kit;
    @TempDir
    Path root;

    @BeforeAll
    static void start() {
        kit = ActorTestKit.create("upload-quota-test", ConfigFactory.parseString("""
                pekko.loglevel = WARNING
                """).withFallback(ConfigFactory.load()));
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    @Test
    void concurrentBombsAndOversizedUploadsOfOneTenantNeverPutMoreThanItsQuotaOnDisk() throws Exception {
        QuotaLedger ledger = new QuotaLedger(QUOTA);
        ActorRef<BlobProtocol.Command> store = kit.spawn(BlobStoreActor.create(new BlobStore(root),
                new BlobStoreSettings(root, Duration.ofMinutes(5), CHUNK, Duration.ofSeconds(10)), ledger));
        // a 40 MiB weights file of zeros: a few tens of kilobytes gzipped, four times the quota unpacked
        byte[] bomb = new TarBuilder().file(ContentHash.CONFIG_FILE, "{}".getBytes())
                .file(ContentHash.WEIGHTS_FILE, new byte[40 << 20]).tarGz();
        assertTrue(bomb.length < 1 << 20, "the bomb is small: " + bomb.length);

        AtomicLong peak = new AtomicLong();
        AtomicBoolean sampling = new AtomicBoolean(true);
        Thread sampler = Thread.ofPlatform().daemon().start(() -> {
            while (sampling.get()) {
                peak.accumulateAndGet(QuotaLedger.bytesUnder(root), Math::max);
            }
        });

        List<CompletableFuture<Stored>> uploads = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            uploads.add(upload(store, true, bomb));
        }
        for (int i = 0; i < 2; i++) {
            uploads.add(upload(store, false, new byte[8_000_000]));
        }
        List<Stored> results = new ArrayList<>();
        for (CompletableFuture<Stored> upload : uploads) {
            results.add(upload.get(60, TimeUnit.SECONDS));
        }
        sampling.set(false);
        sampler.join();

        // the two plain uploads may both fit (16 MB > 10 MB: at most one does); every bomb is refused
        int stored = 0;
        for (Stored result : results) {
            if (result.ok()) {
                stored++;
                continue;
            }
            assertTrue(result.overQuota(), result.error());
            assertTrue(result.error().contains("quota " + QUOTA + " bytes"), result.error());
        }
        assertTrue(stored <= 1, "at most one 8 MB upload fits a 10 MB quota, " + stored + " were stored");
        assertTrue(peak.get() <= QUOTA + CHUNK + WRITE_BUFFER, "peak bytes on disk " + peak.get() + " above the quota "
                + QUOTA + " plus one chunk and one buffer; " + results);
        for (Stored result : results) {
            if (result.ok()) {
                // a stored blob keeps its hold until its registration converts it; here nobody registers it
                ledger.release(ACME, result.uploadId());
                new BlobStore(root).delete(ACME, result.hash());
            }
        }
        assertEquals(0, ledger.held(), "holds left: " + ledger.holds());
        kit.createTestProbe().awaitAssert(TIMEOUT, () -> {
            assertEquals(0, QuotaLedger.bytesUnder(root), "bytes left on disk");
            return null;
        });
        kit.stop(store);
    }

    /** One upload: an archive, or a weights file (sent alone, so finishing it refuses, or stores it without a config). */
    private CompletableFuture<Stored> upload(ActorRef<BlobProtocol.Command> store, boolean archive, byte[] bytes) throws Exception {
        String id = this.<BlobProtocol.UploadOpened>ask(store, r -> new BlobProtocol.BeginUpload(ACME, 512L << 20, r)).uploadId();
        if (!archive) {
            FileSink config = this.<FileSink>ask(store, r -> new BlobProtocol.PutFile(id, ContentHash.CONFIG_FILE, r));
            send(config, new byte[] {'{', '}'}).toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
        FileSink sink = archive ? this.<FileSink>ask(store, r -> new BlobProtocol.PutArchive(id, true, r))
                : this.<FileSink>ask(store, r -> new BlobProtocol.PutFile(id, ContentHash.WEIGHTS_FILE, r));
        return send(sink, bytes).handle((done, failure) -> null)
                .thenCompose(sent -> AskPattern.<BlobProtocol.Command, Stored>ask(store, r -> new BlobProtocol.Finish(id, r),
                        TIMEOUT, kit.system().scheduler()))
                .toCompletableFuture();
    }

    private static CompletionStage<org.apache.pekko.Done> send(FileSink sink, byte[] bytes) {
        assertNotNull(sink.sink(), sink.error());
        List<ByteString> chunks = new ArrayList<>();
        for (int i = 0; i < bytes.length; i += 64 * 1024) {
            chunks.add(ByteString.fromArray(bytes, i, Math.min(64 * 1024, bytes.length - i)));
        }
        return Source.from(chunks).watchTermination(Keep.right()).to(sink.sink().getSink()).run(kit.system());
    }

    private <R> R ask(ActorRef<BlobProtocol.Command> store, java.util.function.Function<ActorRef<R>, BlobProtocol.Command> message)
            throws Exception {
        return AskPattern.<BlobProtocol.Command, R>ask(store, message::apply, TIMEOUT, kit.system().scheduler())
                .toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
}
