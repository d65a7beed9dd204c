package io.loraplex.router.http;

import static io.loraplex.router.testkit.TestRouter.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.router.testkit.TestRouter;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Tool calls over HTTP with the node double answering a given text ({@code [say]...}): what reaches
 * the node (tools, tool messages, the constraint of a forced call) and the {@code tool_calls} answer,
 * whole and streamed. That the node's constrained decoding makes a forced call's JSON valid is the
 * engine's to prove; here the double says the JSON.
 */
class ToolCallsApiTest {

    static TestRouter router;

    @BeforeAll
    static void start() {
        router = new TestRouter("tool-calls-api-test", true, "");
    }

    @AfterAll
    static void stop() {
        router.close();
    }

    static final String WEATHER_CALL = "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}";

    /** A chat body: one user message, the weather and time tools, and {@code extra} fields. */
    static ObjectNode body(String content, String extra) {
        ObjectNode body = (ObjectNode) json("{\"model\":\"cafe\"," + ToolUseParsingTest.TOOLS + (extra.isEmpty() ? "" : "," + extra) + "}");
        body.putArray("messages").addObject().put("role", "user").put("content", content);
        return body;
    }

    static HttpResponse<String> post(JsonNode body) {
        return router.post("/v1/chat/completions", body.toString());
    }

    static GpuNodeProtocol.Generate lastGenerate() {
        List<GpuNodeProtocol.Generate> all = router.node.generates;
        return all.getLast();
    }

    @Test
    void aCallInTheAnswerComesBackAsToolCallsWithNullContent() {
        HttpResponse<String> response = post(body("[say]" + WEATHER_CALL, ""));
        assertEquals(200, response.statusCode(), response.body());
        JsonNode choice = json(response.body()).get("choices").get(0);
        assertEquals("tool_calls", choice.get("finish_reason").asText());
        JsonNode message = choice.get("message");
        assertEquals("assistant", message.get("role").asText());
        assertTrue(message.get("content").isNull(), response.body());
        JsonNode call = message.get("tool_calls").get(0);
        assertTrue(call.get("id").asText().matches("call_[A-Za-z0-9]{24}"), call.toString());
        assertEquals("function", call.get("type").asText());
        assertEquals("get_weather", call.get("function").get("name").asText());
        assertEquals("{\"city\":\"Paris\",\"unit\":\"celsius\"}", call.get("function").get("arguments").asText());
        assertEquals(1, message.get("tool_calls").size());

        GpuNodeProtocol.Generate g = lastGenerate();
        GpuNodeProtocol.ChatPrompt prompt = (GpuNodeProtocol.ChatPrompt) g.prompt();
        assertEquals(List.of("get_weather", "get_time"), json(prompt.toolsJson()).findValuesAsText("name"));
        assertNull(g.params().constraint(), "auto leaves the output free");
    }

    @Test
    void anAnswerOfTextStaysContent() {
        HttpResponse<String> response = post(body("hi", ""));
        assertEquals(200, response.statusCode(), response.body());
        JsonNode choice = json(response.body()).get("choices").get(0);
        assertEquals("Hello, world!", choice.get("message").get("content").asText());
        assertFalse(choice.get("message").has("tool_calls"));
        assertEquals("stop", choice.get("finish_reason").asText());
    }

    @Test
    void requiredConstrainsTheNodesOutputAndItsArrayOfCallsBecomesToolCalls() {
        String calls = "[" + WEATHER_CALL + ", {\"name\": \"get_time\", \"arguments\": {}}]";
        HttpResponse<String> response = post(body("[say]" + calls, "\"tool_choice\":\"required\""));
        assertEquals(200, response.statusCode(), response.body());
        JsonNode toolCalls = json(response.body()).get("choices").get(0).get("message").get("tool_calls");
        assertEquals(List.of("get_weather", "get_time"), toolCalls.findValuesAsText("name"));
        assertEquals("{}", toolCalls.get(1).get("function").get("arguments").asText());
        assertTrue(!toolCalls.get(0).get("id").asText().equals(toolCalls.get(1).get("id").asText()), "ids differ");

        GpuNodeProtocol.OutputConstraint constraint = lastGenerate().params().constraint();
        assertEquals(GpuNodeProtocol.OutputConstraint.Kind.JSON_SCHEMA, constraint.kind());
        assertEquals(ToolUseParsingTest.withTools("\"tool_choice\":\"required\"").toolUse().constraint(), constraint);
    }

