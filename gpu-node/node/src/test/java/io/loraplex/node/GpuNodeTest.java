package io.loraplex.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.batch.Engine;
import io.loraplex.engine.batch.EngineSettings;
import io.loraplex.engine.batch.EngineStats;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.TinyModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.SinkQueueWithCancel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The GPU node actor over a real engine and a generated model, with every message serialized. */
class GpuNodeTest {

    @TempDir
    static Path dir;
    static ActorTestKit testKit;
    static ServedModel model;
    static Backend backend;
    static Engine engine;
    static ActorRef<GpuNodeProtocol.Command> node;
    static AdapterRef cafe;
    static final TenantId ACME = new TenantId("acme");

    /** Both roles, as the embedded default: a drained node here refuses to leave. */
    static Config config() {
        return ConfigFactory.parseString("pekko.cluster.roles = [router, gpu-node]").withFallback(ConfigFactory.load("application-test.conf"));
    }

    @BeforeAll
    static void start() throws Exception {
        Path modelDir = dir.resolve("model");
        TinyModel.write(modelDir, new TinyModel.Spec(Architecture.LLAMA, 64, 2, 4, 2, null, 160, 600, DType.F32, null, null, 256,
                null, 0, null, null, 1, 11));
        model = ServedModel.load(modelDir, "tiny");
        backend = Backends.create(Backends.CPU, model.model(), 2);
        engine = new Engine(backend, model.tokenizer(), model.eosIds(), EngineSettings.defaults().withMemoryBudgetBytes(64L << 20));
        Path adapterRoot = dir.resolve("blobs");
        Path staged = dir.resolve("staged");
        AdapterWriter.writeRandom(staged, model.model().config(), EnumSet.allOf(TargetModule.class), 8, 16, false, DType.F32, 3);
        ContentHash hash = ContentHash.ofDirectory(staged);
        Path target = adapterRoot.resolve("acme").resolve(hash.hex());
        Files.createDirectories(target.getParent());
        Files.move(staged, target);
        cafe = new AdapterRef(ACME, "cafe", 1, hash);
        testKit = ActorTestKit.create("node-test", config());
        Cluster.get(testKit.system()).manager().tell(Join.create(Cluster.get(testKit.system()).selfMember().address()));
        node = testKit.spawn(GpuNode.create(new NodeId("node-a"), model, engine, new AdapterStore(adapterRoot),
                new NodeSettings("node-a", "tiny", 64, 256, 8, adapterRoot)), "gpu-node");
    }

    @AfterAll
    static void stop() {
        testKit.shutdownTestKit();
        engine.close();
        backend.close();
        model.close();
    }

    static GpuNodeProtocol.GenerationParams greedy(int maxTokens) {
        return new GpuNodeProtocol.GenerationParams(0.0, null, null, null, null, null, null, Map.of(), null, maxTokens, List.of(),
                true, false, 0, 0, 0, 1.0);
    }

    static GpuNodeProtocol.GenerateReply generate(ActorSystem<?> system, ActorRef<GpuNodeProtocol.Command> target, String id,
            AdapterRef adapter, GpuNodeProtocol.Prompt prompt, GpuNodeProtocol.GenerationParams params) {
        TestProbe<GpuNodeProtocol.GenerateReply> probe = TestProbe.create(system);
        target.tell(new GpuNodeProtocol.Generate(id, ACME, adapter, prompt, params, probe.getRef()));
        return probe.receiveMessage(Duration.ofSeconds(30));
    }

    static List<GpuNodeProtocol.TokenEvent> collect(ActorSystem<?> system, GpuNodeProtocol.GenerateReply reply) throws Exception {
        GpuNodeProtocol.Started started = assertInstanceOf(GpuNodeProtocol.Started.class, reply, reply.toString());
        return started.tokens().getSource().runWith(Sink.seq(), system).toCompletableFuture().get(60, TimeUnit.SECONDS);
    }

