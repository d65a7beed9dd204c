package io.loraplex.engine.batch;

import static io.loraplex.engine.batch.EngineFixture.alone;
import static io.loraplex.engine.batch.EngineFixture.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.TenantId;
import io.loraplex.engine.TestModels;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.WeightFormat;
import io.loraplex.engine.sample.FinishReason;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Batch invariance through the whole engine: in 200 seeded random mixes (1–32 requests, 0–32
 * distinct adapters of mixed ranks and targets, some requests on the base, prompts of 1–40 tokens,
 * half the requests arriving while the others run), every request's greedy tokens equal the tokens
 * it gets alone, exactly. Run on the checkpoint's f32 weights here and on int8 and int4 weights and
 * f16 and bf16 checkpoints by the subclasses ({@link #weights()}, {@link #checkpointDtype()}); the
 * fixture is per instance for that.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class EngineBatchInvarianceTest {

    static final int MIXES = 200;
    static final int ADAPTERS = 32;
    static final int PROBE_TOKENS = 6;

    ModelConfig cfg = TestModels.llama(checkpointDtype());
    BaseModel model;
    Backend backend;
    Engine engine;
    final List<AdapterSpec> adapters = new ArrayList<>();

    /** The dtype the checkpoint is written in (f32 here; f16 and bf16 checkpoints by subclasses). */
    DType checkpointDtype() {
        return DType.F32;
    }

    /** The format the model's projections are loaded in; null: the checkpoint's own (f32). */
    WeightFormat weights() {
        return null;
    }

    @BeforeAll
    void setUp(@TempDir Path dir) throws Exception {
        TestModels.write(dir.resolve("model"), cfg, 2024);
        model = BaseModel.load(dir.resolve("model"), weights());
        backend = EngineFixture.cpu(model);
        EngineSettings settings = EngineSettings.defaults().withMaxRunning(32).withMaxTokensPerStep(96).withPrefillChunk(12)
                .withBlockSize(4).withMemoryBudgetBytes(64L << 20).withMaxResidentAdapters(40);
        engine = EngineFixture.engine(model, backend, settings);

        // adapters of mixed ranks and target sets, each checked to change the greedy output of a
        // probe prompt versus the base and versus every other adapter
        int[] probe = TestModels.tokens(8, cfg.vocabSize(), 99);
        Map<List<Integer>, String> seen = new HashMap<>();
        seen.put(alone(engine, EngineFixture.ALICE, null, probe, PROBE_TOKENS), "base");
        int[] ranks = {1, 2, 4, 8, 16};
        List<Set<TargetModule>> targetSets = List.of(EnumSet.allOf(TargetModule.class),
                EnumSet.of(TargetModule.Q_PROJ, TargetModule.K_PROJ, TargetModule.V_PROJ, TargetModule.O_PROJ),
                EnumSet.of(TargetModule.GATE_PROJ, TargetModule.UP_PROJ, TargetModule.DOWN_PROJ),
                EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ, TargetModule.DOWN_PROJ));
        AdapterLoader loader = new AdapterLoader(cfg, 64);
        for (int i = 0; adapters.size() < ADAPTERS; i++) {
            assertTrue(i < 4 * ADAPTERS, "could not find " + ADAPTERS + " adapters with distinct outputs");
            Path a = dir.resolve("adapter-" + i);
            int rank = ranks[i % ranks.length];
            AdapterWriter.writeRandom(a, cfg, targetSets.get(i % targetSets.size()), rank, 2.0 * rank, false, DType.F32, 1000 + i);
            LoraAdapter loaded = loader.load("a" + i, a);
            AdapterSpec spec = AdapterSpec.loaded(loaded);
            List<Integer> out = alone(engine, EngineFixture.ALICE, spec, probe, PROBE_TOKENS);
            if (seen.putIfAbsent(out, spec.name()) == null) {
                adapters.add(spec);
            }
        }
        assertEquals(ADAPTERS + 1, seen.size(), "the base and every adapter give different greedy outputs");
    }

    @AfterAll
    void tearDown() {
        engine.close();
        backend.close();
        model.close();
    }

    private record Job(TenantId tenant, AdapterSpec adapter, int[] prompt, int maxTokens) {
    }

    @Test
    void everyRequestInEveryMixEqualsItselfAlone() throws Exception {
        SplittableRandom random = new SplittableRandom(7);
        Map<String, List<Integer>> aloneCache = new HashMap<>();
        int checked = 0;
        for (int mix = 0; mix < MIXES; mix++) {
            int n = 1 + random.nextInt(32);
            int distinct = Math.min(random.nextInt(33), n);
            List<AdapterSpec> chosen = new ArrayList<>(adapters);
            java.util.Collections.shuffle(chosen, new java.util.Random(random.nextLong()));
            chosen = chosen.subList(0, distinct);
            List<Job> jobs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                AdapterSpec a = chosen.isEmpty() || random.nextInt(5) == 0 ? null : chosen.get(random.nextInt(chosen.size()));
                TenantId tenant = random.nextBoolean() ? EngineFixture.ALICE : EngineFixture.BOB;
                jobs.add(new Job(tenant, a, TestModels.tokens(1 + random.nextInt(40), cfg.vocabSize(), random.nextLong()),
                        1 + random.nextInt(8)));
            }
            // the first half starts together; the rest arrives once the first request has produced a token
            int early = Math.max(1, n / 2);
            List<Collector> collectors = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                collectors.add(new Collector());
            }
            List<EngineRequest> first = new ArrayList<>();
            for (int i = 0; i < early; i++) {
                Job j = jobs.get(i);
                first.add(request("m" + mix + "-" + i, j.tenant, j.adapter, j.prompt, j.maxTokens));
            }
            int mixId = mix;
            List<Job> late = jobs.subList(early, n);
            java.util.concurrent.atomic.AtomicBoolean lateSent = new java.util.concurrent.atomic.AtomicBoolean();
            Runnable sendLate = () -> {
                if (!late.isEmpty() && lateSent.compareAndSet(false, true)) {
                    for (int i = 0; i < late.size(); i++) {
                        Job j = late.get(i);
                        engine.submit(request("m" + mixId + "-late" + i, j.tenant, j.adapter, j.prompt, j.maxTokens),
                                collectors.get(early + i));
                    }
                }
            };
            collectors.getFirst().onToken = sendLate;
            engine.submitAll(first, collectors.subList(0, early));
            collectors.getFirst().await();
            sendLate.run();
            for (int i = 0; i < n; i++) {
                Job j = jobs.get(i);
                GenerationListener.Completion done = collectors.get(i).await();
                assertEquals(FinishReason.LENGTH, done.finish().reason(), "mix " + mix + " request " + i + ": " + done.error());
                String key = (j.adapter == null ? "base" : j.adapter.name()) + java.util.Arrays.toString(j.prompt) + j.maxTokens;
                List<Integer> expected = aloneCache.computeIfAbsent(key,
                        k -> alone(engine, j.tenant, j.adapter, j.prompt, j.maxTokens));
                assertEquals(expected, collectors.get(i).tokens(), "mix " + mix + " (" + n + " requests, " + distinct
                        + " adapters): request " + i + " differs from the same request alone");
                checked++;
            }
        }
        assertTrue(checked > MIXES * 8, "checked " + checked + " requests");
        EngineStats stats = engine.stats();
        assertNotEquals(0, stats.prefixHits(), "repeated prompts should have hit the prefix cache too");
    }
}
