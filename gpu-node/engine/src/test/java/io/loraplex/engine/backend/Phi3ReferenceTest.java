package io.loraplex.engine.backend;

import static io.loraplex.engine.LogitAsserts.assertBitwise;
import static io.loraplex.engine.LogitAsserts.assertClose;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.PeftModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.TinyModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Phi-3 against tools/reference/reference_logits.py (written from transformers' modeling_phi3 and
 * its longrope init): fused projections split at load, fused PEFT adapters split by rows, LongRoPE
 * on both sides of the original max (64 here) and a partial rotary factor, on the CPU and the
 * reference backend, in one mixed batch across adapters.
 */
class Phi3ReferenceTest {

    /** Shorter than, then longer than, the original max of 64: short then long factors. */
    private static final int SHORT = 20;
    private static final int LONG = 90;

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = DType.class, names = {"F32", "BF16"})
    void phi3LogitsMatchNumpyWithAndWithoutFusedAdaptersOnBothSidesOfTheOriginalMax(DType dtype, @TempDir Path dir)
            throws Exception {
        ModelConfig cfg = TestModels.phi3(dtype);
        assertTrue(LONG > TinyModel.PHI3_ORIGINAL_MAX && SHORT < TinyModel.PHI3_ORIGINAL_MAX);
        Path modelDir = TestModels.write(dir.resolve("model"), cfg, 23);
        Path all = dir.resolve("all");
        Path attn = dir.resolve("attn");
        AdapterWriter.writeRandomModules(all, cfg, PeftModule.of(cfg.architecture()), 8, 16, false, DType.F32, 1);
        AdapterWriter.writeRandomModules(attn, cfg, List.of(PeftModule.QKV_PROJ), 4, 8, true, DType.BF16, 2);

        List<int[]> prompts = List.of(TestModels.tokens(SHORT, cfg.vocabSize(), 1), TestModels.tokens(LONG, cfg.vocabSize(), 2),
                TestModels.tokens(SHORT, cfg.vocabSize(), 3), TestModels.tokens(1, cfg.vocabSize(), 4),
                TestModels.tokens(LONG, cfg.vocabSize(), 5), TestModels.tokens(LONG, cfg.vocabSize(), 6));
        List<Path> adapterDirs = new ArrayList<>(java.util.Arrays.asList(null, all, attn, all, null, attn));
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
                        assertClose(expected.get(i), actual.get(i), 1e-4, dtype + " " + backendName + " request " + i
                                + " (" + prompts.get(i).length + " tokens)");
                    }
                }
            }
        }
    }

    @Test
    void aPhi3RequestsLogitsDoNotDependOnItsBatchMatesShortOrLong(@TempDir Path dir) throws Exception {
        ModelConfig cfg = TestModels.phi3(DType.BF16);
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
                assertBitwise(alone, batched.get(i), "request " + i + " alone vs in the batch");
            }
        }
    }
}