    static String text(List<GpuNodeProtocol.TokenEvent> events) {
        StringBuilder sb = new StringBuilder();
        for (GpuNodeProtocol.TokenEvent e : events) {
            if (e instanceof GpuNodeProtocol.TokenText t) {
                sb.append(t.text());
            } else if (e instanceof GpuNodeProtocol.Finished f) {
                sb.append(f.text());
            }
        }
        return sb.toString();
    }

    @Test
    void generatesAChatCompletionThroughTheProtocol() throws Exception {
        var prompt = new GpuNodeProtocol.ChatPrompt(List.of(new GpuNodeProtocol.ChatMessage("user", "How much is an Americano?")));
        List<GpuNodeProtocol.TokenEvent> events = collect(testKit.system(), generate(testKit.system(), node, "r1", null, prompt, greedy(12)));
        GpuNodeProtocol.Finished done = assertInstanceOf(GpuNodeProtocol.Finished.class, events.getLast());
        assertEquals(GpuNodeProtocol.FinishReason.LENGTH, done.finishReason());
        assertEquals(12, done.completionTokens());
        assertEquals(12, events.size() - 1, "one text event per token");
        // the same request again: the same greedy text (and now with the adapter: a different one)
        String again = text(collect(testKit.system(), generate(testKit.system(), node, "r2", null, prompt, greedy(12))));
        assertEquals(text(events), again);
        String adapted = text(collect(testKit.system(), generate(testKit.system(), node, "r3", cafe, prompt, greedy(12))));
        assertFalse(adapted.equals(again), "the adapter changes the output");
    }

    @Test
    void streamsAcrossTwoActorSystemsOnLoopback() throws Exception {
        ActorSystem<Void> other = ActorSystem.create(Behaviors.empty(), "node-test", config());
        try {
            Cluster.get(other).manager().tell(Join.create(Cluster.get(testKit.system()).selfMember().address()));
            TestProbe<Receptionist.Listing> listing = TestProbe.create(other);
            ActorRef<GpuNodeProtocol.Command> remote = null;
            long until = System.nanoTime() + 30_000_000_000L;
            while (remote == null && System.nanoTime() < until) {
                other.receptionist().tell(Receptionist.find(GpuNodeProtocol.SERVICE_KEY, listing.getRef()));
                var found = listing.receiveMessage(Duration.ofSeconds(10)).getServiceInstances(GpuNodeProtocol.SERVICE_KEY);
                remote = found.isEmpty() ? null : found.iterator().next();
                if (remote == null) {
                    Thread.sleep(200);
                }
            }
            assertTrue(remote != null, "the other system finds the GPU node through the receptionist");
            assertFalse(remote.path().address().equals(Cluster.get(other).selfMember().address()), "the node is in the other JVM's system");
            var prompt = new GpuNodeProtocol.TextPrompt("Once upon a time");
            List<GpuNodeProtocol.TokenEvent> local = collect(testKit.system(), generate(testKit.system(), node, "l1", cafe, prompt, greedy(10)));
            List<GpuNodeProtocol.TokenEvent> overWire = collect(other, generate(other, remote, "w1", cafe, prompt, greedy(10)));
            assertEquals(text(local), text(overWire), "tokens streamed through a StreamRef across systems equal the local ones");
            assertEquals(11, overWire.size());
        } finally {
            ActorTestKit.shutdown(other);
        }
    }

    @Test
    void cancellingTheStreamFreesTheRequestsBlocks() throws Exception {
        EngineStats before = awaitIdle();
        int available = before.freePages() + before.idleCachedBlocks();
        GpuNodeProtocol.Started started = assertInstanceOf(GpuNodeProtocol.Started.class,
                generate(testKit.system(), node, "c1", null, new GpuNodeProtocol.TextPrompt("a b c d e f g h"), greedy(200)));
        started.tokens().getSource().take(3).runWith(Sink.seq(), testKit.system()).toCompletableFuture().get(30, TimeUnit.SECONDS);
        EngineStats after = awaitIdle();
        assertEquals(available, after.freePages() + after.idleCachedBlocks(), "blocks back after the reader went away: " + after);
        assertTrue(after.generatedTokens() - before.generatedTokens() < 100, "the generation stopped early");
    }

