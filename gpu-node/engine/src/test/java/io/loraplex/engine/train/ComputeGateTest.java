package io.loraplex.engine.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.TenantId;
import io.loraplex.engine.TestModels;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.backend.ComputeGate;
import io.loraplex.engine.batch.Engine;
import io.loraplex.engine.batch.EngineRequest;
import io.loraplex.engine.batch.EngineSettings;
import io.loraplex.engine.batch.GenerationListener;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.sample.SamplingParams;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Training yields to serving: a training step never starts while a serving step waits for the gate. */
class ComputeGateTest {

    @TempDir
    Path dir;

    @Test
    void aTrainingStepDoesNotStartWhileTheEnginesServingStepWaits() throws Exception {
        try (BaseModel model = BaseModel.load(TestModels.write(dir, TestModels.llama(DType.F32), 1));
                Backend cpu = Backends.create(Backends.CPU, model, 2);
                Engine engine = new Engine(new Counting(cpu), null, List.of(), EngineSettings.defaults().withMemoryBudgetBytes(8L << 20))) {
            ComputeGate gate = engine.computeGate();
            gate.acquireForTraining(); // a training step is running
            AtomicInteger tokens = new AtomicInteger();
            CompletableFuture<Void> done = new CompletableFuture<>();
            engine.submit(EngineRequest.generate("r", new TenantId("t"), null, TestModels.tokens(5, 97, 2),
                    SamplingParams.builder().temperature(0).maxTokens(3).ignoreEos(true).build()), new GenerationListener() {
                        @Override
                        public void onToken(Token token) {
                            tokens.incrementAndGet();
                        }

                        @Override
                        public void onFinish(Completion completion) {
                            done.complete(null);
                        }
                    });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (gate.servingWaiting() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            assertEquals(1, gate.servingWaiting(), "the engine's step waits for the running training step");

            CountDownLatch secondStarted = new CountDownLatch(1);
            AtomicInteger stepsWhenSecondStarted = new AtomicInteger(-1);
            Thread second = Thread.ofPlatform().start(() -> {
                try {
                    gate.acquireForTraining();
                    stepsWhenSecondStarted.set(Counting.steps.get());
                    secondStarted.countDown();
                    gate.release();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            assertFalse(secondStarted.await(200, TimeUnit.MILLISECONDS), "a training step started while serving waited");
            assertEquals(0, Counting.steps.get(), "serving waited for the training step that held the gate");
            gate.release(); // the first training step ends: serving goes first
            assertTrue(secondStarted.await(10, TimeUnit.SECONDS));
            assertTrue(stepsWhenSecondStarted.get() >= 1, "the serving step ran before the next training step");
            done.get(10, TimeUnit.SECONDS);
            second.join();
            assertEquals(3, tokens.get());
        }
    }

    /** The CPU backend, counting finished forward steps. */
    private record Counting(Backend inner) implements Backend {
        static final AtomicInteger steps = new AtomicInteger();

        @Override
        public String name() {
            return inner.name();
        }

        @Override
        public io.loraplex.engine.model.ModelConfig config() {
            return inner.config();
        }

        @Override
        public io.loraplex.engine.kv.PageArena allocateArena(io.loraplex.engine.kv.ArenaLayout layout, int pages) {
            return inner.allocateArena(layout, pages);
        }

        @Override
        public void forward(io.loraplex.engine.backend.ForwardBatch batch, io.loraplex.engine.kv.PageArena arena, float[] logits) {
            inner.forward(batch, arena, logits);
            steps.incrementAndGet();
        }
    }

    @Test
    void servingWaitsOnlyForTheTrainingStepHoldingTheGate() throws Exception {
        ComputeGate gate = new ComputeGate();
        gate.acquireForTraining();
        CountDownLatch served = new CountDownLatch(1);
        Thread serving = Thread.ofPlatform().start(() -> gate.serve(served::countDown));
        assertFalse(served.await(100, TimeUnit.MILLISECONDS));
        gate.release();
        assertTrue(served.await(5, TimeUnit.SECONDS));
        serving.join();
        gate.acquireForTraining(); // free again
        gate.release();
        assertEquals(0, gate.servingWaiting());
    }
}
