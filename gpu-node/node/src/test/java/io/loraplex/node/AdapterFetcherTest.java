package io.loraplex.node;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.engine.lora.AdapterException;
import io.loraplex.persistence.blob.BlobStore;
import io.loraplex.persistence.blob.BlobStoreActor;
import io.loraplex.persistence.blob.BlobStoreSettings;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fetching an adapter's files from other nodes' blob stores (system A's, seen from a fetcher in
 * system B): one transfer for concurrent callers, the next store after a failing or silent one.
 */
class AdapterFetcherTest {

    static final TenantId ACME = new TenantId("acme");
    static final byte[] CONFIG = "{\"r\": 4}".getBytes(StandardCharsets.UTF_8);

    /** A holds the stores; B fetches. */
    static ActorTestKit kit;
    static ActorTestKit fetcherSide;

    @TempDir
    Path dir;
    Path nodeRoot;
    AdapterRef ref;
    byte[] weights;
    ActorRef<BlobProtocol.Command> store;

    @BeforeAll
    static void start() {
        kit = ActorTestKit.create("fetcher-test", ConfigFactory.load("application-test.conf"));
        Cluster.get(kit.system()).manager().tell(Join.create(Cluster.get(kit.system()).selfMember().address()));
        fetcherSide = ActorTestKit.create("fetcher-test", ConfigFactory.load("application-test.conf"));
        Cluster.get(fetcherSide.system()).manager().tell(Join.create(Cluster.get(kit.system()).selfMember().address()));
        fetcherSide.createTestProbe().awaitAssert(Duration.ofSeconds(20), () -> {
            assertEquals(MemberStatus.up(), Cluster.get(fetcherSide.system()).selfMember().status());
            return null;
        });
    }

    @AfterAll
    static void stop() {
        fetcherSide.shutdownTestKit();
        kit.shutdownTestKit();
    }

    /** {@code ref} (an actor of A) as B addresses it: over the wire. */
    static ActorRef<BlobProtocol.Command> remote(ActorRef<BlobProtocol.Command> ref) {
        return ActorRefResolver.get(fetcherSide.system())
                .resolveActorRef(ActorRefResolver.get(kit.system()).toSerializationFormat(ref));
    }

    @BeforeEach
    void storeOneBlob() throws Exception {
        weights = new byte[200_000];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = (byte) (i * 31);
        }
        ContentHash hash = ContentHash.of(CONFIG, weights);
        Path storeRoot = dir.resolve("store");
        Path blob = storeRoot.resolve("acme").resolve(hash.hex());
        Files.createDirectories(blob);
        Files.write(blob.resolve(ContentHash.CONFIG_FILE), CONFIG);
        Files.write(blob.resolve(ContentHash.WEIGHTS_FILE), weights);
        store = kit.spawn(BlobStoreActor.create(new BlobStore(storeRoot), new BlobStoreSettings(storeRoot, Duration.ofMinutes(5)), false));
        ref = new AdapterRef(ACME, "cafe", 1, hash);
        nodeRoot = dir.resolve("node");
    }

    /** Holds each read back a while, so callers overlap, and counts them. */
    static Behavior<BlobProtocol.Command> slowCounting(ActorRef<BlobProtocol.Command> real, AtomicInteger reads) {
        return Behaviors.setup(ctx -> Behaviors.receiveMessage(command -> {
            reads.incrementAndGet();
            ctx.scheduleOnce(Duration.ofMillis(300), real, command);
            return Behaviors.same();
        }));
    }

    static Behavior<BlobProtocol.Command> refusing() {
        return Behaviors.receiveMessage(command -> {
            if (command instanceof BlobProtocol.ReadBlob read) {
                read.replyTo().tell(new BlobProtocol.BlobRead(read.hash(), null, 0, null, 0, "refused by the test"));
            }
            return Behaviors.same();
        });
    }

    AdapterFetcher fetcher(Duration timeout, Set<ActorRef<BlobProtocol.Command>> sources) {
        AdapterFetcher fetcher = new AdapterFetcher(fetcherSide.system(), new AdapterStore(nodeRoot), timeout);
        Set<ActorRef<BlobProtocol.Command>> remote = new java.util.HashSet<>();
        sources.forEach(source -> remote.add(remote(source)));
        fetcher.useSources(remote);
        return fetcher;
    }

    @Test
    void concurrentFetchesOfOneVersionShareOneTransfer() throws Exception {
        AtomicInteger reads = new AtomicInteger();
        AdapterFetcher fetcher = fetcher(Duration.ofSeconds(20), Set.of(kit.spawn(slowCounting(store, reads))));
        List<CompletableFuture<Path>> callers = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            CompletableFuture<Path> caller = new CompletableFuture<>();
            Thread.ofVirtual().start(() -> {
                try {
                    caller.complete(fetcher.ensure(ref));
                } catch (AdapterException e) {
                    caller.completeExceptionally(e);
                }
            });
            callers.add(caller);
        }
        Path expected = nodeRoot.resolve("acme").resolve(ref.contentHash().hex());
        for (CompletableFuture<Path> caller : callers) {
            assertEquals(expected, caller.get(30, TimeUnit.SECONDS));
        }
        assertEquals(1, reads.get(), "one transfer for all four callers");
        assertArrayEquals(CONFIG, Files.readAllBytes(expected.resolve(ContentHash.CONFIG_FILE)));
        assertArrayEquals(weights, Files.readAllBytes(expected.resolve(ContentHash.WEIGHTS_FILE)));
        assertNoTemporaryFiles();
        // there now: no transfer at all
        assertEquals(expected, fetcher.ensure(ref));
        assertEquals(1, reads.get());
    }

    @Test
    void storesThatRefuseOrStaySilentAreFollowedByTheNext() throws Exception {
        AdapterFetcher fetcher = fetcher(Duration.ofSeconds(3), Set.of(kit.spawn(Behaviors.ignore()), kit.spawn(refusing()), store));
        Path fetched = fetcher.ensure(ref);
        assertEquals(ref.contentHash(), ContentHash.ofDirectory(fetched));
        assertNoTemporaryFiles();
    }

    @Test
    void whenNoStoreProvidesItTheErrorSaysWhyForEach() throws Exception {
        AdapterFetcher fetcher = fetcher(Duration.ofMillis(1500), Set.of(kit.spawn(Behaviors.ignore()), kit.spawn(refusing())));
        AdapterException e = assertThrows(AdapterException.class, () -> fetcher.ensure(ref));
        assertEquals(AdapterException.Reason.NOT_FOUND, e.reason());
        assertTrue(e.getMessage().startsWith("adapter cafe (version 1, " + ref.contentHash() + ") is not on this node and could not "
                + "be fetched"), e.getMessage());
        assertTrue(e.getMessage().contains("refused by the test"), e.getMessage());
        assertTrue(e.getMessage().contains("no answer in time"), e.getMessage());
        assertFalse(Files.exists(nodeRoot.resolve("acme").resolve(ref.contentHash().hex())));
        assertNoTemporaryFiles();

        AdapterException none = assertThrows(AdapterException.class, () -> fetcher(Duration.ofMillis(1500), Set.of()).ensure(ref));
        assertTrue(none.getMessage().contains("no other node's blob store is known"), none.getMessage());
    }

    void assertNoTemporaryFiles() throws Exception {
        Path temp = nodeRoot.resolve(AdapterStore.TEMP);
        if (Files.isDirectory(temp)) {
            try (Stream<Path> left = Files.list(temp)) {
                assertEquals(List.of(), left.toList(), "temporary files left behind");
            }
        }
    }
}