    @Test
    void aSlowReaderPausesTheGeneration() throws Exception {
        GpuNodeProtocol.Started started = assertInstanceOf(GpuNodeProtocol.Started.class,
                generate(testKit.system(), node, "slow", null, new GpuNodeProtocol.TextPrompt("pause me"), greedy(220)));
        long generatedBefore = engine.stats().generatedTokens();
        SinkQueueWithCancel<GpuNodeProtocol.TokenEvent> reader = started.tokens().getSource()
                .runWith(Sink.queue(1), testKit.system());
        reader.pull().toCompletableFuture().get(30, TimeUnit.SECONDS);
        Thread.sleep(500); // the engine would finish 220 tokens of this model in far less
        long ahead = engine.stats().generatedTokens() - generatedBefore;
        Thread.sleep(300);
        long later = engine.stats().generatedTokens() - generatedBefore;
        // the node's buffer, the stream ref's (32) and the stages' between them: well short of the end
        assertTrue(ahead < 120, "the engine ran only the buffers ahead of the reader, not to the end: " + ahead);
        assertEquals(ahead, later, "while the reader waits, the paused request makes no progress");
        int events = 1;
        while (true) {
            Optional<GpuNodeProtocol.TokenEvent> e = reader.pull().toCompletableFuture().get(30, TimeUnit.SECONDS);
            if (e.isEmpty()) {
                break;
            }
            events++;
        }
        assertEquals(221, events, "all 220 tokens and the finish arrived once the reader caught up");
    }

    @Test
    void refusesWithReasonsAndParameters() {
        GpuNodeProtocol.Rejected context = assertInstanceOf(GpuNodeProtocol.Rejected.class,
                generate(testKit.system(), node, "x1", null, new GpuNodeProtocol.TextPrompt("hi"), greedy(10_000)));
        assertEquals(GpuNodeProtocol.RejectReason.CONTEXT_LENGTH_EXCEEDED, context.reason());
        assertEquals("max_tokens", context.param());
        assertTrue(context.message().contains("maximum context length is 256"), context.message());

        AdapterRef missing = new AdapterRef(ACME, "gone", 1, ContentHash.parse("ee".repeat(32)));
        GpuNodeProtocol.Rejected adapter = assertInstanceOf(GpuNodeProtocol.Rejected.class,
                generate(testKit.system(), node, "x2", missing, new GpuNodeProtocol.TextPrompt("hi"), greedy(5)));
        assertEquals(GpuNodeProtocol.RejectReason.ADAPTER_NOT_FOUND, adapter.reason());

        AdapterRef otherBase = new AdapterRef(ACME, "cafe", 1, cafe.contentHash(), "0".repeat(64) + ":" + "0".repeat(64));
        GpuNodeProtocol.Rejected base = assertInstanceOf(GpuNodeProtocol.Rejected.class,
                generate(testKit.system(), node, "x2b", otherBase, new GpuNodeProtocol.TextPrompt("hi"), greedy(5)));
        assertTrue(base.message().contains("another base model"), base.message());

        var hot = new GpuNodeProtocol.GenerationParams(-1.0, null, null, null, null, null, null, Map.of(), null, 5, List.of(),
                false, false, 0, 0, 0, 1.0);
        GpuNodeProtocol.Rejected temperature = assertInstanceOf(GpuNodeProtocol.Rejected.class,
                generate(testKit.system(), node, "x3", null, new GpuNodeProtocol.TextPrompt("hi"), hot));
        assertEquals(GpuNodeProtocol.RejectReason.INVALID_REQUEST, temperature.reason());
        assertEquals("temperature", temperature.param());

        GpuNodeProtocol.Rejected empty = assertInstanceOf(GpuNodeProtocol.Rejected.class,
                generate(testKit.system(), node, "x4", null, new GpuNodeProtocol.ChatPrompt(List.of()), greedy(5)));
        assertEquals("messages", empty.param());
    }

