package io.loraplex.engine.batch;

import static io.loraplex.engine.batch.EngineFixture.ALICE;
import static io.loraplex.engine.batch.EngineFixture.BOB;
import static io.loraplex.engine.batch.EngineFixture.alone;
import static io.loraplex.engine.batch.EngineFixture.request;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.TenantId;
import io.loraplex.engine.LogitAsserts;
import io.loraplex.engine.TestModels;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.BatchLogits;
import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.sample.FinishReason;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The engine's scheduling, memory and lifecycle behaviour on a small model. */
class EngineBehaviourTest {

    @TempDir
    static Path dir;
    static ModelConfig cfg = TestModels.llama(DType.F32);
    static BaseModel model;
    static Backend backend;
    static final List<AdapterSpec> adapters = new ArrayList<>();
    static final List<LoraAdapter> loaded = new ArrayList<>();

    @BeforeAll
    static void setUp() throws Exception {
        TestModels.write(dir.resolve("model"), cfg, 77);
        model = BaseModel.load(dir.resolve("model"));
        backend = EngineFixture.cpu(model);
        AdapterLoader loader = new AdapterLoader(cfg, 64);
        int[] ranks = {4, 8, 16, 4, 8, 16, 2, 12};
        for (int i = 0; i < ranks.length; i++) {
            Path a = dir.resolve("a" + i);
            AdapterWriter.writeRandom(a, cfg, EnumSet.allOf(TargetModule.class), ranks[i], 2.0 * ranks[i], false, DType.F32, 50 + i);
            LoraAdapter adapter = loader.load("a" + i, a);
            loaded.add(adapter);
            adapters.add(AdapterSpec.directory("a" + i, a));
        }
    }

    @AfterAll
    static void tearDown() {
        backend.close();
        model.close();
    }

    /** Stats are a snapshot taken after each step; wait for the one that shows the condition. */
    static EngineStats awaitStats(Engine engine, java.util.function.Predicate<EngineStats> condition) throws InterruptedException {
        long until = System.nanoTime() + 10_000_000_000L;
        while (!condition.test(engine.stats())) {
            assertTrue(System.nanoTime() < until, "stats never showed the expected state: " + engine.stats());
            Thread.sleep(5);
        }
        return engine.stats();
    }

    private static EngineSettings small() {
        return EngineSettings.defaults().withMaxRunning(16).withMaxTokensPerStep(64).withPrefillChunk(16).withBlockSize(4)
                .withMemoryBudgetBytes(16L << 20);
    }

    private static long pageBytes(EngineSettings s) {
        return ArenaLayout.of(cfg, s.blockSize()).pageBytes();
    }

    @Test
    void prefixHitsGiveTheSameTokensAndNeverCrossTenantsOrAdapters() {
        try (Engine engine = EngineFixture.engine(model, backend, small())) {
            int[] prompt = TestModels.tokens(30, cfg.vocabSize(), 3); // 7 full blocks of 4 before the last token
            List<Integer> first = alone(engine, ALICE, null, prompt, 6);
            long hits = engine.stats().prefixHits();
            Collector again = new Collector();
            engine.submit(request("again", ALICE, null, prompt, 6), again);
            GenerationListener.Completion done = again.await();
            assertEquals(first, again.tokens(), "a prefix hit gives the same tokens as a miss");
            assertEquals(7, engine.stats().prefixHits() - hits, "all 7 full prompt blocks hit");
            assertEquals(28, done.usage().cachedPromptTokens());

            hits = engine.stats().prefixHits();
            assertEquals(first, alone(engine, BOB, null, prompt, 6), "another tenant computes the same tokens");
            assertEquals(hits, engine.stats().prefixHits(), "another tenant never reuses alice's blocks");
            alone(engine, ALICE, adapters.get(0), prompt, 6);
            assertEquals(hits, engine.stats().prefixHits(), "an adapter never reuses the base's blocks");
            alone(engine, ALICE, adapters.get(1), prompt, 6);
            assertEquals(hits, engine.stats().prefixHits(), "an adapter never reuses another adapter's blocks");
        }
    }

