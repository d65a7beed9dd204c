package io.loraplex.router.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.node.GpuNodeProtocol.ToolCall;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** A model's answer read as tool calls (or not), whole and streamed. */
class ToolCallsTest {

    static final ToolUse AUTO = ToolUseParsingTest.withTools("").toolUse();
    static final ToolUse SINGLE = ToolUseParsingTest.withTools("\"parallel_tool_calls\":false").toolUse();
    static final ToolUse REQUIRED = ToolUseParsingTest.withTools("\"tool_choice\":\"required\"").toolUse();

    /** (name, arguments) of each call; ids are random. */
    static List<List<String>> calls(Optional<ToolCalls.Parsed> parsed) {
        return parsed.orElseThrow().calls().stream().map(c -> List.of(c.name(), c.argumentsJson())).toList();
    }

    @Test
    void aBareJsonCallIsACallWithItsArgumentsAsJsonText() {
        Optional<ToolCalls.Parsed> p = ToolCalls.parse(" {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n", AUTO);
        assertEquals(List.of(List.of("get_weather", "{\"city\":\"Paris\"}")), calls(p));
        assertNull(p.get().content());
        ToolCall call = p.get().calls().getFirst();
        assertTrue(call.id().matches("call_[A-Za-z0-9]{24}"), call.id());
    }

    @Test
    void theFormsOfTheTemplatesAreRead() {
        // the constrained array of calls
        assertEquals(List.of(List.of("get_weather", "{\"city\":\"Oslo\"}"), List.of("get_time", "{}")),
                calls(ToolCalls.parse("[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}},{\"name\":\"get_time\",\"arguments\":{}}]",
                        AUTO)));
        // Llama 3.1 writes "parameters"
        assertEquals(List.of(List.of("get_weather", "{\"city\":\"Rome\"}")),
                calls(ToolCalls.parse("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}", AUTO)));
        // Mistral's prefix
        assertEquals(List.of(List.of("get_time", "{}")), calls(ToolCalls.parse("[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {}}]",
                AUTO)));
        // arguments given as a JSON string, as OpenAI sends them
        assertEquals(List.of(List.of("get_weather", "{\"city\":\"Bern\"}")),
                calls(ToolCalls.parse("{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Bern\\\"}\"}", AUTO)));
    }

    @Test
    void toolCallTagsAfterTextGiveTheTextAsContentAndEveryBlockAsACall() {
        Optional<ToolCalls.Parsed> p = ToolCalls.parse("Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                + "{\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>", AUTO);
        assertEquals("Let me check.", p.get().content());
        assertEquals(List.of(List.of("get_weather", "{\"city\":\"Paris\"}"), List.of("get_time", "{}")), calls(p));
        // the model stopped before the close tag
        assertEquals(List.of(List.of("get_time", "{}")), calls(ToolCalls.parse("<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}",
                AUTO)));
    }

    @Test
    void withoutParallelCallsOnlyTheFirstCallIsTaken() {
        assertEquals(List.of(List.of("get_weather", "{\"city\":\"Oslo\"}")),
                calls(ToolCalls.parse("[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}},{\"name\":\"get_time\",\"arguments\":{}}]",
                        SINGLE)));
    }

    @Test
    void textThatIsNotOnlyCallsOfTheToolsIsNoCall() {
        for (String text : List.of("Hello, world!", "{\"name\": \"launch_rockets\", \"arguments\": {}}", "{\"city\": \"Paris\"}",
                "{\"name\": \"get_time\", \"arguments\": {}} and more", "{\"name\": \"get_time\", \"arguments\": 3}",
                "{\"name\": \"get_time\", \"arguments\": {", "[]", "<tool_call>\nnot json\n</tool_call>",
                "<tool_call>{\"name\": \"get_time\"}</tool_call> trailing words")) {
            assertEquals(Optional.empty(), ToolCalls.parse(text, AUTO), text);
        }
    }

    @Test
    void aChoiceOfCallsFinishesWithToolCallsAndOneOfTextIsUnchanged() {
        OpenAiWriter.Choice text = new OpenAiWriter.Choice(0, "Hi", null, "stop");
        assertEquals(text, ToolCalls.answer(text, AUTO));
        OpenAiWriter.Choice call = ToolCalls.answer(new OpenAiWriter.Choice(1, "{\"name\":\"get_time\",\"arguments\":{}}", null, "stop"),
                AUTO);
        assertEquals("tool_calls", call.finishReason());
        assertEquals("", call.text());
        assertEquals(1, call.index());
        assertEquals("get_time", call.toolCalls().getFirst().name());
        // tool_choice none: JSON stays text
        OpenAiWriter.Choice none = new OpenAiWriter.Choice(0, "{\"name\":\"get_time\",\"arguments\":{}}", null, "stop");
        assertEquals(none, ToolCalls.answer(none, ToolUseParsingTest.withTools("\"tool_choice\":\"none\"").toolUse()));
    }

    // --- streaming ---

    /** Feeds {@code pieces} and returns what streamed as content, then the end's content and calls. */
    static List<Object> stream(ToolUse use, String... pieces) {
        ToolCallStream s = new ToolCallStream(use);
        StringBuilder streamed = new StringBuilder();
        for (String piece : pieces) {
            streamed.append(s.onText(piece));
        }
        ToolCallStream.End end = s.finish("");
        return List.of(streamed.toString(), end.content(), end.calls().stream().map(ToolCall::name).toList());
    }

    @Test
    void proseStreamsAsItComes() {
        ToolCallStream s = new ToolCallStream(AUTO);
        assertEquals("Hel", s.onText("Hel"));
        assertEquals("lo ", s.onText("lo <"), "a '<' may begin <tool_call>: held");
        assertEquals("<b", s.onText("b"), "and sent once it does not");
        assertEquals(List.of("Hello, world!", "", List.of()), stream(AUTO, "Hello", ",", " world", "!"));
    }

    @Test
    void anAnswerThatStartsLikeACallIsHeldAndReadAtTheEnd() {
        assertEquals(List.of("", "", List.of("get_time")), stream(AUTO, " {\"na", "me\": \"get_time\", ", "\"arguments\": {}}"));
        assertEquals(List.of("", "", List.of("get_time")), stream(AUTO, "<tool", "_call>\n{\"name\": \"get_time\", \"arguments\": {}}",
                "\n</tool_call>"));
        // held, but no call after all: it goes out as content at the end
        assertEquals(List.of("", "{\"city\": 1}", List.of()), stream(AUTO, "{\"city\"", ": 1}"));
        assertEquals(List.of("<tool>", "", List.of()), stream(AUTO, "<tool>"));
    }

    @Test
    void textBeforeAToolCallTagStreamsAndTheCallIsReadAtTheEnd() {
        assertEquals(List.of("Let me check. ", "", List.of("get_weather")), stream(AUTO, "Let me", " check. <tool_", "call>{\"name\": "
                + "\"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}</tool_call>"));
        // a held '<tool_' that turns out to be prose goes out with what follows
        assertEquals(List.of("a <tool_box>", "", List.of()), stream(AUTO, "a <tool_", "box>"));
    }

    @Test
    void aForcedCallHoldsEverything() {
        ToolCallStream s = new ToolCallStream(REQUIRED);
        assertEquals("", s.onText("Hello"));
        assertEquals(List.of("", "", List.of("get_weather", "get_time")), stream(REQUIRED, "[{\"name\":\"get_weather\",\"arguments\":"
                + "{\"city\":\"Oslo\"}},", "{\"name\":\"get_time\",\"arguments\":{}}]"));
    }
}
