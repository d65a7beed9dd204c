package io.loraplex.node;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.batch.Engine;
import io.loraplex.engine.batch.EngineSettings;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.TinyModel;
import io.loraplex.persistence.blob.BlobStore;
import io.loraplex.persistence.blob.BlobStoreActor;
import io.loraplex.persistence.blob.BlobStoreSettings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two clustered actor systems on loopback in one JVM: A a router (its blob store holds the
 * adapters), B a GPU node with an empty adapter root and its own read-only store. B serves a
 * request naming an adapter only A holds by streaming it over and checking its hash; a corrupt copy
 * at A is refused and leaves nothing behind; drained and idle, B leaves the cluster.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AdapterFetchTest {

    static final TenantId ACME = new TenantId("acme");

    @TempDir
    static Path dir;
    static ActorTestKit routerSide;
    static ActorTestKit nodeSide;
    static ServedModel model;
    static Backend backend;
    static Engine engine;
    static ActorRef<GpuNodeProtocol.Command> node;
    static Path rootA;
    static Path rootB;

    static Config config(String role) {
        return ConfigFactory.parseString("pekko.cluster.roles = [" + role + "]").withFallback(ConfigFactory.load("application-test.conf"));
    }

    @BeforeAll
    static void start() throws Exception {
        Path modelDir = dir.resolve("model");
        TinyModel.write(modelDir, new TinyModel.Spec(Architecture.LLAMA, 64, 2, 4, 2, null, 160, 600, DType.F32, null, null, 256,
                null, 0, null, null, 1, 11));
        model = ServedModel.load(modelDir, "tiny");
        backend = Backends.create(Backends.CPU, model.model(), 2);
        engine = new Engine(backend, model.tokenizer(), model.eosIds(), EngineSettings.defaults().withMemoryBudgetBytes(64L << 20));
        rootA = dir.resolve("router-blobs");
        rootB = dir.resolve("node-blobs");

        routerSide = ActorTestKit.create("fetch-test", config("router"));
        Cluster.get(routerSide.system()).manager().tell(Join.create(Cluster.get(routerSide.system()).selfMember().address()));
        routerSide.spawn(BlobStoreActor.create(new BlobStore(rootA), new BlobStoreSettings(rootA, Duration.ofMinutes(5))), "blob-store");

        nodeSide = ActorTestKit.create("fetch-test", config("gpu-node"));
        Cluster.get(nodeSide.system()).manager().tell(Join.create(Cluster.get(routerSide.system()).selfMember().address()));
        nodeSide.spawn(BlobStoreActor.create(new BlobStore(rootB), new BlobStoreSettings(rootB, Duration.ofMinutes(5)), false),
                "blob-store");
        nodeSide.spawn(GpuNode.create(new NodeId("gpu-b"), model, engine, new AdapterStore(rootB),
                new NodeSettings("gpu-b", "tiny", 64, 256, 8, rootB, 1, Duration.ofSeconds(20))), "gpu-node");
        awaitSources(2);
        node = nodeAsTheRouterSeesIt();
    }

    /** The GPU node's ref as system A resolves it: every message to it goes over the wire. */
    static ActorRef<GpuNodeProtocol.Command> nodeAsTheRouterSeesIt() {
        TestProbe<Receptionist.Listing> probe = routerSide.createTestProbe();
        List<ActorRef<GpuNodeProtocol.Command>> found = new ArrayList<>();
        probe.awaitAssert(Duration.ofSeconds(30), () -> {
            routerSide.system().receptionist().tell(Receptionist.find(GpuNodeProtocol.SERVICE_KEY, probe.getRef()));
            found.clear();
            found.addAll(probe.receiveMessage().getServiceInstances(GpuNodeProtocol.SERVICE_KEY));
            assertEquals(1, found.size());
            return null;
        });
        return found.getFirst();
    }

    @AfterAll
    static void stop() {
        if (nodeSide != null) {
            nodeSide.shutdownTestKit();
        }
        routerSide.shutdownTestKit();
        engine.close();
        backend.close();
        model.close();
    }

    /** Until B's receptionist lists both stores (its own and A's) as sources. */
    static void awaitSources(int count) {
        TestProbe<Receptionist.Listing> probe = nodeSide.createTestProbe();
        probe.awaitAssert(Duration.ofSeconds(30), () -> {
            nodeSide.system().receptionist().tell(Receptionist.find(BlobProtocol.SOURCE_KEY, probe.getRef()));
            assertEquals(count, probe.receiveMessage().getServiceInstances(BlobProtocol.SOURCE_KEY).size());
            return null;
        });
    }

    /** A random adapter stored only in A's blob store (as an upload would leave it). */
    static AdapterRef storeAtRouter(String name, long seed) throws Exception {
        Path staged = dir.resolve(name + "-staged");
        AdapterWriter.writeRandom(staged, model.model().config(), EnumSet.allOf(TargetModule.class), 8, 16, false, DType.F32, seed);
        ContentHash hash = ContentHash.ofDirectory(staged);
        Path target = rootA.resolve("acme").resolve(hash.hex());
        Files.createDirectories(target.getParent());
        Files.move(staged, target);
        return new AdapterRef(ACME, name, 1, hash);
    }

    static GpuNodeProtocol.Started generate(String id, AdapterRef adapter) {
        TestProbe<GpuNodeProtocol.GenerateReply> probe = routerSide.createTestProbe();
        node.tell(new GpuNodeProtocol.Generate(id, ACME, adapter, new GpuNodeProtocol.TextPrompt("Once upon a time"),
                GpuNodeTest.greedy(6), probe.getRef()));
        GpuNodeProtocol.GenerateReply reply = probe.receiveMessage(Duration.ofSeconds(30));
        return assertInstanceOf(GpuNodeProtocol.Started.class, reply, reply.toString());
    }

    static GpuNodeProtocol.TokenEvent last(GpuNodeProtocol.Started started) throws Exception {
        return GpuNodeTest.collect(routerSide.system(), started).getLast();
    }

    @Test
    void aNodeServesAnAdapterOnlyTheRoutersStoreHoldsAfterFetchingAndCheckingIt() throws Exception {
        AdapterRef remote = storeAtRouter("remote", 61);
        Path fetched = rootB.resolve("acme").resolve(remote.contentHash().hex());
        assertFalse(Files.exists(fetched));

        // two requests at once: one transfer, both served
        GpuNodeProtocol.Started first = generate("f1", remote);
        GpuNodeProtocol.Started second = generate("f2", remote);
        assertEquals(GpuNodeProtocol.AdapterTier.COLD, first.adapterTier());
        GpuNodeProtocol.Finished done = assertInstanceOf(GpuNodeProtocol.Finished.class, last(first));
        assertEquals(6, done.completionTokens());
        assertInstanceOf(GpuNodeProtocol.Finished.class, last(second));

        Path original = rootA.resolve("acme").resolve(remote.contentHash().hex());
        for (String file : List.of(ContentHash.CONFIG_FILE, ContentHash.WEIGHTS_FILE)) {
            assertArrayEquals(Files.readAllBytes(original.resolve(file)), Files.readAllBytes(fetched.resolve(file)), file);
        }
        assertEquals(remote.contentHash(), ContentHash.ofDirectory(fetched));
        assertNoTemporaryFiles();
        GpuNodeProtocol.Started again = generate("f3", remote);
        assertEquals(GpuNodeProtocol.AdapterTier.HOT, again.adapterTier());
        assertInstanceOf(GpuNodeProtocol.Finished.class, last(again));
    }

    @Test
    void onASharedFilesystemTheNodeReadsTheCopyAlreadyThereWithoutFetching() throws Exception {
        // a shared filesystem: another machine wrote the version under B's adapter root; no store in the cluster has it
        AdapterRef shared = storeAtRouter("shared", 51);
        Path there = rootB.resolve("acme").resolve(shared.contentHash().hex());
        Files.createDirectories(there.getParent());
        Files.move(rootA.resolve("acme").resolve(shared.contentHash().hex()), there);
        GpuNodeProtocol.Started started = generate("s1", shared);
        assertEquals(GpuNodeProtocol.AdapterTier.COLD, started.adapterTier());
        assertInstanceOf(GpuNodeProtocol.Finished.class, last(started));
        assertFalse(Files.exists(rootA.resolve("acme").resolve(shared.contentHash().hex())), "nothing was copied back to A");
    }

    @Test
    void aCorruptCopyAtTheSourceIsRefusedAndNothingStays() throws Exception {
        AdapterRef corrupt = storeAtRouter("corrupt", 71);
        Path weights = rootA.resolve("acme").resolve(corrupt.contentHash().hex()).resolve(ContentHash.WEIGHTS_FILE);
        byte[] bytes = Files.readAllBytes(weights);
        bytes[bytes.length - 1] ^= 0x01; // still a well-formed adapter: only the hash tells
        Files.write(weights, bytes);
        ContentHash actual = ContentHash.ofDirectory(weights.getParent());

        GpuNodeProtocol.Failed failed = assertInstanceOf(GpuNodeProtocol.Failed.class, last(generate("c1", corrupt)));
        assertTrue(failed.message().contains("hash to " + actual) && failed.message().contains("not to the expected "
                + corrupt.contentHash()), failed.message());
        assertFalse(Files.exists(rootB.resolve("acme").resolve(corrupt.contentHash().hex())), "nothing stored under the hash");
        assertNoTemporaryFiles();

        TestProbe<GpuNodeProtocol.Validation> verdict = routerSide.createTestProbe();
        node.tell(new GpuNodeProtocol.ValidateAdapter(corrupt, verdict.getRef()));
        GpuNodeProtocol.Validation v = verdict.receiveMessage(Duration.ofSeconds(30));
        assertFalse(v.valid());
        assertTrue(v.reason().contains("hash to " + actual), v.reason());

        // the failure was that request's alone: the node serves others
        assertInstanceOf(GpuNodeProtocol.Finished.class, last(generate("c2", null)));
    }

    @Test
    void loadAndValidateFetchToo() throws Exception {
        AdapterRef preloaded = storeAtRouter("preloaded", 81);
        TestProbe<GpuNodeProtocol.Ack> ack = routerSide.createTestProbe();
        node.tell(new GpuNodeProtocol.PinAdapter(preloaded, true, ack.getRef()));
        GpuNodeProtocol.Ack pinned = ack.receiveMessage(Duration.ofSeconds(30));
        assertTrue(pinned.ok(), pinned.message());
        assertTrue(Files.isDirectory(rootB.resolve("acme").resolve(preloaded.contentHash().hex())));
        GpuNodeProtocol.Started hot = generate("p1", preloaded);
        assertEquals(GpuNodeProtocol.AdapterTier.HOT, hot.adapterTier());
        assertInstanceOf(GpuNodeProtocol.Finished.class, last(hot));

        AdapterRef validated = storeAtRouter("validated", 91);
        TestProbe<GpuNodeProtocol.Validation> verdict = routerSide.createTestProbe();
        node.tell(new GpuNodeProtocol.ValidateAdapter(validated, verdict.getRef()));
        GpuNodeProtocol.Validation v = verdict.receiveMessage(Duration.ofSeconds(30));
        assertTrue(v.valid(), v.reason());
        assertEquals(8, v.maxRank());

        AdapterRef nowhere = new AdapterRef(ACME, "nowhere", 1, ContentHash.parse("ef".repeat(32)));
        node.tell(new GpuNodeProtocol.LoadAdapter(nowhere, false, ack.getRef()));
        GpuNodeProtocol.Ack missing = ack.receiveMessage(Duration.ofSeconds(30));
        assertFalse(missing.ok());
        assertTrue(missing.message().contains("blob acme/" + nowhere.contentHash() + " is not in this store"), missing.message());
    }

    /** Last: the node is gone afterwards. */
    @Test
    @Order(Integer.MAX_VALUE)
    void drainedAndIdleTheNodeLeavesTheCluster() throws Exception {
        TestProbe<GpuNodeProtocol.Ack> ack = routerSide.createTestProbe();
        node.tell(new GpuNodeProtocol.Leave(ack.getRef()));
        assertTrue(ack.receiveMessage(Duration.ofSeconds(10)).message().contains("is not draining"));
        node.tell(new GpuNodeProtocol.SetDraining(true, ack.getRef()));
        assertTrue(ack.receiveMessage(Duration.ofSeconds(10)).ok());
        node.tell(new GpuNodeProtocol.Leave(ack.getRef()));
        GpuNodeProtocol.Ack leaving = ack.receiveMessage(Duration.ofSeconds(10));
        assertTrue(leaving.ok(), leaving.message());
        var nodeAddress = Cluster.get(nodeSide.system()).selfMember().address();
        nodeSide.system().getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        routerSide.createTestProbe().awaitAssert(Duration.ofSeconds(20), () -> {
            List<MemberStatus> left = new ArrayList<>();
            Cluster.get(routerSide.system()).state().getMembers().forEach(m -> {
                if (m.address().equals(nodeAddress)) {
                    left.add(m.status());
                }
            });
            assertEquals(List.of(), left, "the node is no longer a member");
            return null;
        });
        nodeSide = null;
    }

    static void assertNoTemporaryFiles() throws Exception {
        Path temp = rootB.resolve(".tmp");
        if (Files.isDirectory(temp)) {
            try (Stream<Path> left = Files.list(temp)) {
                assertEquals(List.of(), left.toList(), "temporary files left in the node's adapter root");
            }
        }
    }
}
