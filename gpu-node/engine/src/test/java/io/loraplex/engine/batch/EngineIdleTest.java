package io.loraplex.engine.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.IdleThreads;
import io.loraplex.engine.TestModels;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.BatchLogits;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An idle server must not burn a core: after some work, the CPU backend's pool threads and the
 * engine's own threads use next to no CPU (bound and reason in {@link IdleThreads}).
 */
class EngineIdleTest {

    @TempDir
    static Path dir;
    static ModelConfig cfg = TestModels.llama(DType.F32);

    @Test
    void anIdleCpuBackendAfterAForwardParksItsWorkers() throws Exception {
        TestModels.write(dir.resolve("backend-model"), cfg, 3);
        Set<Long> before = IdleThreads.ids();
        try (BaseModel model = BaseModel.load(dir.resolve("backend-model"));
                Backend cpu = EngineFixture.cpu(model)) {
            BatchLogits.run(cpu, List.of(new BatchLogits.Request(null, TestModels.tokens(9, cfg.vocabSize(), 1))), 4);
            IdleThreads workers = IdleThreads.startedSince(before, "loraplex-cpu-");
            assertEquals(1, workers.threads().size(), "a two-thread backend has one pool worker beside the caller");
            workers.assertIdle(false);
        }
    }

    /**
     * With no request, preload, drain or adapter waiting for pages, the step thread blocks on its
     * inbox without a timeout (it used to wake every 20 ms, about 1% of a core here); the pool's
     * workers and the adapter loaders are parked as well.
     */
    @Test
    void anIdleEngineAfterARequestSleepsUntilTheNextMessage() throws Exception {
        TestModels.write(dir.resolve("engine-model"), cfg, 4);
        Set<Long> before = IdleThreads.ids();
        try (BaseModel model = BaseModel.load(dir.resolve("engine-model"));
                Backend cpu = EngineFixture.cpu(model);
                Engine engine = EngineFixture.engine(model, cpu, EngineSettings.defaults().withBlockSize(4))) {
            List<Integer> tokens = EngineFixture.alone(engine, EngineFixture.ALICE, null, TestModels.tokens(7, cfg.vocabSize(), 2), 6);
            assertEquals(6, tokens.size());
            IdleThreads threads = IdleThreads.startedSince(before, "loraplex-");
            assertTrue(threads.threads().stream().anyMatch(t -> t.getName().equals("loraplex-engine")),
                    "the step thread is among " + threads.threads());
            threads.assertIdle(false);
        }
    }
}
