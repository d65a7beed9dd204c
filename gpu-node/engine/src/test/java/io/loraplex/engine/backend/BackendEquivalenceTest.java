package io.loraplex.engine.backend;

import static io.loraplex.engine.LogitAsserts.assertClose;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The fast CPU backend against the reference backend, over architectures, dtypes and mixed-adapter
 * batches. Both compute in f32 but sum in different orders; 1e-4 of the largest logit leaves room
 * for that and catches any real mistake (those move logits by O(1)).
 */
class BackendEquivalenceTest {

    static Stream<Arguments> models() {
        return Stream.of(
                Arguments.of("llama-f32", TestModels.llama(DType.F32)),
                Arguments.of("llama-bf16", TestModels.llama(DType.BF16)),
                Arguments.of("qwen2-bf16", TestModels.qwen2(DType.BF16)),
                Arguments.of("qwen2-f16", TestModels.qwen2(DType.F16)),
                Arguments.of("qwen3-f32", TestModels.qwen3(DType.F32)),
                Arguments.of("qwen3-untied-bf16", TestModels.qwen3Untied(DType.BF16)),
                Arguments.of("mistral-f32", TestModels.mistral(DType.F32)),
                Arguments.of("llama-biased-f32", TestModels.llamaBiased(DType.F32)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void cpuMatchesReference(String name, ModelConfig cfg, @TempDir Path dir) throws Exception {
        TestModels.write(dir.resolve("model"), cfg, 11);
        AdapterWriter.writeRandom(dir.resolve("a1"), cfg, EnumSet.allOf(TargetModule.class), 8, 16, false, DType.F32, 1);
        AdapterWriter.writeRandom(dir.resolve("a2"), cfg, EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ,
                TargetModule.DOWN_PROJ), 4, 8, true, DType.BF16, 2);
        try (BaseModel model = BaseModel.load(dir.resolve("model"));
                Backend ref = Backends.create(Backends.REFERENCE, model, 1);
                Backend cpu = Backends.create(Backends.CPU, model, 2)) {
            AdapterLoader loader = new AdapterLoader(cfg, 64);
            LoraAdapter a1 = loader.load("a1", dir.resolve("a1"));
            LoraAdapter a2 = loader.load("a2", dir.resolve("a2"));
            List<BatchLogits.Request> requests = new ArrayList<>();
            requests.add(new BatchLogits.Request(null, TestModels.tokens(9, cfg.vocabSize(), 1)));
            requests.add(new BatchLogits.Request(a1, TestModels.tokens(13, cfg.vocabSize(), 2)));
            requests.add(new BatchLogits.Request(a2, TestModels.tokens(1, cfg.vocabSize(), 3)));
            requests.add(new BatchLogits.Request(a1, TestModels.tokens(6, cfg.vocabSize(), 4)));
            List<float[]> expected = BatchLogits.run(ref, requests, 4);
            List<float[]> actual = BatchLogits.run(cpu, requests, 4);
            for (int i = 0; i < requests.size(); i++) {
                assertClose(expected.get(i), actual.get(i), 1e-4, name + " request " + i);
            }
        }
    }
}