    @Test
    void aReplacedAdapterNeverReusesTheOldBlocks(@TempDir Path tmp) throws Exception {
        try (Engine engine = EngineFixture.engine(model, backend, small())) {
            Path v1 = tmp.resolve("cafe-v1");
            Path v2 = tmp.resolve("cafe-v2");
            AdapterWriter.writeRandom(v1, cfg, EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ), 8, 16, false, DType.F32, 1);
            AdapterWriter.writeRandom(v2, cfg, EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ), 8, 16, false, DType.F32, 2);
            int[] prompt = TestModels.tokens(21, cfg.vocabSize(), 4);
            AdapterSpec cafe1 = AdapterSpec.directory("cafe", v1);
            AdapterSpec cafe2 = AdapterSpec.directory("cafe", v2);
            assertNotEquals(cafe1.hash(), cafe2.hash());
            alone(engine, ALICE, cafe1, prompt, 3);
            long hits = engine.stats().prefixHits();
            alone(engine, ALICE, cafe2, prompt, 3);
            assertEquals(hits, engine.stats().prefixHits(), "the new version of 'cafe' never reuses the old one's blocks");
            alone(engine, ALICE, cafe1, prompt, 3);
            assertTrue(engine.stats().prefixHits() > hits, "the old version still hits its own blocks");
        }
    }

    @Test
    void moreAdaptersThanThePoolHoldsAndMoreSequencesThanKvStillGiveCorrectOutputs() throws Exception {
        int[][] prompts = new int[24][];
        List<List<Integer>> expected = new ArrayList<>();
        try (Engine roomy = EngineFixture.engine(model, backend, small().withMemoryBudgetBytes(64L << 20))) {
            for (int i = 0; i < prompts.length; i++) {
                prompts[i] = TestModels.tokens(9 + i % 13, cfg.vocabSize(), 100 + i);
                expected.add(alone(roomy, ALICE, adapters.get(i % adapters.size()), prompts[i], 10));
            }
        }
        EngineSettings tight = small().withMaxResidentAdapters(3);
        // room for the 3 adapters and a handful of sequences, far fewer than 24 at 6 blocks each
        long adapterBytes = 0;
        for (LoraAdapter a : loaded.subList(0, 3)) {
            adapterBytes = Math.max(adapterBytes, PagedAdapter.pagesNeeded(a, ArenaLayout.of(cfg, 4)) * pageBytes(tight));
        }
        tight = tight.withMemoryBudgetBytes(3 * adapterBytes + 14 * pageBytes(tight));
        try (Engine engine = EngineFixture.engine(model, backend, tight)) {
            List<Collector> collectors = new ArrayList<>();
            List<EngineRequest> requests = new ArrayList<>();
            for (int i = 0; i < prompts.length; i++) {
                collectors.add(new Collector());
                requests.add(request("p" + i, i % 2 == 0 ? ALICE : BOB, adapters.get(i % adapters.size()), prompts[i], 10));
            }
            engine.submitAll(requests, collectors);
            for (int i = 0; i < prompts.length; i++) {
                GenerationListener.Completion done = collectors.get(i).await();
                assertEquals(FinishReason.LENGTH, done.finish().reason(), "request " + i + ": " + done.error());
                assertEquals(expected.get(i), collectors.get(i).tokens(), "request " + i + " under pressure");
            }
            EngineStats s = awaitStats(engine, st -> st.running() == 0);
            assertTrue(s.adapterEvictions() > 0, "evictions: " + s);
            assertTrue(s.adapterLoads() + s.adapterWarmHits() > adapters.size(), "adapters were reloaded: " + s);
            assertTrue(s.residentAdapters() <= 3, "resident: " + s);
        }
    }

    @Test
    void moreSequencesThanTheKvBudgetArePreemptedAndRecomputedWithCorrectOutputs() throws Exception {
        int[][] prompts = new int[16][];
        List<List<Integer>> expected = new ArrayList<>();
        try (Engine roomy = EngineFixture.engine(model, backend, small())) {
            for (int i = 0; i < prompts.length; i++) {
                prompts[i] = TestModels.tokens(6 + i % 5, cfg.vocabSize(), 300 + i);
                expected.add(alone(roomy, ALICE, i % 4 == 0 ? adapters.get(0) : null, prompts[i], 30));
            }
        }
        EngineSettings tight = small();
        int adapterPages = PagedAdapter.pagesNeeded(loaded.get(0), ArenaLayout.of(cfg, 4));
        // each request ends at 36-40 positions = 9-10 blocks; 24 blocks hold two or three of them
        tight = tight.withMemoryBudgetBytes((adapterPages + 24) * pageBytes(tight));
        try (Engine engine = EngineFixture.engine(model, backend, tight)) {
            List<Collector> collectors = new ArrayList<>();
            List<EngineRequest> requests = new ArrayList<>();
            for (int i = 0; i < prompts.length; i++) {
                collectors.add(new Collector());
                requests.add(request("k" + i, i % 2 == 0 ? ALICE : BOB, i % 4 == 0 ? adapters.get(0) : null, prompts[i], 30));
            }
            engine.submitAll(requests, collectors);
            for (int i = 0; i < prompts.length; i++) {
                GenerationListener.Completion done = collectors.get(i).await();
                assertEquals(FinishReason.LENGTH, done.finish().reason(), "request " + i + ": " + done.error());
                assertEquals(expected.get(i), collectors.get(i).tokens(), "request " + i + " under KV pressure");
            }
            EngineStats s = awaitStats(engine, st -> st.running() == 0);
            assertTrue(s.preemptions() > 0, "preemptions: " + s);
        }
    }

    @Test
    void anAdapterInUseIsNeverEvicted() throws Exception {
        try (Engine engine = EngineFixture.engine(model, backend, small().withMaxResidentAdapters(1))) {
            int[] prompt = TestModels.tokens(5, cfg.vocabSize(), 8);
            List<Integer> expected = alone(engine, ALICE, adapters.get(0), prompt, 60);
            Collector longRun = new Collector();
            CountDownLatch started = new CountDownLatch(1);
            RequestHandle[] handle = new RequestHandle[1];
            longRun.onToken = () -> {
                if (started.getCount() > 0) {
                    handle[0].pause(true); // holds its adapter, deterministically, while the test pokes at it
                    started.countDown();
                }
            };
            handle[0] = engine.submit(request("long", ALICE, adapters.get(0), prompt, 60), longRun);
            started.await();
            assertFalse(engine.evict(adapters.get(0).hash(), true).get(), "evicting an adapter in use is refused");
            // another adapter wants the single resident slot: it must wait, not take it
            Collector other = new Collector();
            engine.submit(request("other", BOB, adapters.get(1), prompt, 3), other);
            Thread.sleep(200);
            assertEquals(0, other.count(), "the other adapter waits for the slot");
            handle[0].pause(false);
            longRun.await();
            assertEquals(expected, longRun.tokens());
            other.await();
            assertEquals(3, other.count(), "the other adapter ran once the first was free");
        }
    }

    @Test
    void aColdLoadDoesNotStallOtherRequests() throws Exception {
        try (Engine engine = EngineFixture.engine(model, backend, small())) {
            CountDownLatch release = new CountDownLatch(1);
            LoraAdapter slow = loaded.get(2);
            AdapterSpec blocked = new AdapterSpec(slow.contentHash(), "slow", loader -> {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                return slow;
            });
            Collector waiting = new Collector();
            engine.submit(request("cold", ALICE, blocked, TestModels.tokens(6, cfg.vocabSize(), 1), 4), waiting);
            Collector base = new Collector();
            long stepsBefore = engine.stats().steps();
            engine.submit(request("base", BOB, null, TestModels.tokens(6, cfg.vocabSize(), 2), 20), base);
            base.await();
            assertTrue(engine.stats().steps() - stepsBefore >= 10, "the base request ran at least 10 steps");
            assertEquals(0, waiting.count(), "the cold adapter's request is still waiting on its load");
            assertFalse(waiting.done.isDone());
            release.countDown();
            assertEquals(FinishReason.LENGTH, waiting.await().finish().reason());
            assertEquals(4, waiting.count());
        }
    }

    @Test
    void cancellationReturnsBlocksToTheirBaseline() throws Exception {
        try (Engine engine = EngineFixture.engine(model, backend, small())) {
            EngineStats baseline = engine.stats();
            int available = baseline.freePages() + baseline.idleCachedBlocks();
            List<Collector> collectors = new ArrayList<>();
            List<RequestHandle> handles = new ArrayList<>();
            CountDownLatch allStarted = new CountDownLatch(6);
            for (int i = 0; i < 6; i++) {
                Collector c = new Collector();
                c.onToken = allStarted::countDown;
                collectors.add(c);
                handles.add(engine.submit(request("c" + i, ALICE, null, TestModels.tokens(17, cfg.vocabSize(), 30 + i), 500), c));
            }
            allStarted.await();
            assertTrue(engine.stats().freePages() < available, "running requests hold blocks");
            handles.forEach(RequestHandle::cancel);
            for (Collector c : collectors) {
                assertEquals(FinishReason.CANCELLED, c.await().finish().reason());
            }
            EngineStats after = awaitStats(engine, st -> st.running() == 0);
            assertEquals(available, after.freePages() + after.idleCachedBlocks(), "blocks back to the baseline: " + after);
        }
    }

    @Test
    void mixedRanksUseExactlyTheirPages() throws Exception {
        try (Engine engine = EngineFixture.engine(model, backend, small())) {
            ArenaLayout layout = engine.layout();
            int expected = 0;
            for (int i = 0; i < 3; i++) {
                engine.preload(adapters.get(i), false).get();
                expected += PagedAdapter.pagesNeeded(loaded.get(i), layout);
            }
            assertEquals(expected, awaitStats(engine, st -> st.residentAdapters() == 3).adapterPages());
            int r4 = PagedAdapter.pagesNeeded(loaded.get(0), layout);
            int r16 = PagedAdapter.pagesNeeded(loaded.get(2), layout);
            assertTrue(r4 < r16, "rank 4 takes fewer pages than rank 16 (" + r4 + " vs " + r16 + ")");
            assertTrue(r16 <= 4 * r4 + 1, "pages grow with the rank, not padded: " + r4 + " vs " + r16);
            for (Engine.AdapterInfo info : engine.adapters()) {
                assertEquals("hot", info.tier());
            }
        }
    }

    @Test
    void aTenantsBurstDoesNotStarveAnotherTenant() throws Exception {
        EngineSettings s = small().withMaxRunning(4).withMemoryBudgetBytes(64L << 20);
        try (Engine engine = EngineFixture.engine(model, backend, s)) {
            List<Collector> burst = new ArrayList<>();
            List<EngineRequest> requests = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                burst.add(new Collector());
                requests.add(request("burst" + i, ALICE, null, TestModels.tokens(8, cfg.vocabSize(), i), 8));
            }
            engine.submitAll(requests, burst);
            Thread.sleep(50);
            java.util.concurrent.atomic.AtomicInteger aliceTokensBefore = new java.util.concurrent.atomic.AtomicInteger(-1);
            Collector bob = new Collector();
            int aliceAtSubmit = burst.stream().mapToInt(Collector::count).sum();
            bob.onToken = () -> aliceTokensBefore.compareAndSet(-1, burst.stream().mapToInt(Collector::count).sum());
            engine.submit(request("bob", BOB, null, TestModels.tokens(8, cfg.vocabSize(), 999), 8), bob);
            bob.await();
            int aliceServedMeanwhile = aliceTokensBefore.get() - aliceAtSubmit;
            // Bound: bob waits for at most one of alice's running requests to finish (4 running × 8
            // tokens), twice over for timing slack: 64 tokens. First-come-first-served would make him
            // wait for alice's whole queue (~800 tokens).
            assertTrue(aliceServedMeanwhile <= 64, "alice got " + aliceServedMeanwhile + " tokens before bob's first");
            for (Collector c : burst) {
                c.await();
            }
        }
    }

    @Test
    void perTenantRunningCapQueuesTheRest() throws Exception {
        try (Engine engine = EngineFixture.engine(model, backend, small().withMaxRunningPerTenant(1))) {
            Collector first = new Collector();
            Collector second = new Collector();
            java.util.concurrent.atomic.AtomicInteger firstCountAtSecondStart = new java.util.concurrent.atomic.AtomicInteger(-1);
            second.onToken = () -> firstCountAtSecondStart.compareAndSet(-1, first.count());
            engine.submitAll(List.of(request("one", ALICE, null, TestModels.tokens(4, cfg.vocabSize(), 1), 12),
                    request("two", ALICE, null, TestModels.tokens(4, cfg.vocabSize(), 2), 12)), List.of(first, second));
            first.await();
            second.await();
            assertEquals(12, firstCountAtSecondStart.get(), "the second request started only after the first finished");
        }
    }

    @Test
    void deadlinesAndPrioritiesAndCancellation() throws Exception {
        try (Engine engine = EngineFixture.engine(model, backend, small().withMaxRunning(1))) {
            Collector blocker = new Collector();
            CountDownLatch going = new CountDownLatch(1);
            blocker.onToken = going::countDown;
            // the blocker holds the only running slot until cancelled (1500 tokens take far longer than this test)
            RequestHandle blocking = engine.submit(request("blocker", ALICE, null, TestModels.tokens(4, cfg.vocabSize(), 1), 1500),
                    blocker);
            going.await();
            Collector late = new Collector();
            engine.submit(request("late", ALICE, null, TestModels.tokens(4, cfg.vocabSize(), 2), 4)
                    .withDeadline(System.nanoTime() + 1_000_000), late);
            GenerationListener.Completion expired = late.await();
            assertEquals(FinishReason.DEADLINE, expired.finish().reason());
            assertTrue(expired.error().contains("deadline"));
            Collector low = new Collector();
            Collector high = new Collector();
            java.util.concurrent.atomic.AtomicBoolean highFirst = new java.util.concurrent.atomic.AtomicBoolean();
            high.onToken = () -> highFirst.compareAndSet(false, low.count() == 0);
            engine.submitAll(List.of(request("low", ALICE, null, TestModels.tokens(4, cfg.vocabSize(), 3), 2),
                    request("high", ALICE, null, TestModels.tokens(4, cfg.vocabSize(), 4), 2).withPriority(5)), List.of(low, high));
            blocking.cancel();
            assertEquals(FinishReason.CANCELLED, blocker.await().finish().reason());
            low.await();
            high.await();
            assertTrue(highFirst.get(), "the higher-priority request ran before the earlier low-priority one");
        }
    }

    @Test
    void refusesRequestsThatCanNeverRunAndFailsBadAdaptersAlone(@TempDir Path tmp) throws Exception {
        try (Engine engine = EngineFixture.engine(model, backend, small())) {
            IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class, () -> engine.submit(
                    request("x", ALICE, null, new int[cfg.maxPositionEmbeddings()], 1), new Collector()));
            assertTrue(tooLong.getMessage().contains("context"), tooLong.getMessage());
            IllegalArgumentException badToken = assertThrows(IllegalArgumentException.class, () -> engine.submit(
                    request("x", ALICE, null, new int[] {cfg.vocabSize()}, 1), new Collector()));
            assertTrue(badToken.getMessage().contains("outside the vocabulary"), badToken.getMessage());

            AdapterSpec missing = new AdapterSpec(loaded.get(0).contentHash(), "gone",
                    loader -> loader.load("gone", tmp.resolve("does-not-exist")));
            Collector failing = new Collector();
            Collector fine = new Collector();
            engine.submit(request("bad", ALICE, missing, TestModels.tokens(4, cfg.vocabSize(), 1), 3), failing);
            engine.submit(request("good", BOB, null, TestModels.tokens(4, cfg.vocabSize(), 2), 3), fine);
            GenerationListener.Completion failed = failing.await();
            assertEquals(FinishReason.ERROR, failed.finish().reason());
            assertTrue(failed.error().contains("not found"), failed.error());
            assertEquals(FinishReason.LENGTH, fine.await().finish().reason(), "a failing request fails alone");
        }
    }

    @Test
    void scoreRequestsInOneStepEqualTheDirectBatch() throws Exception {
        EngineSettings s = small().withMaxTokensPerStep(4096).withPrefillChunk(4096);
        try (Engine engine = EngineFixture.engine(model, backend, s)) {
            List<int[]> prompts = List.of(TestModels.tokens(13, cfg.vocabSize(), 1), TestModels.tokens(3, cfg.vocabSize(), 2),
                    TestModels.tokens(30, cfg.vocabSize(), 3));
            List<AdapterSpec> which = java.util.Arrays.asList(null, adapters.get(3), adapters.get(5));
            for (AdapterSpec a : which) {
                if (a != null) {
                    engine.preload(a, false).get();
                }
            }
            long stepsBefore = engine.stats().steps();
            List<Collector> collectors = new ArrayList<>();
            List<EngineRequest> requests = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                collectors.add(new Collector());
                requests.add(EngineRequest.score("s" + i, new TenantId("t" + i), which.get(i), prompts.get(i)));
            }
            engine.submitAll(requests, collectors);
            collectors.forEach(Collector::await);
            EngineStats after = awaitStats(engine, st -> st.running() == 0 && st.steps() > stepsBefore);
            assertEquals(1, after.steps() - stepsBefore, "all scores in one batched step");
            List<BatchLogits.Request> direct = List.of(new BatchLogits.Request(null, prompts.get(0)),
                    new BatchLogits.Request(loaded.get(3), prompts.get(1)), new BatchLogits.Request(loaded.get(5), prompts.get(2)));
            List<float[]> expected = BatchLogits.run(backend, direct, 4);
            for (int i = 0; i < prompts.size(); i++) {
                assertArrayEquals(expected.get(i), collectors.get(i).logits, "request " + i);
            }
            LogitAsserts.assertClose(expected.get(0), collectors.get(0).logits, 0, "base");
        }
    }
}
