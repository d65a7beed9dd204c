package io.loraplex.engine.train;

import static io.loraplex.engine.LogitAsserts.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.TestModels;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.BatchLogits;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.backend.NumpyReferenceAccess;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.TinyModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA training on a generated Phi-3 (fused checkpoint, LongRoPE, partial rotary): the loss falls,
 * and the written PEFT adapter targets the fused modules (qkv_proj, gate_up_proj) with the stacked
 * ranks in rank_pattern; the engine reads it back to the in-memory adapter's logits, and the NumPy
 * reference, applying it as PEFT does on the fused nn.Linear, agrees.
 */
class Phi3TrainerTest {

    @Test
    void aPhi3AdapterIsTrainedWrittenOnTheFusedModulesAndReadBackWithTheSameSemantics(@TempDir Path dir) throws Exception {
        Path modelDir = dir.resolve("model");
        TinyModel.write(modelDir, new TinyModel.Spec(Architecture.PHI3, 64, 2, 4, 2, null, 128, 800, DType.F32, null, null,
                256, null, 0, null, null, 1, 3));
        ServedModel served = ServedModel.load(modelDir, null);
        Path data = dir.resolve("pairs.jsonl");
        Files.writeString(data, TrainerTest.jsonl());
        Dataset.Parsed parsed = Dataset.read(data);
        Dataset.Encoded encoded = Dataset.encode(parsed.examples(),
                new ExampleEncoder(served.chatTemplate().orElseThrow(), served.tokenizer()),
                served.model().config().maxPositionEmbeddings());
        TrainingOptions options = new TrainingOptions(4, 8, 0.0, EnumSet.allOf(TargetModule.class), true, 8, 2, 1, 5e-3, 0.0,
                0.0, 1.0, false, 0.1, false, 1, 2);
        TrainedAdapter trained = new Trainer(served.model(), options).train(encoded.examples(), ProgressListener.NONE);
        TrainingStats s = trained.stats();
        assertTrue(s.finalTrainLoss() < s.epochs().getFirst().trainLoss(),
                "loss " + s.epochs().getFirst().trainLoss() + " -> " + s.finalTrainLoss());

        Path out = dir.resolve("adapter");
        trained.write(out, TrainedAdapter.sha256(data));
        JsonNode config = new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
        assertEquals("[\"qkv_proj\",\"o_proj\",\"gate_up_proj\",\"down_proj\"]", config.get("target_modules").toString());
        assertEquals(12, config.get("rank_pattern").get("qkv_proj").asInt(), "q, k and v ranks stacked");
        assertEquals(8, config.get("rank_pattern").get("gate_up_proj").asInt());
        assertEquals(24.0, config.get("alpha_pattern").get("qkv_proj").asDouble(), 1e-9, "scale 8/4 kept: 2 · 12");

        LoraAdapter loaded = new AdapterLoader(served.model().config(), 64).load("loaded", out);
        LoraAdapter inMemory = trained.adapter("memory");
        int[] shortPrompt = encoded.examples().getFirst().tokens();
        int[] longPrompt = TestModels.tokens(TinyModel.PHI3_ORIGINAL_MAX + 10, served.model().config().vocabSize(), 9);
        try (Backend cpu = Backends.create(Backends.CPU, served.model(), 2)) {
            for (int[] tokens : List.of(shortPrompt, longPrompt)) {
                List<float[]> logits = BatchLogits.run(cpu, List.of(new BatchLogits.Request(inMemory, tokens),
                        new BatchLogits.Request(loaded, tokens), new BatchLogits.Request(null, tokens)), 16);
                assertClose(logits.get(0), logits.get(1), 1e-5, tokens.length + " tokens: written vs in memory");
                assertTrue(TrainerTest.maxDiff(logits.get(0), logits.get(2)) > 1e-3, "the adapter changes the logits");
                List<float[]> numpy = NumpyReferenceAccess.run(dir, modelDir, out, tokens);
                assertClose(numpy.getFirst(), logits.get(1), 1e-4, tokens.length + " tokens: NumPy (PEFT on fused modules)");
            }
        }
    }
}