    @Test
    void aJsonSchemaConstraintIsEnforcedAndAnUnsupportedKeywordRefusedNamingResponseFormat() throws Exception {
        String schema = "{\"type\":\"object\",\"properties\":{\"ok\":{\"type\":\"boolean\"},\"size\":{\"enum\":[\"S\",\"M\"]}},"
                + "\"required\":[\"ok\",\"size\"],\"additionalProperties\":false}";
        var constrained = greedy(60).withConstraint(new GpuNodeProtocol.OutputConstraint(GpuNodeProtocol.OutputConstraint.Kind.JSON_SCHEMA,
                schema));
        List<GpuNodeProtocol.TokenEvent> events = collect(testKit.system(),
                generate(testKit.system(), node, "j1", null, new GpuNodeProtocol.TextPrompt("JSON please:"), constrained));
        String text = text(events);
        assertTrue(text.equals("{\"ok\":true,\"size\":\"S\"}") || text.equals("{\"ok\":true,\"size\":\"M\"}")
                || text.equals("{\"ok\":false,\"size\":\"S\"}") || text.equals("{\"ok\":false,\"size\":\"M\"}"), text);
        assertEquals(GpuNodeProtocol.FinishReason.STOP, ((GpuNodeProtocol.Finished) events.getLast()).finishReason());

        var unsupported = greedy(5).withConstraint(new GpuNodeProtocol.OutputConstraint(GpuNodeProtocol.OutputConstraint.Kind.JSON_SCHEMA,
                "{\"type\":\"string\",\"format\":\"email\"}"));
        GpuNodeProtocol.Rejected refused = assertInstanceOf(GpuNodeProtocol.Rejected.class,
                generate(testKit.system(), node, "j2", null, new GpuNodeProtocol.TextPrompt("hi"), unsupported));
        assertEquals(GpuNodeProtocol.RejectReason.INVALID_REQUEST, refused.reason());
        assertEquals("response_format", refused.param());
        assertTrue(refused.message().startsWith("the schema keyword 'format' (at $) is not supported"), refused.message());
    }

    @Test
    void aRefusalCarriesTheParameterAndCodeOfTheEnginesTypedRefusal() {
        // the old node read the name off the message's first word: "stop", "logit_bias"; and it took a temperature of 5
        var stop = new GpuNodeProtocol.GenerationParams(null, null, null, null, null, null, null, Map.of(), null, 5,
                List.of("ok", ""), false, false, 0, 0, 0, 1.0);
        GpuNodeProtocol.Rejected emptyStop = assertInstanceOf(GpuNodeProtocol.Rejected.class,
                generate(testKit.system(), node, "p1", null, new GpuNodeProtocol.TextPrompt("hi"), stop));
        assertEquals(GpuNodeProtocol.RejectReason.INVALID_REQUEST, emptyStop.reason());
        assertEquals("stop[1]", emptyStop.param());
        assertEquals("stop[1] must be a non-empty string, got \"\"", emptyStop.message());

        var bias = new GpuNodeProtocol.GenerationParams(null, null, null, null, null, null, null, Map.of(9, 250.0), null, 5,
                List.of(), false, false, 0, 0, 0, 1.0);
        GpuNodeProtocol.Rejected badBias = assertInstanceOf(GpuNodeProtocol.Rejected.class,
                generate(testKit.system(), node, "p2", null, new GpuNodeProtocol.TextPrompt("hi"), bias));
        assertEquals("logit_bias.9", badBias.param());
        assertEquals("logit_bias for token 9 must be between -100 and 100, got 250.0", badBias.message());

        var five = new GpuNodeProtocol.GenerationParams(5.0, null, null, null, null, null, null, Map.of(), null, 5, List.of(),
                false, false, 0, 0, 0, 1.0);
        GpuNodeProtocol.Rejected hot = assertInstanceOf(GpuNodeProtocol.Rejected.class,
                generate(testKit.system(), node, "p3", null, new GpuNodeProtocol.TextPrompt("hi"), five));
        assertEquals(GpuNodeProtocol.RejectReason.INVALID_REQUEST, hot.reason());
        assertEquals("temperature", hot.param());
        assertEquals("temperature must be between 0 and 2 (0 = greedy), got 5.0", hot.message(), "the API's limit, not 100");

        GpuNodeProtocol.Rejected prompt = assertInstanceOf(GpuNodeProtocol.Rejected.class,
                generate(testKit.system(), node, "p4", null, new GpuNodeProtocol.TextPrompt("word ".repeat(400)), greedy(5)));
        assertEquals(GpuNodeProtocol.RejectReason.CONTEXT_LENGTH_EXCEEDED, prompt.reason());
        assertEquals("messages", prompt.param());
    }

