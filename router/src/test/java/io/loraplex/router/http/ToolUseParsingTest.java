package io.loraplex.router.http;

import static io.loraplex.router.http.RequestParsingTest.chat;
import static io.loraplex.router.http.RequestParsingTest.chatError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.ChatMessage;
import io.loraplex.cluster.node.GpuNodeProtocol.OutputConstraint;
import io.loraplex.router.testkit.TestRouter;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code tools}, {@code tool_choice}, {@code parallel_tool_calls} and tool messages: parsed, or refused naming the field. */
class ToolUseParsingTest {

    static final String MESSAGES = RequestParsingTest.MESSAGES;
    static final String WEATHER = "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather in a city\","
            + "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"],"
            + "\"additionalProperties\":false},\"strict\":true}}";
    static final String TIME = "{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}";
    static final String TOOLS = "\"tools\":[" + WEATHER + "," + TIME + "]";

    static ChatRequest withTools(String extra) {
        return chat("{\"model\":\"m\"," + MESSAGES + "," + TOOLS + (extra.isEmpty() ? "" : "," + extra) + "}");
    }

    static ApiError toolsError(String extra) {
        return chatError("{\"model\":\"m\"," + MESSAGES + "," + extra + "}");
    }

    static void assertInvalid(ApiError e, String param, String message) {
        assertEquals(400, e.status());
        assertEquals(param, e.param());
        assertEquals(message, e.message());
    }

    // --- tools ---

    @Test
    void toolsAreReadWithTheirSchemasAndChoiceDefaultsToAutoWithParallelCalls() {
        ToolUse use = withTools("").toolUse();
        assertEquals(List.of("get_weather", "get_time"), use.tools().stream().map(ToolUse.Tool::name).toList());
        assertEquals("Weather in a city", use.tools().get(0).description());
        assertEquals("object", use.tools().get(0).parameters().get("type").asText());
        assertTrue(use.tools().get(0).strict());
        assertNull(use.tools().get(1).parameters());
        assertEquals(new ToolUse.Choice(ToolUse.Mode.AUTO, null), use.choice());
        assertTrue(use.parallel());
        assertTrue(use.callsPossible());
        assertFalse(use.callsForced());
        assertNull(use.constraint(), "auto leaves the output free");
    }

    @Test
    void aRequestWithoutToolsHasNoToolUse() {
        ChatRequest r = chat("{\"model\":\"m\"," + MESSAGES + "}");
        assertEquals(ToolUse.NONE, r.toolUse());
        assertEquals(new GpuNodeProtocol.ChatPrompt(r.messages(), null), r.prompt());
    }

    @Test
    void theToolsReachTheNodeInOpenAisShapeUnlessTheChoiceIsNone() {
        JsonNode tools = TestRouter.json(((GpuNodeProtocol.ChatPrompt) withTools("").prompt()).toolsJson());
        assertEquals(2, tools.size());
        assertEquals("function", tools.get(0).get("type").asText());
        assertEquals("get_weather", tools.get(0).get("function").get("name").asText());
        assertEquals("city", tools.get(0).get("function").get("parameters").get("required").get(0).asText());
        // a function without parameters takes an empty object
        assertEquals("{\"type\":\"object\",\"properties\":{},\"required\":[],\"additionalProperties\":false}",
                tools.get(1).get("function").get("parameters").toString());
        assertNull(((GpuNodeProtocol.ChatPrompt) withTools("\"tool_choice\":\"none\"").prompt()).toolsJson());
    }

    @Test
    void malformedToolsAreRefusedNamingTheField() {
        assertInvalid(toolsError("\"tools\":{}"), "tools", "'tools' must be an array of tools");
        assertInvalid(toolsError("\"tools\":[]"), "tools", "'tools' must hold at least one tool; leave it out for none");
        assertInvalid(toolsError("\"tools\":[" + ",{}".repeat(129).substring(1) + "]"), "tools",
                "'tools' holds 129 tools, more than the limit of 128");
        assertInvalid(toolsError("\"tools\":[1]"), "tools[0]", "'tools[0]' must be an object");
        assertInvalid(toolsError("\"tools\":[{\"function\":{\"name\":\"f\"}}]"), "tools[0].type", "you must provide 'tools[0].type'");
        assertInvalid(toolsError("\"tools\":[{\"type\":\"web_search\",\"function\":{\"name\":\"f\"}}]"), "tools[0].type",
                "'tools[0].type' must be 'function'; got 'web_search'");
        assertInvalid(toolsError("\"tools\":[{\"type\":\"function\"}]"), "tools[0].function", "you must provide 'tools[0].function'");
        assertInvalid(toolsError("\"tools\":[{\"type\":\"function\",\"function\":{\"description\":\"d\"}}]"), "tools[0].function.name",
                "you must provide 'tools[0].function.name'");
        assertInvalid(toolsError("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get weather\"}}]"), "tools[0].function.name",
                "'tools[0].function.name' must be 1 to 64 letters, digits, underscores or dashes (^[a-zA-Z0-9_-]{1,64}$); got 'get weather'");
        assertInvalid(toolsError("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"" + "f".repeat(65) + "\"}}]"),
                "tools[0].function.name", "'tools[0].function.name' must be 1 to 64 letters, digits, underscores or dashes "
                        + "(^[a-zA-Z0-9_-]{1,64}$); got '" + "f".repeat(65) + "'");
        assertInvalid(toolsError("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"description\":3}}]"),
                "tools[0].function.description", "'tools[0].function.description' must be a string");
        assertInvalid(toolsError("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":\"x\"}}]"),
                "tools[0].function.parameters", "'tools[0].function.parameters' must be a JSON schema object");
        assertInvalid(toolsError("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"string\"}}}]"),
                "tools[0].function.parameters", "'tools[0].function.parameters' must be a JSON schema of type 'object' "
                        + "(a function takes named arguments); got type \"string\"");
        assertInvalid(toolsError("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"strict\":\"yes\"}}]"),
                "tools[0].function.strict", "'tools[0].function.strict' must be a boolean");
        assertInvalid(toolsError("\"tools\":[" + TIME + "," + TIME + "]"), "tools[1].function.name",
                "'tools[1].function.name' is 'get_time', a name an earlier tool already has; function names must be unique");
        ApiError unknown = toolsError("\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"args\":{}}}]");
        assertEquals("tools[0].function.args", unknown.param());
        assertEquals("unknown_parameter", unknown.code());
    }

    // --- tool_choice and parallel_tool_calls ---

    @Test
    void toolChoiceIsReadInEveryForm() {
        assertEquals(new ToolUse.Choice(ToolUse.Mode.NONE, null), withTools("\"tool_choice\":\"none\"").toolUse().choice());
        assertEquals(new ToolUse.Choice(ToolUse.Mode.AUTO, null), withTools("\"tool_choice\":\"auto\"").toolUse().choice());
        assertEquals(new ToolUse.Choice(ToolUse.Mode.REQUIRED, null), withTools("\"tool_choice\":\"required\"").toolUse().choice());
        assertEquals(new ToolUse.Choice(ToolUse.Mode.NAMED, "get_time"),
                withTools("\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}").toolUse().choice());
        assertFalse(withTools("\"parallel_tool_calls\":false").toolUse().parallel());
        assertFalse(withTools("\"tool_choice\":\"none\"").toolUse().callsPossible());
    }

    @Test
    void aBadToolChoiceIsRefusedNamingTheField() {
        assertInvalid(toolsError(TOOLS + ",\"tool_choice\":\"always\""), "tool_choice", "'tool_choice' must be 'none', 'auto', "
                + "'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}; got 'always'");
        assertInvalid(toolsError(TOOLS + ",\"tool_choice\":3"), "tool_choice", "'tool_choice' must be a string or an object naming a function");
        assertInvalid(toolsError(TOOLS + ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_date\"}}"),
                "tool_choice.function.name", "'tool_choice.function.name' is 'get_date', which is not a function in 'tools' "
                        + "(get_weather, get_time)");
        assertInvalid(toolsError(TOOLS + ",\"tool_choice\":{\"type\":\"function\"}"), "tool_choice.function",
                "you must provide 'tool_choice.function'");
        assertInvalid(toolsError(TOOLS + ",\"tool_choice\":{\"type\":\"custom\",\"function\":{\"name\":\"get_time\"}}"),
                "tool_choice.type", "'tool_choice.type' must be 'function'; got 'custom'");
        assertInvalid(toolsError(TOOLS + ",\"parallel_tool_calls\":1"), "parallel_tool_calls", "'parallel_tool_calls' must be a boolean");
        assertInvalid(toolsError("\"tool_choice\":\"auto\""), "tool_choice", "'tool_choice' is only allowed when 'tools' are specified");
        assertInvalid(toolsError("\"parallel_tool_calls\":true"), "parallel_tool_calls",
                "'parallel_tool_calls' is only allowed when 'tools' are specified");
    }

    // --- the constraint of forced calls ---

    @Test
    void aNamedFunctionConstrainsTheOutputToOneCallOfIt() {
        OutputConstraint c = withTools("\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}").toolUse()
                .constraint();
        assertEquals(OutputConstraint.Kind.JSON_SCHEMA, c.kind());
        // the tool's parameters are a definition of the call schema, named by the tool's index
        assertEquals("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"enum\":[\"get_weather\"]},"
                + "\"arguments\":{\"$ref\":\"#/$defs/f0\"}},\"required\":[\"name\",\"arguments\"],\"additionalProperties\":false,"
                + "\"$defs\":{\"f0\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"],"
                + "\"additionalProperties\":false}}}", c.jsonSchema());
    }

    @Test
    void aToolsOwnDefinitionsAndRecursiveReferencesKeepNamingWhatTheyNamedInTheTool() {
        String tree = "{\"type\":\"function\",\"function\":{\"name\":\"plant\",\"parameters\":{\"type\":\"object\","
                + "\"$defs\":{\"kind\":{\"enum\":[\"oak\",\"elm\"]}},\"properties\":{\"kind\":{\"$ref\":\"#/$defs/kind\"},"
                + "\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#\"}},\"tag\":{\"const\":{\"$ref\":\"#\"}}},"
                + "\"required\":[\"kind\",\"children\",\"tag\"]}}}";
        ChatRequest r = chat("{\"model\":\"m\"," + MESSAGES + ",\"tools\":[" + WEATHER + "," + tree + "],"
                + "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"plant\"}}}");
        JsonNode schema = TestRouter.json(r.toolUse().constraint().jsonSchema());
        assertEquals("#/$defs/f1", schema.at("/properties/arguments/$ref").asText());
        JsonNode defs = schema.get("$defs");
        assertEquals(List.of("f1-kind", "f1"), List.copyOf(iterable(defs.fieldNames())));
        assertEquals("[\"oak\",\"elm\"]", defs.get("f1-kind").get("enum").toString());
        assertEquals("#/$defs/f1-kind", defs.at("/f1/properties/kind/$ref").asText());
        assertEquals("#/$defs/f1", defs.at("/f1/properties/children/items/$ref").asText());
        assertEquals("{\"$ref\":\"#\"}", defs.at("/f1/properties/tag/const").toString(), "a value is data, left as written");
        assertFalse(defs.get("f1").has("$defs"));
    }

    @Test
    void aRefusalOfTheCallSchemaNamesThePlaceInTheToolsParameters() {
        ToolUse use = withTools("\"tool_choice\":\"required\"").toolUse();
        assertEquals("the schema keyword 'minimum' (at tools[0].function.parameters.properties.a) is not supported in a tool's "
                + "parameters; supported: type", use.refusal("the schema keyword 'minimum' (at $.$defs.f0.properties.a) is not "
                + "supported in response_format; supported: type"));
        assertEquals("format (at tools[3].function.parameters.$defs.when.properties.at)",
                use.refusal("format (at $.$defs.f3-when.properties.at)"));
        assertEquals("$ref #/$defs/gone names no definition; $ref # too",
                use.refusal("$ref #/$defs/f2-gone names no definition; $ref #/$defs/f2 too"));
        assertEquals("the schema at tools[1].function.parameters admits no finite JSON document: every way through it leads back "
                + "into a $ref", use.refusal("the schema at $.$defs.f1 admits no finite JSON document: every way through it leads "
                + "back into a $ref"));
    }

    static <T> List<T> iterable(java.util.Iterator<T> it) {
        List<T> out = new java.util.ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }

    @Test
    void requiredConstrainsTheOutputToAnArrayOfCallsOfAnyToolOrOneCallWithoutParallelCalls() {
        JsonNode parallel = TestRouter.json(withTools("\"tool_choice\":\"required\"").toolUse().constraint().jsonSchema());
        assertEquals("array", parallel.get("type").asText());
        assertEquals(1, parallel.get("minItems").asInt());
        JsonNode anyOf = parallel.get("items").get("anyOf");
        assertEquals(2, anyOf.size());
        assertEquals("get_weather", anyOf.get(0).get("properties").get("name").get("enum").get(0).asText());
        assertEquals("get_time", anyOf.get(1).get("properties").get("name").get("enum").get(0).asText());
        assertEquals("#/$defs/f0", anyOf.get(0).get("properties").get("arguments").get("$ref").asText());
        assertEquals("{\"type\":\"object\",\"properties\":{},\"required\":[],\"additionalProperties\":false}",
                anyOf.get(1).get("properties").get("arguments").toString());

        JsonNode single = TestRouter.json(withTools("\"tool_choice\":\"required\",\"parallel_tool_calls\":false").toolUse().constraint()
                .jsonSchema());
        assertEquals(2, single.get("anyOf").size());
    }

    // --- messages of tool use ---

    static final String ROUND_TRIP = "\"messages\":[{\"role\":\"user\",\"content\":\"Weather in Paris?\"},"
            + "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":"
            + "{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
            + "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"name\":\"get_weather\",\"content\":\"21 C\"}]";

    @Test
    void assistantCallsAndToolResultsAreReadForTheTemplate() {
        ChatRequest r = chat("{\"model\":\"m\"," + ROUND_TRIP + "," + TOOLS + "}");
        assertEquals(List.of(new ChatMessage("user", "Weather in Paris?"),
                new ChatMessage("assistant", "", List.of(new GpuNodeProtocol.ToolCall("call_1", "get_weather", "{\"city\":\"Paris\"}")),
                        null, null),
                new ChatMessage("tool", "21 C", List.of(), "call_1", "get_weather")), r.messages());
    }

    @Test
    void anAnswersMessageSentBackAsTheSdkReturnsItIsAccepted() {
        // the openai SDK's message of a streamed or parsed answer: refusal null, parsed, annotations
        String echoed = ROUND_TRIP.replace("\"content\":null,\"tool_calls\"",
                "\"content\":null,\"refusal\":null,\"parsed\":null,\"annotations\":[],\"tool_calls\"")
                .replace("\"arguments\":\"{", "\"parsed_arguments\":{\"city\":\"Paris\"},\"arguments\":\"{");
        ChatRequest r = chat("{\"model\":\"m\"," + echoed + "," + TOOLS + "}");
        assertEquals(chat("{\"model\":\"m\"," + ROUND_TRIP + "," + TOOLS + "}").messages(), r.messages());
    }

    static ApiError messagesError(String messages) {
        return chatError("{\"model\":\"m\",\"messages\":" + messages + "}");
    }

    static final String CALL = "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":"
            + "{\"name\":\"f\",\"arguments\":\"{}\"}}]}";

    @Test
    void malformedToolMessagesAreRefusedNamingTheField() {
        assertInvalid(messagesError("[{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"x\"}]"), "messages[0].role",
                "'messages[0].role' is 'tool', but a tool message must answer a preceding assistant message with 'tool_calls'");
        assertInvalid(messagesError("[{\"role\":\"user\",\"content\":\"q\"}," + CALL + ",{\"role\":\"tool\",\"content\":\"x\"}]"),
                "messages[2].tool_call_id", "you must provide 'messages[2].tool_call_id'");
        assertInvalid(messagesError("[{\"role\":\"user\",\"content\":\"q\"}," + CALL
                        + ",{\"role\":\"tool\",\"tool_call_id\":\"call_9\",\"content\":\"x\"}]"), "messages[2].tool_call_id",
                "'messages[2].tool_call_id' is 'call_9', which is not the id of a call of the preceding assistant message (call_1)");
        assertInvalid(messagesError("[{\"role\":\"user\",\"content\":\"q\"}," + CALL
                        + ",{\"role\":\"tool\",\"tool_call_id\":\"call_1\"}]"), "messages[2].content", "you must provide 'messages[2].content'");
        assertInvalid(messagesError("[{\"role\":\"user\",\"content\":\"q\",\"tool_calls\":[]}]"), "messages[0].tool_calls",
                "'messages[0].tool_calls' is only allowed on assistant messages");
        assertInvalid(messagesError("[{\"role\":\"user\",\"content\":\"q\",\"tool_call_id\":\"call_1\"}]"), "messages[0].tool_call_id",
                "'messages[0].tool_call_id' is only allowed on tool messages");
        assertInvalid(messagesError("[{\"role\":\"assistant\",\"tool_calls\":[]}]"), "messages[0].tool_calls",
                "'messages[0].tool_calls' must hold at least one tool call; leave it out for none");
        assertInvalid(messagesError("[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":"
                + "{\"name\":\"f\"}}]}]"), "messages[0].tool_calls[0].function.arguments",
                "you must provide 'messages[0].tool_calls[0].function.arguments'");
        assertInvalid(messagesError("[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":"
                + "{\"name\":\"f\",\"arguments\":\"{}\"}},{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}]"),
                "messages[0].tool_calls[1].id", "'messages[0].tool_calls[1].id' is 'c', the id of an earlier call of this message; "
                        + "call ids must be unique");
        assertInvalid(messagesError("[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":"
                + "{\"name\":\"f\",\"arguments\":{}}}]}]"), "messages[0].tool_calls[0].function.arguments",
                "'messages[0].tool_calls[0].function.arguments' must be a string");
    }

    @Test
    void severalToolResultsMayAnswerTheCallsOfOneAssistantMessage() {
        String calls = "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                + "\"arguments\":\"{}\"}},{\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}";
        ChatRequest r = chat("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}," + calls
                + ",{\"role\":\"tool\",\"tool_call_id\":\"b\",\"content\":\"2\"},{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":\"1\"}]}");
        assertEquals(List.of("b", "a"), r.messages().subList(2, 4).stream().map(ChatMessage::toolCallId).toList());
    }
}