    @Test
    void aNamedFunctionConstrainsTheOutputToItsCall() {
        HttpResponse<String> response = post(body("[say]" + WEATHER_CALL,
                "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}"));
        assertEquals(200, response.statusCode(), response.body());
        JsonNode choice = json(response.body()).get("choices").get(0);
        assertEquals("tool_calls", choice.get("finish_reason").asText());
        assertEquals("get_weather", choice.get("message").get("tool_calls").get(0).get("function").get("name").asText());
        JsonNode schema = json(lastGenerate().params().constraint().jsonSchema());
        assertEquals("get_weather", schema.get("properties").get("name").get("enum").get(0).asText());
        assertEquals("#/$defs/f0", schema.get("properties").get("arguments").get("$ref").asText());
        assertEquals("city", schema.get("$defs").get("f0").get("required").get(0).asText());
    }

    @Test
    void withToolChoiceNoneTheToolsAreNotRenderedAndJsonStaysText() {
        HttpResponse<String> response = post(body("[say]" + WEATHER_CALL, "\"tool_choice\":\"none\""));
        assertEquals(200, response.statusCode(), response.body());
        JsonNode choice = json(response.body()).get("choices").get(0);
        assertEquals(WEATHER_CALL, choice.get("message").get("content").asText());
        assertEquals("stop", choice.get("finish_reason").asText());
        assertNull(((GpuNodeProtocol.ChatPrompt) lastGenerate().prompt()).toolsJson());
        assertNull(lastGenerate().params().constraint());
    }

    @Test
    void aStreamedCallArrivesAsOpenAisToolCallDeltas() {
        ObjectNode body = body("[say]" + WEATHER_CALL, "\"stream\":true");
        List<JsonNode> events = OpenAiApiTest.events(router.stream("/v1/chat/completions", body.toString()));
        assertNull(events.getLast(), "ends with [DONE]");
        List<JsonNode> chunks = events.subList(0, events.size() - 1);
        assertEquals("assistant", chunks.getFirst().get("choices").get(0).get("delta").get("role").asText());

        JsonNode head = chunks.get(1).get("choices").get(0).get("delta").get("tool_calls").get(0);
        assertEquals(0, head.get("index").asInt());
        assertTrue(head.get("id").asText().startsWith("call_"));
        assertEquals("function", head.get("type").asText());
        assertEquals("get_weather", head.get("function").get("name").asText());
        assertEquals("", head.get("function").get("arguments").asText());

        StringBuilder arguments = new StringBuilder();
        for (JsonNode chunk : chunks.subList(2, chunks.size() - 1)) {
            JsonNode delta = chunk.get("choices").get(0).get("delta");
            assertFalse(delta.has("content"), "no content deltas: " + chunk);
            JsonNode fragment = delta.get("tool_calls").get(0);
            assertEquals(0, fragment.get("index").asInt());
            assertFalse(fragment.has("id"), "only the head names the call");
            arguments.append(fragment.get("function").get("arguments").asText());
        }
        assertTrue(chunks.size() > 4, "the arguments come in several fragments: " + chunks);
        assertEquals("{\"city\":\"Paris\",\"unit\":\"celsius\"}", arguments.toString());
        assertEquals("tool_calls", chunks.getLast().get("choices").get(0).get("finish_reason").asText());
    }