    @Test
    void loadsEvictsAndReportsAdapters() {
        TestProbe<GpuNodeProtocol.Ack> ack = testKit.createTestProbe();
        node.tell(new GpuNodeProtocol.LoadAdapter(cafe, false, ack.getRef()));
        assertTrue(ack.receiveMessage(Duration.ofSeconds(30)).ok());
        TestProbe<GpuNodeProtocol.NodeStats> stats = testKit.createTestProbe();
        node.tell(new GpuNodeProtocol.GetStats(stats.getRef()));
        GpuNodeProtocol.NodeStats s = stats.receiveMessage();
        assertEquals("tiny", s.baseModel());
        assertTrue(s.hotAdapters().contains(cafe.contentHash().hex()), s.toString());
        node.tell(new GpuNodeProtocol.EvictAdapter(cafe.contentHash(), true, ack.getRef()));
        assertTrue(ack.receiveMessage(Duration.ofSeconds(30)).ok());
        node.tell(new GpuNodeProtocol.GetStats(stats.getRef()));
        assertFalse(stats.receiveMessage().hotAdapters().contains(cafe.contentHash().hex()));
    }

    @Test
    void validatesAdaptersAgainstItsBase() throws Exception {
        TestProbe<GpuNodeProtocol.Validation> verdict = testKit.createTestProbe();
        node.tell(new GpuNodeProtocol.ValidateAdapter(cafe, verdict.getRef()));
        GpuNodeProtocol.Validation ok = verdict.receiveMessage(Duration.ofSeconds(30));
        assertTrue(ok.valid(), ok.reason());
        assertEquals(8, ok.maxRank());
        // a version whose weights do not fit this base: wrong shapes
        Path staged = dir.resolve("wrong-staged");
        io.loraplex.engine.model.ModelConfig other = new io.loraplex.engine.model.ModelConfig(Architecture.LLAMA, 32, 64, 2, 4, 2,
                8, 600, 1e-5, 10000, null, 256, false, false, false, false, 0, java.util.Set.of(), DType.F32, null, List.of());
        AdapterWriter.writeRandom(staged, other, EnumSet.of(TargetModule.Q_PROJ), 4, 8, false, DType.F32, 9);
        ContentHash hash = ContentHash.ofDirectory(staged);
        Path target = dir.resolve("blobs/acme").resolve(hash.hex());
        Files.move(staged, target);
        node.tell(new GpuNodeProtocol.ValidateAdapter(new AdapterRef(ACME, "wrong", 1, hash), verdict.getRef()));
        GpuNodeProtocol.Validation bad = verdict.receiveMessage(Duration.ofSeconds(30));
        assertFalse(bad.valid());
        assertTrue(bad.reason().contains("shape"), bad.reason());
        node.tell(new GpuNodeProtocol.ValidateAdapter(new AdapterRef(ACME, "gone", 1, ContentHash.parse("ab".repeat(32))),
                verdict.getRef()));
        assertTrue(verdict.receiveMessage(Duration.ofSeconds(30)).reason().contains("not found"));
    }

