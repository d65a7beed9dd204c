package io.loraplex.engine.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import io.loraplex.cluster.TenantId;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.TinyModel;
import io.loraplex.engine.request.OutputFormat;
import io.loraplex.engine.request.Prompt;
import io.loraplex.engine.request.RequestParams;
import io.loraplex.engine.request.RequestPreparation;
import io.loraplex.engine.sample.FinishReason;
import io.loraplex.engine.sample.SamplingParams;
import io.loraplex.engine.tokenizer.TokenizerKind;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Constrained decoding through the whole engine on a random model with a real tokenizer (byte-level
 * and SentencePiece-style): every constrained output parses and validates against its schema (judged
 * by networknt's validator, not by the engine's grammar); a max_tokens cut-off ends with "length";
 * and in a batch mixing different schemas, free text and adapters, every request gives exactly the
 * tokens it gives alone.
 */
class ConstrainedGenerationTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static final SchemaRegistry VALIDATOR = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);

    @TempDir
    static Path dir;

    record Setup(ServedModel served, Backend backend, Engine engine, RequestPreparation preparation) implements AutoCloseable {
        @Override
        public void close() {
            engine.close();
            backend.close();
            served.close();
        }
    }

    static Setup setup(TokenizerKind kind) throws Exception {
        Path modelDir = dir.resolve(kind.name());
        TinyModel.Spec d = TinyModel.Spec.defaults(11);
        TinyModel.write(modelDir, new TinyModel.Spec(d.arch(), d.hidden(), d.layers(), d.heads(), d.kvHeads(), d.headDim(),
                d.intermediate(), d.vocab(), d.dtype(), d.ropeTheta(), d.ropeScaling(), d.maxPositions(), d.tie(), d.slidingWindow(),
                kind, d.chatStyle(), d.shards(), d.seed()));
        ServedModel served = ServedModel.load(modelDir, "tiny");
        Backend backend = Backends.create(Backends.CPU, served.model(), 2);
        Engine engine = new Engine(backend, served.tokenizer(), served.eosIds(),
                EngineSettings.defaults().withMaxRunning(32).withMemoryBudgetBytes(64L << 20));
        return new Setup(served, backend, engine, RequestPreparation.of(served, 64));
    }

    static SamplingParams constrained(Setup s, String schema, Double temperature, long seed, int maxTokens) {
        RequestParams p = new RequestParams(temperature, null, null, null, null, null, null, Map.of(), seed, maxTokens, List.of(),
                List.of(), false, false, 0);
        return s.preparation().prepare(new Prompt.Text("Answer in JSON:"), p,
                schema == null ? new OutputFormat.JsonObject() : new OutputFormat.JsonSchema(schema)).params();
    }

    static int[] prompt(Setup s) {
        return s.preparation().tokens(new Prompt.Text("Answer in JSON:"));
    }

    @ParameterizedTest
    @EnumSource(TokenizerKind.class)
    void everyConstrainedOutputOfARandomModelParsesAndValidates(TokenizerKind kind) throws Exception {
        try (Setup s = setup(kind)) {
            SplittableRandom random = new SplittableRandom(kind.ordinal() + 3);
            int stopped = 0;
            for (int n = 0; n < 24; n++) {
                ObjectNode schema = io.loraplex.engine.constrain.RandomSchemasAccess.schema(random);
                SamplingParams params = constrained(s, JSON.writeValueAsString(schema), n % 3 == 0 ? 0.0 : 1.0, n, 400);
                Collector c = new Collector();
                s.engine().submit(EngineRequest.generate("r" + n, new TenantId("t"), null, prompt(s), params), c);
                GenerationListener.Completion done = c.await();
                String text = c.text.toString();
                assertEquals(FinishReason.STOP, done.finish().reason(), "schema " + schema + " gave " + text);
                stopped++;
                JsonNode parsed = JSON.readTree(text);
                assertTrue(VALIDATOR.getSchema(schema).validate(parsed).isEmpty(),
                        "schema " + schema + ": the output " + text + " does not validate");
            }
            assertEquals(24, stopped);
        }
    }

    @ParameterizedTest
    @EnumSource(TokenizerKind.class)
    void aJsonObjectRequestGivesAJsonObject(TokenizerKind kind) throws Exception {
        try (Setup s = setup(kind)) {
            for (int n = 0; n < 6; n++) {
                Collector c = new Collector();
                s.engine().submit(EngineRequest.generate("o" + n, new TenantId("t"), null, prompt(s),
                        constrained(s, null, 1.0, n, 400)), c);
                GenerationListener.Completion done = c.await();
                if (done.finish().reason() == FinishReason.STOP) {
                    String text = c.text.toString();
                    JsonNode parsed;
                    try {
                        parsed = JSON.readTree(text);
                    } catch (Exception e) {
                        throw new AssertionError(done.finish() + " " + c.tokens() + " gave no JSON: " + text, e);
                    }
                    assertTrue(parsed.isObject(), text);
                } else {
                    assertTrue(c.text.toString().startsWith("{"), c.text.toString());
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(TokenizerKind.class)
    void aMaxTokensCutOffEndsWithLength(TokenizerKind kind) throws Exception {
        try (Setup s = setup(kind)) {
            String schema = "{\"type\":\"object\",\"properties\":{\"xs\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"},"
                    + "\"minItems\":50}},\"required\":[\"xs\"],\"additionalProperties\":false}";
            Collector c = new Collector();
            s.engine().submit(EngineRequest.generate("cut", new TenantId("t"), null, prompt(s), constrained(s, schema, 1.0, 1L, 12)), c);
            GenerationListener.Completion done = c.await();
            assertEquals(FinishReason.LENGTH, done.finish().reason());
            assertEquals(12, c.count());
            assertTrue(c.text.toString().startsWith("{\"xs\":["), c.text.toString());
        }
    }

    @ParameterizedTest
    @EnumSource(TokenizerKind.class)
    void inAMixedBatchEveryRequestGivesTheTokensItGivesAlone(TokenizerKind kind) throws Exception {
        try (Setup s = setup(kind)) {
            var cfg = s.served().model().config();
            AdapterLoader loader = new AdapterLoader(cfg, 64);
            List<AdapterSpec> adapters = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                Path a = dir.resolve(kind + "-adapter-" + i);
                AdapterWriter.writeRandom(a, cfg, EnumSet.allOf(TargetModule.class), 4, 8.0, false, DType.F32, 50 + i);
                adapters.add(AdapterSpec.loaded(loader.load("a" + i, a)));
            }
            SplittableRandom random = new SplittableRandom(77);
            List<EngineRequest> requests = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                AdapterSpec adapter = i % 4 == 3 ? null : adapters.get(i % 3);
                SamplingParams params = switch (i % 3) {
                    case 0 -> SamplingParams.builder().temperature(0).maxTokens(12).ignoreEos(true).build();
                    case 1 -> SamplingParams.builder().temperature(1).seed((long) i).maxTokens(12).build();
                    default -> constrained(s, JSON.writeValueAsString(io.loraplex.engine.constrain.RandomSchemasAccess.schema(random)),
                            i % 2 == 0 ? 0.0 : 1.0, i, 64);
                };
                requests.add(EngineRequest.generate("m" + i, new TenantId("t" + i % 2), adapter,
                        s.preparation().tokens(new Prompt.Text("Question " + i + ": what is it?")), params));
            }
            List<List<Integer>> alone = new ArrayList<>();
            for (EngineRequest r : requests) {
                Collector c = new Collector();
                s.engine().submit(r, c);
                c.await();
                alone.add(c.tokens());
            }
            List<Collector> together = new ArrayList<>();
            for (EngineRequest r : requests) {
                Collector c = new Collector();
                together.add(c);
                s.engine().submit(r, c);
            }
            for (int i = 0; i < requests.size(); i++) {
                together.get(i).await();
                assertEquals(alone.get(i), together.get(i).tokens(), "request " + i + " (" + (i % 3 == 2 ? "constrained" : "free")
                        + ") changed in the batch");
            }
            assertFalse(alone.isEmpty());
        }
    }
}