    @Test
    void aStreamedForcedCallStreamsItsArgumentsAsTheyAreGenerated() {
        ObjectNode body = body("[say]" + WEATHER_CALL, "\"stream\":true,\"tool_choice\":{\"type\":\"function\",\"function\":"
                + "{\"name\":\"get_weather\"}}");
        List<JsonNode> events = OpenAiApiTest.events(router.stream("/v1/chat/completions", body.toString()));
        List<JsonNode> chunks = events.subList(1, events.size() - 1); // after the role, before [DONE]
        JsonNode head = chunks.getFirst().get("choices").get(0).get("delta").get("tool_calls").get(0);
        assertEquals("get_weather", head.get("function").get("name").asText());
        assertTrue(head.get("id").asText().startsWith("call_"));
        List<String> fragments = new java.util.ArrayList<>();
        for (JsonNode chunk : chunks.subList(1, chunks.size() - 1)) {
            JsonNode call = chunk.get("choices").get(0).get("delta").get("tool_calls").get(0);
            assertEquals(0, call.get("index").asInt());
            assertFalse(call.has("id"));
            fragments.add(call.get("function").get("arguments").asText());
        }
        // the node sends four characters at a time: the arguments leave as they come, not once complete
        assertEquals("{\"city\": \"Paris\", \"unit\": \"celsius\"}", String.join("", fragments));
        assertTrue(fragments.size() >= 8, fragments.toString());
        assertTrue(fragments.stream().allMatch(f -> f.length() <= 4), fragments.toString());
        assertEquals("tool_calls", chunks.getLast().get("choices").get(0).get("finish_reason").asText());
    }

    @Test
    void aStreamedAnswerOfTextStreamsAsContent() {
        List<JsonNode> events = OpenAiApiTest.events(router.stream("/v1/chat/completions", body("hi", "\"stream\":true").toString()));
        StringBuilder text = new StringBuilder();
        for (JsonNode chunk : events.subList(1, events.size() - 2)) {
            text.append(chunk.get("choices").get(0).get("delta").get("content").asText());
        }
        assertEquals("Hello, world!", text.toString());
        assertEquals("stop", events.get(events.size() - 2).get("choices").get(0).get("finish_reason").asText());
    }

    @Test
    void theToolsResultOnTheNextTurnReachesTheNodeAndTheAnswerIsText() {
        ObjectNode body = body("What is the weather in Paris?", "");
        ArrayNode messages = (ArrayNode) body.get("messages");
        ObjectNode assistant = messages.addObject();
        assistant.put("role", "assistant");
        assistant.putNull("content");
        ObjectNode call = assistant.putArray("tool_calls").addObject();
        call.put("id", "call_abc");
        call.put("type", "function");
        call.putObject("function").put("name", "get_weather").put("arguments", "{\"city\":\"Paris\"}");
        messages.addObject().put("role", "tool").put("tool_call_id", "call_abc").put("content", "21 C, clear");

        HttpResponse<String> response = post(body);
        assertEquals(200, response.statusCode(), response.body());
        JsonNode choice = json(response.body()).get("choices").get(0);
        assertEquals("The tool said: 21 C, clear", choice.get("message").get("content").asText());
        assertEquals("stop", choice.get("finish_reason").asText());

        List<GpuNodeProtocol.ChatMessage> sent = ((GpuNodeProtocol.ChatPrompt) lastGenerate().prompt()).messages();
        assertEquals(List.of(new GpuNodeProtocol.ToolCall("call_abc", "get_weather", "{\"city\":\"Paris\"}")), sent.get(1).toolCalls());
        assertEquals("", sent.get(1).content());
        assertEquals(new GpuNodeProtocol.ChatMessage("tool", "21 C, clear", List.of(), "call_abc", null), sent.get(2));
    }

    @Test
    void aMalformedToolIsRefusedOverHttpNamingIt() {
        HttpResponse<String> response = router.post("/v1/chat/completions", "{\"model\":\"cafe\"," + RequestParsingTest.MESSAGES
                + ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"no spaces\"}}]}");
        OpenAiApiTestSupport.assertError(response, 400, "invalid_request_error", "tools[0].function.name", "invalid_value");
        assertTrue(json(response.body()).get("error").get("message").asText().contains("got 'no spaces'"));
    }
}
