package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Structured outputs and tool calls against {@code loraplex serve} with its generated demo model (whose
 * chat template does not take tools: they reach it as a system message), every message through Kryo:
 * the official openai client over many random schemas and adapters at once
 * ({@code tools/openai-client/structured-e2e.mjs}, checked with a JSON-schema validator library), and
 * tool calls by plain HTTP. Without constrained decoding the tiny model's free text is no JSON.
 */
class StructuredOutputsIT {

    @TempDir
    static Path work;
    static ServeProcess serve;
    static String cafeKey;
    static String metricsKey;
    static final HttpClient http = HttpClient.newHttpClient();
    static final ObjectMapper JSON = new ObjectMapper();

    static final String PARAMETERS = "{\"type\":\"object\",\"properties\":{\"drink\":{\"type\":\"string\",\"enum\":[\"espresso\","
            + "\"latte\"]},\"cups\":{\"type\":\"integer\"},\"to_go\":{\"type\":\"boolean\"}},\"required\":[\"drink\",\"cups\",\"to_go\"],"
            + "\"additionalProperties\":false}";

    @BeforeAll
    static void start() throws Exception {
        Path testConfig = work.resolve("test.conf");
        Files.writeString(testConfig, "pekko.actor.serialize-messages = on\n");
        serve = ServeProcess.start(work, work.resolve("data"), Map.of(), "--config", testConfig.toString());
        cafeKey = JSON.readTree(work.resolve("data/demo-keys.json").toFile()).get("cafe").asText();
        Matcher printedKey = Pattern.compile("(lp-metrics-\\S+)").matcher(serve.printed());
        metricsKey = printedKey.find() ? printedKey.group(1) : null;
    }

    /**
     * The test with the stock client: 48 random schemas of the strict subset (objects, arrays,
     * strings with enum or pattern, numbers, integers, booleans, null, const, anyOf, $defs/$ref) sent at
     * once over the demo adapter, three uploaded ones and the base, half streamed: every completed answer
     * parses and validates (Ajv); json_object answers are objects; unsupported keywords get a 400 naming
     * them, in response_format and in a tool's parameters; tool calls round-trip (call, tool message,
     * answer) streaming and not with arguments valid against a schema using $defs; unconstrained requests
     * give the same tokens beside constrained ones as alone; clients leaving constrained and tool-call
     * streams mid-way leave a server that answers and runs nothing.
     */
    @Test
    void theOfficialClientsStructuredOutputsAndToolCallsWorkOnARealEngine() throws Exception {
        ModelConfig model = ModelConfig.load(work.resolve("data/model"));
        List<String> models = new ArrayList<>(List.of("cafe", EmbeddedServer.DEMO_MODEL_ID));
        for (int i = 1; i <= 3; i++) {
            Path adapter = work.resolve("adapters/shop-" + i);
            AdapterWriter.writeRandom(adapter, model, EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ), 8, 16, false, DType.F32, i);
            Multipart form = new Multipart().field("name", "shop-" + i)
                    .file(ContentHash.CONFIG_FILE, adapter.resolve(ContentHash.CONFIG_FILE))
                    .file(ContentHash.WEIGHTS_FILE, adapter.resolve(ContentHash.WEIGHTS_FILE));
            HttpResponse<String> up = http.send(HttpRequest.newBuilder(URI.create(serve.url() + "/v1/adapters"))
                    .header("Authorization", "Bearer " + cafeKey).header("Content-Type", form.contentType())
                    .POST(form.publisher()).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(201, up.statusCode(), up.body());
            HttpResponse<String> promoted = send("/v1/adapters/shop-" + i + "/promote", "{}");
            assertEquals(200, promoted.statusCode(), promoted.body());
            models.add("shop-" + i);
        }

        Path client = Launcher.repoRoot().resolve("tools/openai-client");
        assertTrue(Files.isDirectory(client.resolve("node_modules/ajv")),
                "the ajv npm package is missing: run npm install in " + client + " (the router module's build does)");
        ProcessBuilder pb = new ProcessBuilder("node", "structured-e2e.mjs").directory(client.toFile());
        pb.environment().put("LORAPLEX_URL", serve.url() + "/v1");
        pb.environment().put("LORAPLEX_KEY", cafeKey);
        pb.environment().put("LORAPLEX_MODELS", String.join(",", models));
        Process node = pb.start();
        CompletableFuture<String> stderr = CompletableFuture.supplyAsync(() -> read(node.getErrorStream()));
        String stdout = read(node.getInputStream());
        assertTrue(node.waitFor(600, TimeUnit.SECONDS), "the client finished");
        assertEquals(0, node.exitValue(), stderr.join() + stdout);
        JsonNode out = JSON.readTree(stdout);
        assertEquals(0, out.get("failures").size(), out.toString());
        assertEquals(48, out.at("/schemas/count").asInt());
        assertTrue(out.at("/schemas/finishes/stop").asInt() >= 40, "most random documents complete: " + out.get("schemas"));
        assertEquals(12, out.get("unsupported").size(), out.get("unsupported").toString());
        assertEquals(6, out.get("roundTrips").size(), out.get("roundTrips").toString());
        out.get("batchInvariance").forEach(same -> assertTrue(same.asBoolean(), out.get("batchInvariance").toString()));
        assertEquals("stop", out.get("afterAborts").asText(), out.toString());

        // the streams the clients left are cancelled on the node, not run to their max_tokens
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        double running;
        do {
            running = nodeRunning();
            Thread.sleep(200);
        } while (running > 0 && System.nanoTime() < deadline);
        assertEquals(0.0, running, "sequences still running on the node after every client left");
    }

