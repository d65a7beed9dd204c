package io.loraplex.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.batch.Engine;
import io.loraplex.engine.batch.EngineSettings;
import io.loraplex.engine.lora.AdapterBounds;
import io.loraplex.engine.lora.AdapterConfig;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraWeights;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.TinyModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node reports a version its engine quarantined to the version's Adapter entity (a double in
 * sharding here): {@code MarkFailed} with the version, its content hash and a reason naming the
 * adapter; an ask that goes unanswered is tried again after the back-off, until one is acknowledged.
 */
class QuarantineReportTest {

    static final TenantId ACME = new TenantId("acme");

    @TempDir
    static Path dir;
    static ActorTestKit testKit;
    static ServedModel model;
    static Backend backend;
    static Engine engine;
    static ActorRef<GpuNodeProtocol.Command> node;
    static AdapterRef poison;
    /** Every MarkFailed the Adapter entity double received, in order. */
    static TestProbe<AdapterProtocol.MarkFailed> reports;
    static final AtomicInteger asks = new AtomicInteger();

    @BeforeAll
    static void start() throws Exception {
        Path modelDir = dir.resolve("model");
        TinyModel.write(modelDir, new TinyModel.Spec(Architecture.LLAMA, 64, 2, 4, 2, null, 160, 600, DType.F32, null, null, 256,
                null, 0, null, null, 1, 11));
        model = ServedModel.load(modelDir, "tiny");
        backend = Backends.create(Backends.CPU, model.model(), 2);
        // the bounds are off so the poisoned weights load (validation refuses them): the failure comes at serving time
        engine = new Engine(backend, model.tokenizer(), model.eosIds(),
                EngineSettings.defaults().withMemoryBudgetBytes(64L << 20).withAdapterBounds(AdapterBounds.UNBOUNDED));
        Path adapterRoot = dir.resolve("blobs");
        Path staged = dir.resolve("staged");
        writePoisoned(staged, model.model().config());
        ContentHash hash = ContentHash.ofDirectory(staged);
        Path target = adapterRoot.resolve("acme").resolve(hash.hex());
        Files.createDirectories(target.getParent());
        Files.move(staged, target);
        poison = new AdapterRef(ACME, "poison", 3, hash);

        testKit = ActorTestKit.create("quarantine-report-test", GpuNodeTest.config());
        Cluster.get(testKit.system()).manager().tell(Join.create(Cluster.get(testKit.system()).selfMember().address()));
        reports = testKit.createTestProbe(AdapterProtocol.MarkFailed.class);
        // the Adapter entity double: the first report goes unanswered (its ask times out), later ones are acknowledged
        ClusterSharding.get(testKit.system()).init(Entity.of(AdapterProtocol.TYPE_KEY, ctx ->
                Behaviors.receive(AdapterProtocol.Command.class)
                        .onMessage(AdapterProtocol.MarkFailed.class, failed -> {
                            reports.getRef().tell(failed);
                            if (asks.incrementAndGet() > 1) {
                                failed.replyTo().tell(new AdapterProtocol.Reply(true, null, "", null));
                            }
                            return Behaviors.same();
                        })
                        .build()));
        NodeSettings settings = new NodeSettings("node-q", "tiny", 64, 256, 8, adapterRoot)
                .withQuarantineReport(new NodeSettings.QuarantineReport(Duration.ofMillis(500), 4, Duration.ofMillis(100)));
        node = testKit.spawn(GpuNode.create(new NodeId("node-q"), model, engine, new AdapterStore(adapterRoot), settings), "gpu-node");
    }

    @AfterAll
    static void stop() {
        testKit.shutdownTestKit();
        engine.close();
        backend.close();
        model.close();
    }

    /** q_proj's lora_B of 3e38 in every layer: its rows overflow to non-finite logits. */
    static void writePoisoned(Path dir, ModelConfig cfg) throws Exception {
        LoraWeights[][] weights = new LoraWeights[cfg.numLayers()][TargetModule.COUNT];
        TargetModule q = TargetModule.Q_PROJ;
        for (int l = 0; l < cfg.numLayers(); l++) {
            float[] a = new float[4 * q.inFeatures(cfg)];
            float[] b = new float[q.outFeatures(cfg) * 4];
            Arrays.fill(a, 0.05f);
            Arrays.fill(b, 3e38f);
            weights[l][q.ordinal()] = new LoraWeights(4, q.inFeatures(cfg), q.outFeatures(cfg), 2f, a, b);
        }
        AdapterConfig config = new AdapterConfig(4, 8, 0, false, List.of("q_proj"), null, Map.of(), Map.of(), List.of(), null, null);
        AdapterWriter.write(dir, config.toJson(null, List.of("q_proj")), weights, DType.F32);
    }

    @Test
    void aQuarantinedVersionIsReportedToItsAdapterEntityAndAnUnansweredReportIsRetried() throws Exception {
        var prompt = new GpuNodeProtocol.ChatPrompt(List.of(new GpuNodeProtocol.ChatMessage("user", "hi")));
        TestProbe<GpuNodeProtocol.GenerateReply> replies = testKit.createTestProbe();
        node.tell(new GpuNodeProtocol.Generate("r1", ACME, poison, prompt, GpuNodeTest.greedy(4), replies.getRef()));
        GpuNodeProtocol.Started started = assertInstanceOf(GpuNodeProtocol.Started.class, replies.receiveMessage(Duration.ofSeconds(30)));
        // the request fails alone; its stream ends with the failure
        started.tokens().getSource().runWith(Sink.ignore(), testKit.system()).handle((done, failure) -> null)
                .toCompletableFuture().get(60, TimeUnit.SECONDS);

        AdapterProtocol.MarkFailed first = reports.receiveMessage(Duration.ofSeconds(30));
        assertEquals(3, first.version());
        assertEquals(poison.contentHash(), first.hash());
        assertTrue(first.reason().contains("poison"), "the reason names the adapter: " + first.reason());
        assertTrue(first.reason().contains("quarantined"), first.reason());
        // unanswered within 500 ms: the same report again after the back-off, and that one is acknowledged
        AdapterProtocol.MarkFailed second = reports.receiveMessage(Duration.ofSeconds(10));
        assertEquals(first, withReplyTo(second, first.replyTo()));
        reports.expectNoMessage(Duration.ofSeconds(1));
        assertEquals(2, asks.get());
    }

    private static AdapterProtocol.MarkFailed withReplyTo(AdapterProtocol.MarkFailed m, ActorRef<AdapterProtocol.Reply> replyTo) {
        return new AdapterProtocol.MarkFailed(m.version(), m.hash(), m.reason(), replyTo);
    }
}
