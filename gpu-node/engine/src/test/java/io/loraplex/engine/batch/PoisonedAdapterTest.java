package io.loraplex.engine.batch;

import static io.loraplex.engine.batch.EngineFixture.ALICE;
import static io.loraplex.engine.batch.EngineFixture.BOB;
import static io.loraplex.engine.batch.EngineFixture.alone;
import static io.loraplex.engine.batch.EngineFixture.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.lora.AdapterBounds;
import io.loraplex.engine.lora.AdapterConfig;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraWeights;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.sample.FinishReason;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A poisoned adapter fails its own requests only. Bob's adapter has lora_B weights of 3e38 (the
 * outside probe's; validation refuses it, so this engine's bounds are off to inject it below
 * validation): its rows overflow to NaN. While Alice streams, Bob's requests hit it again and again;
 * Alice's tokens equal her tokens alone, Bob's requests fail naming the adapter, and the version is
 * quarantined once: out of every tier, refused on later requests, reported to the listener.
 */
class PoisonedAdapterTest {

    static final int TOKENS = 24;

    @TempDir
    static Path dir;
    static ModelConfig cfg = TestModels.llama(DType.F32);
    static Engine engine;
    static AdapterSpec good;
    static AdapterSpec poison;
    static final List<Engine.Quarantine> reported = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void setUp() throws Exception {
        TestModels.write(dir.resolve("model"), cfg, 77);
        BaseModel model = BaseModel.load(dir.resolve("model"));
        EngineSettings settings = EngineSettings.defaults().withMaxRunning(16).withBlockSize(4)
                .withMemoryBudgetBytes(32L << 20).withAdapterBounds(AdapterBounds.UNBOUNDED);
        engine = EngineFixture.engine(model, EngineFixture.cpu(model), settings);
        engine.onQuarantine(reported::add);

        AdapterWriter.writeRandom(dir.resolve("good"), cfg, EnumSet.allOf(TargetModule.class), 8, 16, false, DType.F32, 5);
        good = AdapterSpec.directory("alice/good@1", dir.resolve("good"));
        LoraWeights[][] weights = new LoraWeights[cfg.numLayers()][TargetModule.COUNT];
        TargetModule q = TargetModule.Q_PROJ;
        for (int l = 0; l < cfg.numLayers(); l++) {
            float[] a = new float[4 * q.inFeatures(cfg)];
            float[] b = new float[q.outFeatures(cfg) * 4];
            Arrays.fill(a, 0.05f);
            Arrays.fill(b, 3e38f);
            weights[l][q.ordinal()] = new LoraWeights(4, q.inFeatures(cfg), q.outFeatures(cfg), 2f, a, b);
        }
        AdapterConfig config = new AdapterConfig(4, 8, 0, false, List.of("q_proj"), null, java.util.Map.of(), java.util.Map.of(),
                List.of(), null, null);
        AdapterWriter.write(dir.resolve("poison"), config.toJson(null, List.of("q_proj")), weights, DType.F32);
        poison = AdapterSpec.directory("bob/poison@1", dir.resolve("poison"));
    }

    @AfterAll
    static void tearDown() {
        engine.close();
    }

    @Test
    void aPoisonedAdapterFailsOnlyItsOwnRequestsAndIsQuarantined() throws InterruptedException {
        int[] alicePrompt = TestModels.tokens(9, cfg.vocabSize(), 1);
        int[] bobPrompt = TestModels.tokens(7, cfg.vocabSize(), 2);
        List<Integer> aliceAlone = alone(engine, ALICE, good, alicePrompt, TOKENS);
        List<Integer> baseAlone = alone(engine, ALICE, null, alicePrompt, TOKENS);

        // Alice's stream and two base requests start in the same step as Bob's first requests;
        // Bob sends another request with every token Alice receives
        Collector alice = new Collector();
        Collector base = new Collector();
        List<Collector> bob = new CopyOnWriteArrayList<>();
        List<EngineRequest> first = new ArrayList<>();
        List<Collector> firstListeners = new ArrayList<>();
        first.add(request("alice", ALICE, good, alicePrompt, TOKENS));
        firstListeners.add(alice);
        first.add(request("base", ALICE, null, alicePrompt, TOKENS));
        firstListeners.add(base);
        for (int i = 0; i < 3; i++) {
            Collector c = new Collector();
            bob.add(c);
            first.add(request("bob-" + i, BOB, poison, bobPrompt, TOKENS));
            firstListeners.add(c);
        }
        alice.onToken = () -> {
            if (alice.count() < TOKENS - 4) {
                Collector c = new Collector();
                bob.add(c);
                engine.submit(request("bob-" + bob.size(), BOB, poison, bobPrompt, TOKENS), c);
            }
        };
        engine.submitAll(first, firstListeners);

        GenerationListener.Completion aliceDone = alice.await();
        assertEquals(FinishReason.LENGTH, aliceDone.finish().reason(), String.valueOf(aliceDone.error()));
        assertNull(aliceDone.failure());
        assertEquals(aliceAlone, alice.tokens(), "Alice's tokens beside the poisoned adapter equal her tokens alone");
        assertEquals(baseAlone, base.tokens(), "a base request beside the poisoned adapter equals it alone");
        assertEquals(FinishReason.LENGTH, base.await().finish().reason());

        assertTrue(bob.size() > 10, "Bob hit the poisoned adapter " + bob.size() + " times");
        for (Collector c : bob) {
            GenerationListener.Completion done = c.await();
            assertEquals(FinishReason.ERROR, done.finish().reason());
            assertEquals(GenerationListener.Failure.ADAPTER_QUARANTINED, done.failure());
            assertTrue(done.error().contains("adapter bob/poison@1"), done.error());
            assertTrue(done.error().contains("quarantined"), done.error());
            assertTrue(c.tokens().isEmpty(), "a poisoned request emits no token");
        }
        assertTrue(bob.get(0).await().error().contains("non-finite logit (NaN"), bob.get(0).await().error());

        // quarantined: reported once, out of every tier, refused on a later request. The step thread
        // fails the adapter's requests first and quarantines and reports it right after, so the last
        // completion can arrive a moment before the report: wait for it (bounded), then check it is one
        long until = System.nanoTime() + 10_000_000_000L;
        while (reported.isEmpty() && System.nanoTime() < until) {
            Thread.sleep(5);
        }
        Thread.sleep(100); // a second report, if the engine made one, would come within this
        assertEquals(1, reported.size(), reported.toString());
        assertEquals(poison.hash(), reported.getFirst().hash());
        assertEquals("bob/poison@1", reported.getFirst().name());
        assertTrue(engine.quarantineReason(poison.hash()).isPresent());
        assertTrue(engine.adapters().stream().noneMatch(a -> a.hash().equals(poison.hash())), engine.adapters().toString());
        Collector later = new Collector();
        engine.submit(request("bob-later", BOB, poison, bobPrompt, TOKENS), later);
        GenerationListener.Completion refused = later.await();
        assertEquals(GenerationListener.Failure.ADAPTER_QUARANTINED, refused.failure());
        assertTrue(refused.error().contains("adapter bob/poison@1"), refused.error());
        assertEquals(1, reported.size(), "a refused load is no new quarantine");
        assertEquals(aliceAlone, alone(engine, ALICE, good, alicePrompt, TOKENS), "the engine serves on unchanged");
    }
}
