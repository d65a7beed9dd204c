package io.loraplex.engine.train;

import static io.loraplex.engine.LogitAsserts.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.TestModels;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.backend.BatchLogits;
import io.loraplex.engine.backend.NumpyReferenceTest;
import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.lora.AdapterConfig;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.TinyModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * LoRA training on Gemma 2 and 3: the training forward (through the (1 + w) norms and post-norms,
 * GeGLU, the embedding scale, the attention and final soft-caps, Gemma 3's two RoPE bases and q/k
 * norms) gives the serving engine's loss, and a trained adapter is written as PEFT and read back by
 * the engine as the independent NumPy reference reads it. The gradients are checked by
 * {@link ModelGradientTest}.
 */
class GemmaTrainingTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"gemma2", "gemma3"})
    void theTrainingForwardGivesTheServingEnginesLossOnAGemma(String arch) throws Exception {
        ModelConfig cfg = arch.equals("gemma2") ? TestModels.gemma2(DType.F32) : TestModels.gemma3(DType.F32);
        try (BaseModel model = BaseModel.load(TestModels.write(dir.resolve("m"), cfg, 9)); WorkerPool pool = new WorkerPool(2);
                Backend cpu = Backends.create(Backends.CPU, model, 2)) {
            LoraParameters lora = new LoraParameters(cfg, EnumSet.allOf(TargetModule.class), 2, 1.5, 3);
            SplittableRandom random = new SplittableRandom(4);
            for (LoraParameters.Module m : lora.all()) {
                for (int i = 0; i < m.b.length; i++) {
                    m.b[i] = random.nextDouble(-0.5, 0.5);
                }
            }
            int[] tokens = TestModels.tokens(10, cfg.vocabSize(), 5);
            boolean[] target = {false, false, true, false, true, true, false, true, true, true};
            double training = new TrainingModel(cfg, model.weights(), lora, new FrozenLinear(pool, FrozenLinear.Precision.F64))
                    .loss(new EncodedExample(1, tokens, target));

            AdapterConfig config = new AdapterConfig(2, 3.0, 0, false, List.of("q_proj", "k_proj", "v_proj", "o_proj",
                    "gate_proj", "up_proj", "down_proj"), null, Map.of(), Map.of(), List.of(), null, null);
            LoraAdapter adapter = new LoraAdapter("random", new ContentHash("ab".repeat(32)), config, lora.toWeights());
            // the serving loss: each target token against the logits of its prefix
            List<BatchLogits.Request> prefixes = new ArrayList<>();
            List<Integer> next = new ArrayList<>();
            for (int t = 1; t < tokens.length; t++) {
                if (target[t]) {
                    prefixes.add(new BatchLogits.Request(adapter, java.util.Arrays.copyOf(tokens, t)));
                    next.add(tokens[t]);
                }
            }
            List<float[]> logits = BatchLogits.run(cpu, prefixes, 4);
            double serving = 0;
            for (int i = 0; i < logits.size(); i++) {
                double max = Double.NEGATIVE_INFINITY;
                for (float v : logits.get(i)) {
                    max = Math.max(max, v);
                }
                double sum = 0;
                for (float v : logits.get(i)) {
                    sum += Math.exp(v - max);
                }
                serving += max + Math.log(sum) - logits.get(i)[next.get(i)];
            }
            assertEquals(serving, training, 1e-4 * Math.abs(serving), "summed loss of " + next.size() + " target tokens");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gemma2", "gemma3"})
    void aGemmaAdapterOnAllLinearsTrainsAndReadsBackAsPeftSays(String arch) throws Exception {
        Path modelDir = dir.resolve("model");
        // a window of 16 that the chat examples cross; Gemma 3's third layer global
        TinyModel.write(modelDir, new TinyModel.Spec(Architecture.fromName(arch), 64, 3, 4, 2, null, 128, 800, DType.F32, null,
                null, 4096, null, 0, null, null, 1, 3));
        Path data = dir.resolve("pairs.jsonl");
        Files.writeString(data, TrainerTest.jsonl());
        try (ServedModel served = ServedModel.load(modelDir, null)) {
            assertEquals(32, served.model().config().headDim(), "generated Gemma: head size twice hidden / heads");
            Dataset.Parsed parsed = Dataset.read(data);
            Dataset.Encoded encoded = Dataset.encode(parsed.examples(),
                    new ExampleEncoder(served.chatTemplate().orElseThrow(), served.tokenizer()), 4096);
            assertEquals(List.of(), encoded.problems());
            TrainingOptions options = new TrainingOptions(8, 16, 0.0, EnumSet.allOf(TargetModule.class), true, 12, 2, 1, 5e-3,
                    0.0, 0.0, 1.0, false, 0.0, false, 1, 2);
            TrainedAdapter trained = new Trainer(served.model(), options).train(encoded.examples(), ProgressListener.NONE);
            double first = trained.stats().epochs().getFirst().trainLoss();
            assertTrue(trained.stats().finalTrainLoss() < first / 2, "loss " + first + " -> " + trained.stats().finalTrainLoss());

            Path out = dir.resolve("adapter");
            trained.write(out, TrainedAdapter.sha256(data));
            assertEquals("[\"q_proj\",\"k_proj\",\"v_proj\",\"o_proj\",\"gate_proj\",\"up_proj\",\"down_proj\"]",
                    new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile()).get("target_modules").toString());
            LoraAdapter loaded = new AdapterLoader(served.model().config(), 64).load("loaded", out);
            int[] tokens = encoded.examples().getFirst().tokens();
            List<float[]> engine;
            try (Backend cpu = Backends.create(Backends.CPU, served.model(), 2)) {
                engine = BatchLogits.run(cpu, List.of(new BatchLogits.Request(trained.adapter("memory"), tokens),
                        new BatchLogits.Request(loaded, tokens)), 16);
            }
            assertArrayEquals(engine.get(0), engine.get(1), "written and read back == in memory");
            Path batch = dir.resolve("batch.json");
            Files.writeString(batch, "[{\"adapter\":\"" + out + "\",\"tokens\":" + TestModels.json(tokens) + "}]");
            assertClose(NumpyReferenceTest.runNumpy(modelDir, batch).getFirst(), engine.get(1), 1e-4,
                    "engine vs NumPy reference on the written adapter");
        }
    }
}
