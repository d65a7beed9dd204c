package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tool calls against {@code loraplex serve} with its generated demo model (whose chat template does not
 * take tools: they reach it as a system message), every message through Kryo. A tool result on the next
 * turn works now; the forced calls need the engine's constrained decoding (issue 19's constrained part):
 * without it the tiny model's free text is no JSON.
 */
class ToolCallsIT {

    @TempDir
    static Path work;
    static ServeProcess serve;
    static String cafeKey;
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