    static String read(java.io.InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static HttpResponse<String> send(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(serve.url() + path)).header("Content-Type", "application/json")
                .header("Authorization", "Bearer " + cafeKey).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The node's {@code loraplex_node_running} gauge from /metrics. */
    static double nodeRunning() throws Exception {
        HttpResponse<String> metrics = http.send(HttpRequest.newBuilder(URI.create(serve.url() + "/metrics"))
                .header("Authorization", "Bearer " + metricsKey).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, metrics.statusCode(), "metrics key " + metricsKey);
        Matcher m = Pattern.compile("(?m)^loraplex_node_running\\{[^}]*} (\\S+)$").matcher(metrics.body());
        assertTrue(m.find(), metrics.body());
        return Double.parseDouble(m.group(1));
    }

    @AfterAll
    static void stop() throws Exception {
        if (serve != null) {
            serve.kill();
        }
    }

    static ObjectNode body(String toolChoice) throws Exception {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", "cafe");
        body.put("max_tokens", 200); // room for a whole call: a random model may write a 20-digit integer
        body.put("temperature", 0);
        body.putArray("messages").addObject().put("role", "user").put("content", "Two lattes to go, please.");
        ObjectNode function = body.putArray("tools").addObject().put("type", "function").putObject("function");
        function.put("name", "order");
        function.put("description", "Orders drinks");
        function.set("parameters", JSON.readTree(PARAMETERS));
        if (toolChoice != null) {
            body.set("tool_choice", JSON.readTree(toolChoice));
        }
        return body;
    }

    static JsonNode post(JsonNode body) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(serve.url() + "/v1/chat/completions"))
                .header("Content-Type", "application/json").header("Authorization", "Bearer " + cafeKey)
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }

    @Test
    void aToolResultOnTheNextTurnIsRenderedOnARealNodeAndAnsweredWithText() throws Exception {
        ObjectNode body = body(null);
        ArrayNode messages = (ArrayNode) body.get("messages");
        ObjectNode assistant = messages.addObject().put("role", "assistant");
        assistant.putNull("content");
        assistant.putArray("tool_calls").addObject().put("id", "call_1").put("type", "function").putObject("function")
                .put("name", "order").put("arguments", "{\"drink\":\"latte\",\"cups\":2,\"to_go\":true}");
        messages.addObject().put("role", "tool").put("tool_call_id", "call_1").put("content", "Order 17 is ready.");

        JsonNode choice = post(body).get("choices").get(0);
        assertTrue(List.of("stop", "length", "tool_calls").contains(choice.get("finish_reason").asText()), choice.toString());
        assertTrue(choice.get("message").get("content").isTextual() || choice.get("message").has("tool_calls"), choice.toString());
    }

    @Test
    void aNamedFunctionIsCalledWithArgumentsValidAgainstItsSchema() throws Exception {
        JsonNode choice = post(body("{\"type\":\"function\",\"function\":{\"name\":\"order\"}}")).get("choices").get(0);
        assertEquals("tool_calls", choice.get("finish_reason").asText(), choice.toString());
        assertTrue(choice.get("message").get("content").isNull(), choice.toString());
        JsonNode call = choice.get("message").get("tool_calls").get(0);
        assertEquals("order", call.get("function").get("name").asText());
        assertArgumentsValid(JSON.readTree(call.get("function").get("arguments").asText()));
    }

    @Test
    void requiredCallsAreValidCallsOfTheTools() throws Exception {
        ObjectNode body = body("\"required\"");
        body.put("temperature", 1.0);
        // one call: a random model given an open array of calls (parallel) keeps adding calls until max_tokens
        body.put("parallel_tool_calls", false);
        for (long seed = 1; seed <= 5; seed++) {
            body.put("seed", seed);
            JsonNode choice = post(body).get("choices").get(0);
            assertEquals("tool_calls", choice.get("finish_reason").asText(), choice.toString());
            JsonNode calls = choice.get("message").get("tool_calls");
            assertFalse(calls.isEmpty(), choice.toString());
            for (JsonNode call : calls) {
                assertEquals("order", call.get("function").get("name").asText());
                assertArgumentsValid(JSON.readTree(call.get("function").get("arguments").asText()));
            }
        }
    }

    /** PARAMETERS checked by hand: exactly the three properties, each of its type. */
    static void assertArgumentsValid(JsonNode arguments) {
        assertEquals(List.of("cups", "drink", "to_go"), fieldNames(arguments), arguments.toString());
        assertTrue(List.of("espresso", "latte").contains(arguments.get("drink").asText()), arguments.toString());
        assertTrue(arguments.get("drink").isTextual() && arguments.get("cups").isIntegralNumber() && arguments.get("to_go").isBoolean(),
                arguments.toString());
    }

    static List<String> fieldNames(JsonNode object) {
        List<String> names = new java.util.ArrayList<>();
        object.fieldNames().forEachRemaining(names::add);
        return names.stream().sorted().toList();
    }
}