    @Test
    void neverServesABlobWhoseBytesNoLongerMatchItsHash() throws Exception {
        Path staged = dir.resolve("tampered-staged");
        AdapterWriter.writeRandom(staged, model.model().config(), EnumSet.of(TargetModule.Q_PROJ), 4, 8, false, DType.F32, 21);
        ContentHash hash = ContentHash.ofDirectory(staged);
        Path target = dir.resolve("blobs/acme").resolve(hash.hex());
        Files.move(staged, target);
        // one byte of the weights flipped after the blob was stored: still a well-formed adapter
        Path weights = target.resolve(ContentHash.WEIGHTS_FILE);
        byte[] bytes = Files.readAllBytes(weights);
        bytes[bytes.length - 1] ^= 0x01;
        Files.write(weights, bytes);
        AdapterRef tampered = new AdapterRef(ACME, "tampered", 1, hash);

        TestProbe<GpuNodeProtocol.Validation> verdict = testKit.createTestProbe();
        node.tell(new GpuNodeProtocol.ValidateAdapter(tampered, verdict.getRef()));
        GpuNodeProtocol.Validation v = verdict.receiveMessage(Duration.ofSeconds(30));
        assertFalse(v.valid());
        assertTrue(v.reason().contains("not to the " + hash), v.reason());

        TestProbe<GpuNodeProtocol.Ack> ack = testKit.createTestProbe();
        node.tell(new GpuNodeProtocol.LoadAdapter(tampered, false, ack.getRef()));
        GpuNodeProtocol.Ack loaded = ack.receiveMessage(Duration.ofSeconds(30));
        assertFalse(loaded.ok());
        assertTrue(loaded.message().contains("hash to"), loaded.message());
    }

    @Test
    void aDrainingNodeRefusesNewRequestsFinishesRunningOnesAndStaysInARoutersJvm() throws Exception {
        awaitIdle();
        var prompt = new GpuNodeProtocol.TextPrompt("drain me");
        GpuNodeProtocol.Started running = assertInstanceOf(GpuNodeProtocol.Started.class,
                generate(testKit.system(), node, "d1", null, prompt, greedy(150)));
        TestProbe<GpuNodeProtocol.Ack> ack = testKit.createTestProbe();
        try {
            node.tell(new GpuNodeProtocol.SetDraining(true, ack.getRef()));
            assertTrue(ack.receiveMessage(Duration.ofSeconds(10)).ok());

            GpuNodeProtocol.Rejected refused = assertInstanceOf(GpuNodeProtocol.Rejected.class,
                    generate(testKit.system(), node, "d2", null, prompt, greedy(5)));
            assertEquals(GpuNodeProtocol.RejectReason.OVERLOADED, refused.reason());
            assertEquals("node node-a is draining and takes no new requests", refused.message());
            GpuNodeProtocol.NodeStats draining = stats();
            assertFalse(draining.ready());
            assertTrue(draining.draining());

            node.tell(new GpuNodeProtocol.Leave(ack.getRef()));
            GpuNodeProtocol.Ack busy = ack.receiveMessage(Duration.ofSeconds(10));
            assertFalse(busy.ok());
            assertTrue(busy.message().contains("still has 1 running"), busy.message());

            // the request that ran before the drain finishes normally
            List<GpuNodeProtocol.TokenEvent> events = started(running);
            GpuNodeProtocol.Finished done = assertInstanceOf(GpuNodeProtocol.Finished.class, events.getLast());
            assertEquals(150, done.completionTokens());
            awaitIdle();

            node.tell(new GpuNodeProtocol.Leave(ack.getRef()));
            GpuNodeProtocol.Ack stays = ack.receiveMessage(Duration.ofSeconds(10));
            assertFalse(stays.ok());
            assertEquals("node node-a shares its JVM with a router; it stays drained", stays.message());
        } finally {
            node.tell(new GpuNodeProtocol.SetDraining(false, ack.getRef()));
            assertTrue(ack.receiveMessage(Duration.ofSeconds(10)).ok());
        }
        GpuNodeProtocol.NodeStats undrained = stats();
        assertTrue(undrained.ready());
        assertFalse(undrained.draining());
        assertEquals(engine.settings().maxRunning(), undrained.capacity());
        assertInstanceOf(GpuNodeProtocol.Finished.class,
                collect(testKit.system(), generate(testKit.system(), node, "d3", null, prompt, greedy(3))).getLast());
        node.tell(new GpuNodeProtocol.Leave(ack.getRef()));
        GpuNodeProtocol.Ack notDraining = ack.receiveMessage(Duration.ofSeconds(10));
        assertFalse(notDraining.ok());
        assertTrue(notDraining.message().contains("is not draining"), notDraining.message());
    }

