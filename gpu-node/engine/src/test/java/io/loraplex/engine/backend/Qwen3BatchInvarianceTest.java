package io.loraplex.engine.backend;

import static io.loraplex.engine.LogitAsserts.assertBitwise;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The batch invariant holds through Qwen3's per-head q/k norms: a request's logits do not depend on its batch-mates. */
class Qwen3BatchInvarianceTest {

    @Test
    void aQwen3RequestGetsTheSameBitsAloneInAMixedBatchAndOnAnyThreadCount(@TempDir Path dir) throws Exception {
        ModelConfig cfg = TestModels.qwen3(DType.BF16);
        TestModels.write(dir.resolve("model"), cfg, 7);
        AdapterWriter.writeRandom(dir.resolve("a1"), cfg, EnumSet.allOf(TargetModule.class), 8, 16, false, DType.F32, 1);
        AdapterWriter.writeRandom(dir.resolve("a2"), cfg, EnumSet.of(TargetModule.Q_PROJ, TargetModule.K_PROJ), 3, 6, false,
                DType.BF16, 2);
        try (BaseModel model = BaseModel.load(dir.resolve("model"))) {
            AdapterLoader loader = new AdapterLoader(cfg, 64);
            LoraAdapter a1 = loader.load("a1", dir.resolve("a1"));
            LoraAdapter a2 = loader.load("a2", dir.resolve("a2"));
            List<BatchLogits.Request> requests = List.of(
                    new BatchLogits.Request(a1, TestModels.tokens(11, cfg.vocabSize(), 1)),
                    new BatchLogits.Request(null, TestModels.tokens(7, cfg.vocabSize(), 2)),
                    new BatchLogits.Request(a2, TestModels.tokens(3, cfg.vocabSize(), 3)),
                    new BatchLogits.Request(a1, TestModels.tokens(1, cfg.vocabSize(), 4)),
                    new BatchLogits.Request(a2, TestModels.tokens(17, cfg.vocabSize(), 5)));
            List<float[]> batched;
            try (Backend cpu = Backends.create(Backends.CPU, model, 2)) {
                batched = BatchLogits.run(cpu, requests, 4);
                for (int i = 0; i < requests.size(); i++) {
                    assertBitwise(BatchLogits.run(cpu, List.of(requests.get(i)), 4).getFirst(), batched.get(i),
                            "request " + i + " alone vs in a batch");
                }
            }
            for (int threads : new int[] {1, 3}) {
                try (Backend cpu = Backends.create(Backends.CPU, model, threads)) {
                    List<float[]> again = BatchLogits.run(cpu, requests, 4);
                    for (int i = 0; i < requests.size(); i++) {
                        assertBitwise(batched.get(i), again.get(i), "request " + i + " with " + threads + " threads");
                    }
                }
            }
            // the adapters reach q and k before the norms: the same prompt differs with and without one
            float[] base = BatchLogits.run(Backends.create(Backends.CPU, model, 1),
                    List.of(new BatchLogits.Request(null, TestModels.tokens(3, cfg.vocabSize(), 3))), 4).getFirst();
            assertTrue(!java.util.Arrays.equals(base, batched.get(2)), "adapter a2 on q/k changes the logits");
        }
    }
}
