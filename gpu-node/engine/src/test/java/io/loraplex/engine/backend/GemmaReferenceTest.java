package io.loraplex.engine.backend;

import static io.loraplex.engine.LogitAsserts.assertBitwise;
import static io.loraplex.engine.LogitAsserts.assertClose;
import static io.loraplex.engine.LogitAsserts.maxDiff;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.PeftModule;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Gemma 2 and Gemma 3 against tools/reference/reference_logits.py (written from transformers'
 * modeling_gemma2 / modeling_gemma3): (1 + w) norms before and after attention and the MLP, GeGLU,
 * √C-scaled embeddings (rounded to bf16 for a bf16 model), query_pre_attn_scalar, soft-capped
 * attention scores and logits (Gemma 2), sliding layers beside global ones with prompts longer than
 * the window, Gemma 3's q/k norms and its two RoPE bases (rope_scaling on the global layer only), on
 * the CPU and the reference backend, in one mixed batch across adapters on every projection.
 */
class GemmaReferenceTest {

    /** Longer than the test models' window of 5, and one shorter. */
    private static final int LONG = 23;
    private static final int SHORT = 4;

    static List<Arguments> models() {
        List<Arguments> out = new ArrayList<>();
        for (String arch : List.of("gemma2", "gemma3")) {
            for (DType dtype : List.of(DType.F32, DType.BF16)) {
                out.add(Arguments.of(arch, dtype));
            }
        }
        return out;
    }

    private static ModelConfig config(String arch, DType dtype) {
        Function<DType, ModelConfig> make = arch.equals("gemma2") ? TestModels::gemma2 : TestModels::gemma3;
        return make.apply(dtype);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("models")
    void gemmaLogitsMatchNumpyWithAndWithoutAdaptersInAMixedBatch(String arch, DType dtype, @org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        ModelConfig cfg = config(arch, dtype);
        Path modelDir = TestModels.write(dir.resolve("model"), cfg, 31);
        Path all = dir.resolve("all");
        Path attn = dir.resolve("attn");
        AdapterWriter.writeRandomModules(all, cfg, PeftModule.of(cfg.architecture()), 8, 16, false, DType.F32, 1);
        AdapterWriter.writeRandomModules(attn, cfg, PeftModule.of(cfg.architecture()).stream()
                .filter(m -> m.parts().getFirst() == TargetModule.Q_PROJ || m.parts().getFirst() == TargetModule.V_PROJ
                        || m.parts().getFirst() == TargetModule.DOWN_PROJ).toList(), 4, 8, true, DType.BF16, 2);

        List<int[]> prompts = List.of(TestModels.tokens(LONG, cfg.vocabSize(), 1), TestModels.tokens(SHORT, cfg.vocabSize(), 2),
                TestModels.tokens(LONG, cfg.vocabSize(), 3), TestModels.tokens(1, cfg.vocabSize(), 4),
                TestModels.tokens(LONG, cfg.vocabSize(), 5), TestModels.tokens(SHORT + 3, cfg.vocabSize(), 6));
        List<Path> adapterDirs = new ArrayList<>(java.util.Arrays.asList(null, all, attn, all, all, null));
        StringBuilder batch = new StringBuilder("[");
        for (int i = 0; i < prompts.size(); i++) {
            batch.append(i == 0 ? "" : ",").append("{\"adapter\":")
                    .append(adapterDirs.get(i) == null ? "null" : "\"" + adapterDirs.get(i) + "\"")
                    .append(",\"tokens\":").append(TestModels.json(prompts.get(i))).append("}");
        }
        Path batchFile = dir.resolve("batch.json");
        Files.writeString(batchFile, batch.append("]").toString());
        List<float[]> expected = NumpyReferenceTest.runNumpy(modelDir, batchFile);

        try (BaseModel model = BaseModel.load(modelDir)) {
            AdapterLoader loader = new AdapterLoader(cfg, 64);
            LoraAdapter allAdapter = loader.load("all", all);
            LoraAdapter attnAdapter = loader.load("attn", attn);
            List<BatchLogits.Request> requests = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                Path a = adapterDirs.get(i);
                requests.add(new BatchLogits.Request(a == null ? null : a.equals(all) ? allAdapter : attnAdapter, prompts.get(i)));
            }
            for (String backendName : List.of(Backends.CPU, Backends.REFERENCE)) {
                try (Backend backend = Backends.create(backendName, model, 2)) {
                    List<float[]> actual = BatchLogits.run(backend, requests, 4);
                    for (int i = 0; i < prompts.size(); i++) {
                        assertClose(expected.get(i), actual.get(i), 1e-4, arch + " " + dtype + " " + backendName + " request " + i
                                + " (" + prompts.get(i).length + " tokens)");
                    }
                }
            }
            // the adapters change the logits well beyond the tolerance, so the comparison above saw them
            try (Backend cpu = Backends.create(Backends.CPU, model, 2)) {
                float[] base = BatchLogits.run(cpu, List.of(new BatchLogits.Request(null, prompts.get(2))), 4).getFirst();
                assertTrue(maxDiff(base, expected.get(2)) > 1e-2, "the attn adapter changes request 2");
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("models")
    void aGemmaRequestsLogitsDoNotDependOnItsBatchMates(String arch, DType dtype, @org.junit.jupiter.api.io.TempDir Path dir)
            throws Exception {
        ModelConfig cfg = config(arch, dtype);
        Path modelDir = TestModels.write(dir.resolve("model"), cfg, 7);
        AdapterWriter.writeRandomModules(dir.resolve("a"), cfg, PeftModule.of(cfg.architecture()), 8, 16, false, DType.F32, 3);
        try (BaseModel model = BaseModel.load(modelDir); Backend cpu = Backends.create(Backends.CPU, model, 2)) {
            LoraAdapter a = new AdapterLoader(cfg, 64).load("a", dir.resolve("a"));
            List<BatchLogits.Request> requests = List.of(
                    new BatchLogits.Request(a, TestModels.tokens(LONG, cfg.vocabSize(), 1)),
                    new BatchLogits.Request(null, TestModels.tokens(SHORT, cfg.vocabSize(), 2)),
                    new BatchLogits.Request(a, TestModels.tokens(SHORT, cfg.vocabSize(), 3)),
                    new BatchLogits.Request(null, TestModels.tokens(LONG, cfg.vocabSize(), 4)));
            List<float[]> batched = BatchLogits.run(cpu, requests, 4);
            for (int i = 0; i < requests.size(); i++) {
                float[] alone = BatchLogits.run(cpu, List.of(requests.get(i)), 4).getFirst();
                assertBitwise(alone, batched.get(i), arch + " request " + i + " alone vs in the batch");
            }
        }
    }
}