    @Test
    void reportsTheTierAnAdapterWasInWhenTheRequestArrived() throws Exception {
        AdapterRef tiered = storeAdapter("tiered", 31);
        var prompt = new GpuNodeProtocol.TextPrompt("tiers");
        assertNull(started(generate(testKit.system(), node, "t0", null, prompt, greedy(2))).adapterTier(), "no tier for the base");
        GpuNodeProtocol.Started cold = started(generate(testKit.system(), node, "t1", tiered, prompt, greedy(2)));
        assertEquals(GpuNodeProtocol.AdapterTier.COLD, cold.adapterTier());
        started(cold);
        awaitTier(tiered, "hot");
        assertEquals(GpuNodeProtocol.AdapterTier.HOT, started(generate(testKit.system(), node, "t2", tiered, prompt, greedy(2))).adapterTier());
        // evicted from the pool but kept in host memory: warm
        awaitIdle();
        TestProbe<GpuNodeProtocol.Ack> ack = testKit.createTestProbe();
        node.tell(new GpuNodeProtocol.EvictAdapter(tiered.contentHash(), false, ack.getRef()));
        assertTrue(ack.receiveMessage(Duration.ofSeconds(10)).ok());
        awaitTier(tiered, "warm");
        GpuNodeProtocol.HeldAdapter held = stats().adapters().stream().filter(h -> h.adapter().equals(tiered)).findFirst()
                .orElseThrow(() -> new AssertionError("the warm adapter is listed with its version"));
        assertEquals(GpuNodeProtocol.AdapterTier.WARM, held.tier());
        assertEquals(GpuNodeProtocol.AdapterTier.WARM, started(generate(testKit.system(), node, "t3", tiered, prompt, greedy(2))).adapterTier());
    }

    @Test
    void pinsAndUnpinsAnAdapter() throws Exception {
        AdapterRef pinned = storeAdapter("pinned", 41);
        TestProbe<GpuNodeProtocol.Ack> ack = testKit.createTestProbe();
        node.tell(new GpuNodeProtocol.PinAdapter(pinned, true, ack.getRef()));
        GpuNodeProtocol.Ack pinAck = ack.receiveMessage(Duration.ofSeconds(30));
        assertTrue(pinAck.ok(), pinAck.message());
        GpuNodeProtocol.HeldAdapter held = held(pinned).orElseThrow(() -> new AssertionError("pinned adapter not listed: " + stats()));
        assertEquals(new GpuNodeProtocol.HeldAdapter(pinned, GpuNodeProtocol.AdapterTier.HOT, true, 0), held);
        assertTrue(stats().hotAdapters().contains(pinned.contentHash().hex()));

        node.tell(new GpuNodeProtocol.PinAdapter(pinned, false, ack.getRef()));
        assertTrue(ack.receiveMessage(Duration.ofSeconds(10)).ok());
        assertEquals(new GpuNodeProtocol.HeldAdapter(pinned, GpuNodeProtocol.AdapterTier.HOT, false, 0), held(pinned).orElseThrow());
        // unpinned, it can go
        node.tell(new GpuNodeProtocol.EvictAdapter(pinned.contentHash(), true, ack.getRef()));
        assertTrue(ack.receiveMessage(Duration.ofSeconds(10)).ok());
        assertTrue(held(pinned).isEmpty());
    }

