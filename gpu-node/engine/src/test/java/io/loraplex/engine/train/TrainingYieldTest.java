package io.loraplex.engine.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.nio.file.Path;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The training step offers the gate to serving between layers: once per layer forward, once per layer backward. */
class TrainingYieldTest {

    @TempDir
    Path dir;

    @Test
    void aForwardBackwardYieldsBetweenEveryTwoLayersAndALossPassBetweenEveryForwardLayer() throws Exception {
        ModelConfig cfg = TestModels.llama(DType.F32);
        try (BaseModel model = BaseModel.load(TestModels.write(dir, cfg, 7)); WorkerPool pool = new WorkerPool(1)) {
            LoraParameters lora = new LoraParameters(cfg, TrainingOptions.DEFAULT_TARGETS, 2, 1.5, 3);
            TrainingModel net = new TrainingModel(cfg, model.weights(), lora, new FrozenLinear(pool, FrozenLinear.Precision.F32));
            AtomicInteger yields = new AtomicInteger();
            net.yieldPoint(yields::incrementAndGet);
            EncodedExample ex = new EncodedExample(1, TestModels.tokens(9, cfg.vocabSize(), 5),
                    new boolean[] {false, false, false, false, true, true, false, true, true});
            net.forwardBackward(ex, 1.0, 0, null);
            assertEquals(2 * cfg.numLayers(), yields.get(), "yield points in one forward and backward");
            yields.set(0);
            net.loss(ex);
            assertEquals(cfg.numLayers(), yields.get(), "yield points in one forward without backward");
        }
    }

    @Test
    void aYieldPointThatThrowsStopsThePassHalfWay() throws Exception {
        ModelConfig cfg = TestModels.llama(DType.F32);
        try (BaseModel model = BaseModel.load(TestModels.write(dir, cfg, 7)); WorkerPool pool = new WorkerPool(1)) {
            LoraParameters lora = new LoraParameters(cfg, TrainingOptions.DEFAULT_TARGETS, 2, 1.5, 3);
            TrainingModel net = new TrainingModel(cfg, model.weights(), lora, new FrozenLinear(pool, FrozenLinear.Precision.F32));
            AtomicInteger yields = new AtomicInteger();
            net.yieldPoint(() -> {
                if (yields.incrementAndGet() == 1) {
                    throw new CancellationException("training cancelled");
                }
            });
            EncodedExample ex = new EncodedExample(1, TestModels.tokens(9, cfg.vocabSize(), 5),
                    new boolean[] {false, false, false, false, true, true, false, true, true});
            CancellationException e = assertThrows(CancellationException.class, () -> net.forwardBackward(ex, 1.0, 0, null));
            assertEquals("training cancelled", e.getMessage());
            assertEquals(1, yields.get(), "the pass stopped at its first yield point");
        }
    }
}
