package io.loraplex.engine.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.cluster.TenantId;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.BatchLogits;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.batch.AdapterSpec;
import io.loraplex.engine.batch.Engine;
import io.loraplex.engine.batch.EngineRequest;
import io.loraplex.engine.batch.EngineSettings;
import io.loraplex.engine.batch.GenerationListener;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.model.TinyModel;
import io.loraplex.engine.sample.SamplingParams;
import io.loraplex.engine.tokenizer.ChatMessage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Ten chat pairs on the generated tiny model, 30 epochs at 5e-3: the loss falls by more than half,
 * greedy answers to the trained questions reproduce the trained answers through the serving engine,
 * and the written PEFT directory loads and gives the in-memory adapter's logits.
 */
class TrainerTest {

    static final String[][] PAIRS = {
            {"What are your opening hours?", "We open at eight."},
            {"Do you have oat milk?", "Yes, oat and soy."},
            {"Where are you?", "On Main Street."},
            {"Can I book a table?", "Call us today."},
            {"Is there wifi?", "Yes, it is free."},
            {"Do you sell cake?", "Lemon cake daily."},
            {"Are dogs allowed?", "Dogs are welcome."},
            {"What is the best coffee?", "The house espresso."},
            {"Do you cater events?", "We cater weddings."},
            {"Is it vegan friendly?", "Many vegan plates."},
    };

    @TempDir
    static Path dir;
    static ServedModel served;
    static TrainedAdapter trained;
    static Dataset.Encoded encoded;
    static Path data;

    @BeforeAll
    static void train() throws Exception {
        TinyModel.write(dir.resolve("model"), TinyModel.Spec.defaults(3));
        served = ServedModel.load(dir.resolve("model"), null);
        data = dir.resolve("pairs.jsonl");
        Files.writeString(data, jsonl());
        Dataset.Parsed parsed = Dataset.read(data);
        assertEquals(List.of(), parsed.problems());
        encoded = Dataset.encode(parsed.examples(), new ExampleEncoder(served.chatTemplate().orElseThrow(), served.tokenizer()),
                served.model().config().maxPositionEmbeddings());
        TrainingOptions options = TrainingOptions.defaults(1).withEpochs(30).withLearningRate(5e-3);
        trained = new Trainer(served.model(), options).train(encoded.examples(), ProgressListener.NONE);
    }

    /** Half the pairs in chat form, half as instructions. */
    static String jsonl() throws Exception {
        ObjectMapper json = new ObjectMapper();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < PAIRS.length; i++) {
            var o = json.createObjectNode();
            if (i % 2 == 0) {
                var m = o.putArray("messages");
                m.addObject().put("role", "user").put("content", PAIRS[i][0]);
                m.addObject().put("role", "assistant").put("content", PAIRS[i][1]);
            } else {
                o.put("instruction", PAIRS[i][0]).put("input", "").put("output", PAIRS[i][1]);
            }
            sb.append(json.writeValueAsString(o)).append('\n');
        }
        return sb.toString();
    }

    @Test
    void lossFallsByMoreThanHalf() {
        TrainingStats s = trained.stats();
        assertEquals(9, s.trainExamples());
        assertEquals(1, s.valExamples());
        assertEquals(30 * 3, s.stepLosses().size(), "9 examples in steps of 2×2: 3 steps an epoch");
        double first = s.epochs().getFirst().trainLoss();
        assertTrue(s.finalTrainLoss() < first / 2, "loss " + first + " -> " + s.finalTrainLoss());
    }

    @Test
    void greedyAnswersReproduceTheTrainedAnswers() throws Exception {
        LoraAdapter adapter = trained.adapter("cafe");
        try (Backend backend = Backends.create(Backends.CPU, served.model(), 2);
                Engine engine = new Engine(backend, served.tokenizer(), served.eosIds(),
                        EngineSettings.defaults().withMemoryBudgetBytes(32L << 20))) {
            for (int line : trained.stats().trainLines()) {
                String[] pair = PAIRS[line - 1];
                String prompt = served.chatTemplate().orElseThrow().render(List.of(new ChatMessage("user", pair[0])), true);
                int[] tokens = served.tokenizer().encode(prompt, false);
                StringBuilder text = new StringBuilder();
                CompletableFuture<GenerationListener.Completion> done = new CompletableFuture<>();
                engine.submit(EngineRequest.generate("q" + line, new TenantId("cafe"), AdapterSpec.loaded(adapter), tokens,
                        SamplingParams.builder().temperature(0).maxTokens(32).build()), new GenerationListener() {
                            @Override
                            public void onToken(Token token) {
                                text.append(token.text());
                            }

                            @Override
                            public void onFinish(Completion completion) {
                                text.append(completion.text());
                                done.complete(completion);
                            }
                        });
                done.get(60, TimeUnit.SECONDS);
                assertEquals(pair[1], text.toString(), "answer to '" + pair[0] + "'");
            }
        }
    }

    @Test
    void writtenAdapterLoadsAndGivesTheInMemoryLogits() throws Exception {
        Path out = dir.resolve("adapter");
        trained.write(out, TrainedAdapter.sha256(data));
        LoraAdapter loaded = new AdapterLoader(served.model().config(), 64).load("loaded", out);
        LoraAdapter inMemory = trained.adapter("memory");
        int[] tokens = encoded.examples().getFirst().tokens();
        try (Backend backend = Backends.create(Backends.CPU, served.model(), 2)) {
            List<float[]> logits = BatchLogits.run(backend,
                    List.of(new BatchLogits.Request(inMemory, tokens), new BatchLogits.Request(loaded, tokens),
                            new BatchLogits.Request(null, tokens)), 16);
            assertArrayEquals(logits.get(0), logits.get(1));
            assertTrue(maxDiff(logits.get(0), logits.get(2)) > 1e-3, "the adapter changes the logits");
        }
        JsonNode config = new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
        assertEquals("LORA", config.get("peft_type").asText());
        assertEquals("CAUSAL_LM", config.get("task_type").asText());
        assertEquals(16, config.get("r").asInt());
        assertEquals(32.0, config.get("lora_alpha").asDouble());
        assertEquals(0.05, config.get("lora_dropout").asDouble());
        assertEquals("[\"q_proj\",\"k_proj\",\"v_proj\",\"o_proj\"]", config.get("target_modules").toString());
        assertEquals(false, config.get("use_rslora").asBoolean());
        assertEquals("none", config.get("bias").asText());
        assertTrue(config.get("base_model_name_or_path").asText().endsWith("model"));
        JsonNode training = new ObjectMapper().readTree(out.resolve(TrainedAdapter.TRAINING_FILE).toFile());
        assertEquals(TrainedAdapter.sha256(data), training.get("data_sha256").asText());
        assertEquals(served.model().identity().weights(), training.get("base_identity").get("weights").asText());
        assertEquals(90, training.get("step_losses").size());
        assertEquals(30, training.get("epochs").size());
        assertEquals(5e-3, training.get("options").get("learning_rate").asDouble());
        assertTrue(training.get("final_val_loss").isNumber());
        assertTrue(training.get("base_val_loss").isNumber(), "the base's loss on the held-out example is recorded");
    }

    static double maxDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }

}