    @Test
    void dropEvictsEveryTierAndDeletesTheNodesCopy() throws Exception {
        AdapterRef doomed = storeAdapter("doomed", 51);
        Path files = dir.resolve("blobs/acme").resolve(doomed.contentHash().hex());
        var prompt = new GpuNodeProtocol.TextPrompt("last words");
        GpuNodeProtocol.Started inUse = started(generate(testKit.system(), node, "x-drop", doomed, prompt, greedy(60)));
        TestProbe<GpuNodeProtocol.Ack> ack = testKit.createTestProbe();
        node.tell(new GpuNodeProtocol.DropAdapter(ACME, doomed.contentHash(), ack.getRef()));
        // the running request keeps it until its end; then the drop completes
        assertInstanceOf(GpuNodeProtocol.Finished.class, started(inUse).getLast());
        GpuNodeProtocol.Ack dropped = ack.receiveMessage(Duration.ofSeconds(30));
        assertTrue(dropped.ok(), dropped.message());
        assertFalse(Files.exists(files), "the node's copy is deleted");
        assertTrue(held(doomed).isEmpty(), "no longer listed: " + stats());
        assertEquals("cold", engine.tierOf(doomed.contentHash()));
        // a drop of what the node never had is done as well
        node.tell(new GpuNodeProtocol.DropAdapter(ACME, ContentHash.parse("cd".repeat(32)), ack.getRef()));
        assertTrue(ack.receiveMessage(Duration.ofSeconds(10)).ok());
    }

    /** A fresh random adapter in the node's adapter root. */
    static AdapterRef storeAdapter(String name, long seed) throws Exception {
        Path staged = dir.resolve(name + "-staged");
        AdapterWriter.writeRandom(staged, model.model().config(), EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ), 4, 8, false,
                DType.F32, seed);
        ContentHash hash = ContentHash.ofDirectory(staged);
        Path target = dir.resolve("blobs/acme").resolve(hash.hex());
        Files.createDirectories(target.getParent());
        Files.move(staged, target);
        return new AdapterRef(ACME, name, 1, hash);
    }

    static GpuNodeProtocol.Started started(GpuNodeProtocol.GenerateReply reply) {
        return assertInstanceOf(GpuNodeProtocol.Started.class, reply, reply.toString());
    }

    static List<GpuNodeProtocol.TokenEvent> started(GpuNodeProtocol.Started started) throws Exception {
        return started.tokens().getSource().runWith(Sink.seq(), testKit.system()).toCompletableFuture().get(60, TimeUnit.SECONDS);
    }

    static GpuNodeProtocol.NodeStats stats() {
        TestProbe<GpuNodeProtocol.NodeStats> probe = testKit.createTestProbe();
        node.tell(new GpuNodeProtocol.GetStats(probe.getRef()));
        return probe.receiveMessage(Duration.ofSeconds(10));
    }

    static Optional<GpuNodeProtocol.HeldAdapter> held(AdapterRef ref) {
        return stats().adapters().stream().filter(h -> h.adapter().equals(ref)).findFirst();
    }

    static void awaitTier(AdapterRef ref, String tier) throws InterruptedException {
        long until = System.nanoTime() + 10_000_000_000L;
        while (!engine.tierOf(ref.contentHash()).equals(tier)) {
            assertTrue(System.nanoTime() < until, ref.name() + " never became " + tier + ": " + engine.tierOf(ref.contentHash()));
            Thread.sleep(10);
        }
    }

    static EngineStats awaitIdle() throws InterruptedException {
        long until = System.nanoTime() + 10_000_000_000L;
        while (engine.stats().running() > 0 || engine.stats().waiting() > 0) {
            assertTrue(System.nanoTime() < until, "engine never went idle: " + engine.stats());
            Thread.sleep(10);
        }
        Thread.sleep(50);
        return engine.stats();
    }
}
