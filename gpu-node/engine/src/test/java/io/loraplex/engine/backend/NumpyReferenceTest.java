package io.loraplex.engine.backend;

import static io.loraplex.engine.LogitAsserts.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.engine.TestModels;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The engine's logits against tools/reference/reference_logits.py, an independent float64 NumPy
 * implementation of the same models. The engine computes in f32 from the same stored weights:
 * over 2 layers and ≤ 20 tokens its rounding stays near 1e-6 of the largest logit (the reference's
 * README measures this); 1e-4 leaves margin and still catches any semantic mistake.
 */
public class NumpyReferenceTest {

    static Stream<Arguments> models() {
        return Stream.of(
                Arguments.of("llama-gqa-untied-f32", TestModels.llama(DType.F32)),
                Arguments.of("llama-gqa-untied-bf16", TestModels.llama(DType.BF16)),
                Arguments.of("qwen2-bias-tied-f32", TestModels.qwen2(DType.F32)),
                Arguments.of("qwen2-bias-tied-bf16", TestModels.qwen2(DType.BF16)),
                Arguments.of("qwen3-qknorm-tied-f32", TestModels.qwen3(DType.F32)),
                Arguments.of("qwen3-qknorm-tied-bf16", TestModels.qwen3(DType.BF16)),
                Arguments.of("qwen3-qknorm-untied-f32", TestModels.qwen3Untied(DType.F32)),
                Arguments.of("qwen3-qknorm-untied-bf16", TestModels.qwen3Untied(DType.BF16)),
                Arguments.of("mistral-window-f16", TestModels.mistral(DType.F16)),
                Arguments.of("llama-biases-headdim-linear-rope", TestModels.llamaBiased(DType.F32)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void engineMatchesNumpy(String name, ModelConfig cfg, @TempDir Path dir) throws Exception {
        Path modelDir = TestModels.write(dir.resolve("model"), cfg, 17);
        Path all = dir.resolve("all-linear");
        Path attn = dir.resolve("attn");
        AdapterWriter.writeRandom(all, cfg, EnumSet.allOf(TargetModule.class), 8, 16, false, DType.F32, 1);
        AdapterWriter.writeRandom(attn, cfg, EnumSet.of(TargetModule.Q_PROJ, TargetModule.K_PROJ, TargetModule.V_PROJ,
                TargetModule.O_PROJ), 4, 8, true, DType.BF16, 2);

        List<int[]> prompts = List.of(TestModels.tokens(12, cfg.vocabSize(), 1), TestModels.tokens(20, cfg.vocabSize(), 2),
                TestModels.tokens(1, cfg.vocabSize(), 3), TestModels.tokens(7, cfg.vocabSize(), 4));
        List<Path> adapterDirs = new ArrayList<>();
        adapterDirs.add(null);
        adapterDirs.add(all);
        adapterDirs.add(attn);
        adapterDirs.add(all);
        StringBuilder batch = new StringBuilder("[");
        for (int i = 0; i < prompts.size(); i++) {
            batch.append(i == 0 ? "" : ",").append("{\"adapter\":")
                    .append(adapterDirs.get(i) == null ? "null" : "\"" + adapterDirs.get(i) + "\"")
                    .append(",\"tokens\":").append(TestModels.json(prompts.get(i))).append("}");
        }
        Path batchFile = dir.resolve("batch.json");
        Files.writeString(batchFile, batch.append("]").toString());
        List<float[]> expected = runNumpy(modelDir, batchFile);

        try (BaseModel model = BaseModel.load(modelDir); Backend cpu = Backends.create(Backends.CPU, model, 2)) {
            AdapterLoader loader = new AdapterLoader(cfg, 64);
            LoraAdapter allAdapter = loader.load("all", all);
            LoraAdapter attnAdapter = loader.load("attn", attn);
            List<BatchLogits.Request> requests = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                Path a = adapterDirs.get(i);
                requests.add(new BatchLogits.Request(a == null ? null : a.equals(all) ? allAdapter : attnAdapter, prompts.get(i)));
            }
            List<float[]> actual = BatchLogits.run(cpu, requests, 4);
            for (int i = 0; i < prompts.size(); i++) {
                assertClose(expected.get(i), actual.get(i), 1e-4, name + " request " + i);
            }
        }
    }

    public static List<float[]> runNumpy(Path modelDir, Path batchFile) throws Exception {
        Path script = TestModels.repoRoot().resolve("tools/reference/reference_logits.py");
        Process p = new ProcessBuilder("python3", script.toString(), "--model", modelDir.toString(), "--batch",
                batchFile.toString()).redirectError(ProcessBuilder.Redirect.PIPE).start();
        byte[] out = p.getInputStream().readAllBytes();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor(120, TimeUnit.SECONDS);
        assertEquals(0, p.exitValue(), "reference_logits.py failed: " + err);
        JsonNode root = new ObjectMapper().readTree(out);
        List<float[]> logits = new ArrayList<>();
        for (JsonNode entry : root) {
            JsonNode values = entry.get("logits");
            float[] v = new float[values.size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) values.get(i).asDouble();
            }
            logits.add(v);
        }
        return logits;
    }
}
