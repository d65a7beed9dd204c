package io.loraplex.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.engine.tokenizer.ChatMessage.ToolCall;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Tool use through the typed chat path (what a node renders for a request): a template that takes
 * {@code tools} renders the tools, calls and results exactly as transformers does (compared with
 * Python Jinja2's output in {@code chat/expected.json}); a template that does not gets them written
 * into plain messages.
 */
class ChatTemplateToolsTest {

    /** The TOOLS of render_expected.py, as OpenAI's client sends them. */
    static String toolsJson() throws IOException {
        return TinyFixtures.MAPPER.writeValueAsString(expectedCase("qwen2.5 tool calls and responses").get("context").get("tools"));
    }

    static JsonNode expectedCase(String name) throws IOException {
        for (JsonNode c : TinyFixtures.MAPPER.readTree(ChatTemplateTest.resource("expected.json")).get("cases")) {
            if (c.get("name").asText().equals(name)) {
                return c;
            }
        }
        throw new IllegalArgumentException("no case " + name);
    }

    /** TOOL_CONVERSATION of render_expected.py with the ids and tool_call_ids OpenAI's clients send. */
    static final List<ChatMessage> CONVERSATION = List.of(
            new ChatMessage("system", "You can call tools."),
            new ChatMessage("user", "Weather in Paris and 2+3?"),
            new ChatMessage("assistant", "", List.of(new ToolCall("call_1", "get_weather", "{\"city\":\"Paris\",\"unit\":\"celsius\"}"),
                    new ToolCall("call_2", "add", "{\"a\": 2, \"b\": 3}")), null, null),
            new ChatMessage("tool", "{\"temperature\": 21, \"sky\": \"clear\"}", List.of(), "call_1", null),
            new ChatMessage("tool", "5", List.of(), "call_2", null),
            new ChatMessage("assistant", "It is 21 °C and clear; 2+3 = 5."),
            new ChatMessage("user", "Thanks!"));

    @Test
    void aQwenTemplateInTokenizerConfigRendersToolsCallsAndResultsAsTransformersDoes() throws IOException {
        Path dir = TinyFixtures.scratch("qwen-tools");
        ObjectNode config = TinyFixtures.MAPPER.createObjectNode();
        config.put("chat_template", ChatTemplateTest.resource("qwen2.5-instruct.jinja"));
        config.put("eos_token", "<|im_end|>");
        config.put("pad_token", "<|endoftext|>");
        Files.writeString(dir.resolve("tokenizer_config.json"), TinyFixtures.MAPPER.writeValueAsString(config));
        ChatTemplate template = ChatTemplate.load(dir).orElseThrow();

        assertTrue(template.takesTools());
        assertEquals(expectedCase("qwen2.5 tool calls and responses").get("expected").asText(),
                template.render(CONVERSATION, toolsJson(), true));
    }

    @Test
    void aMistralTemplateGetsNineCharacterIdsForOpenAisSoARoundTripRendersAsTransformersDoes() throws IOException {
        ChatTemplate template = ChatTemplate.of(ChatTemplateTest.resource("mistral-v3-tools.jinja"), "<s>", "</s>");
        // ids the template takes as they are: exactly what Python's Jinja2 renders
        List<ChatMessage> mistral = List.of(new ChatMessage("system", "You can call tools."),
                new ChatMessage("user", "Weather in Paris and 2+3?"),
                new ChatMessage("assistant", "", List.of(new ToolCall("a1B2c3D4e", "get_weather", "{\"city\":\"Paris\",\"unit\":\"celsius\"}"),
                        new ToolCall("Zz9Yy8Xx7", "add", "{\"a\": 2, \"b\": 3}")), null, null),
                new ChatMessage("tool", "{\"temperature\": 21}", List.of(), "a1B2c3D4e", null),
                new ChatMessage("tool", "5", List.of(), "Zz9Yy8Xx7", null),
                new ChatMessage("assistant", "It is 21 °C; 2+3 = 5."),
                new ChatMessage("user", "Thanks!"));
        assertEquals(expectedCase("mistral v3 tool calls and results").get("expected").asText(), template.render(mistral, toolsJson(), true));
        // the template raises on OpenAI's ids (render_expected.py's "refuses" case); here each becomes a stable 9-character id
        String id = "call_abcdefghijklmnopqrstuvwx";
        String mapped = ChatTemplate.mistralId(id);
        assertTrue(mapped.matches("[A-Za-z0-9]{9}"), mapped);
        assertEquals(mapped, ChatTemplate.mistralId(id), "the same id maps the same way, in the call and in its result");
        String rendered = template.render(List.of(new ChatMessage("user", "Weather?"),
                new ChatMessage("assistant", "", List.of(new ToolCall(id, "get_weather", "{\"city\":\"Bern\"}")), null, null),
                new ChatMessage("tool", "cold", List.of(), id, null)), toolsJson(), true);
        assertTrue(rendered.contains("\"arguments\": {\"city\": \"Bern\"}, \"id\": \"" + mapped + "\"}]</s>"), rendered);
        assertTrue(rendered.contains("[TOOL_RESULTS] {\"content\": \"cold\", \"call_id\": \"" + mapped + "\"}[/TOOL_RESULTS]"), rendered);
        assertFalse(rendered.contains(id));
        // a template without [TOOL_CALLS] gets the ids as sent
        ChatTemplate plain = ChatTemplate.of("{% if tools %}{% endif %}{% for m in messages %}{% if m.tool_call_id %}{{ m.tool_call_id }}{% endif %}{% endfor %}", null, null);
        assertEquals(id, plain.render(List.of(new ChatMessage("user", "x"), new ChatMessage("assistant", "", List.of(new ToolCall(id, "add", "{}")),
                null, null), new ChatMessage("tool", "1", List.of(), id, null)), toolsJson(), false));
    }

    @Test
    void aLlama31TemplateRendersAnAssistantCallAndItsResult() throws IOException {
        ChatTemplate template = ChatTemplate.of(ChatTemplateTest.resource("llama3.1-instruct.jinja"), "<|begin_of_text|>", "<|eot_id|>")
                .withClock(ChatTemplateTest.fixedClock());
        List<ChatMessage> messages = List.of(new ChatMessage("user", "Weather in Paris?"),
                new ChatMessage("assistant", "", List.of(new ToolCall("call_1", "get_weather", "{\"city\": \"Paris\"}")), null, null),
                new ChatMessage("tool", "21 degrees", List.of(), "call_1", null));
        String rendered = template.render(messages, null, true);
        assertTrue(rendered.contains("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eot_id|>"), rendered);
        assertTrue(rendered.contains("<|start_header_id|>ipython<|end_header_id|>\n\n\"21 degrees\"<|eot_id|>"), rendered);
    }

    @Test
    void aTemplateWithoutToolsGetsThemInASystemMessageAndCallsAndResultsAsTaggedText() throws IOException {
        ChatTemplate template = ChatTemplate.of(ChatStyle.CHATML.chatTemplate(), null, "<|im_end|>");
        assertFalse(template.takesTools());

        String rendered = template.render(CONVERSATION, toolsJson(), true);

        String expected = "<|im_start|>system\nYou can call tools.\n\n" + ToolPrompt.TOOLS_HEADER
                + "\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Current weather in a city\", "
                + "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"description\": "
                + "\"City name, e.g. Zürich\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"celsius\", \"fahrenheit\"]}}, "
                + "\"required\": [\"city\"]}}}"
                + "\n{\"type\": \"function\", \"function\": {\"name\": \"add\", \"description\": \"Adds two numbers\", "
                + "\"parameters\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"number\"}, \"b\": {\"type\": \"integer\", "
                + "\"default\": 0}}, \"required\": [\"a\"]}}}"
                + ToolPrompt.TOOLS_FOOTER + "<|im_end|>\n"
                + "<|im_start|>user\nWeather in Paris and 2+3?<|im_end|>\n"
                + "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}"
                + "\n</tool_call>\n<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 2, \"b\": 3}}\n</tool_call><|im_end|>\n"
                + "<|im_start|>user\n<tool_response>\n{\"temperature\": 21, \"sky\": \"clear\"}\n</tool_response>\n"
                + "<tool_response>\n5\n</tool_response><|im_end|>\n"
                + "<|im_start|>assistant\nIt is 21 °C and clear; 2+3 = 5.<|im_end|>\n"
                + "<|im_start|>user\nThanks!<|im_end|>\n"
                + "<|im_start|>assistant\n";
        assertEquals(expected, rendered);
    }

    @Test
    void aChatWithoutToolsRendersAsBefore() throws IOException {
        ChatTemplate template = ChatTemplate.of(ChatTemplateTest.resource("qwen2.5-instruct.jinja"), null, "<|im_end|>");
        JsonNode c = expectedCase("qwen2.5 system+user");
        List<ChatMessage> chat = new java.util.ArrayList<>();
        c.get("messages").forEach(m -> chat.add(new ChatMessage(m.get("role").asText(), m.get("content").asText())));
        assertEquals(c.get("expected").asText(), template.render(chat, null, c.get("add_generation_prompt").asBoolean()));
    }

    @Test
    void toolsThatAreNotAJsonArrayAreRefusedNamingTheProblem() {
        ChatTemplate template = ChatTemplate.of(ChatStyle.CHATML.chatTemplate(), null, "<|im_end|>");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> template.render(List.of(new ChatMessage("user", "hi")), "{\"type\":\"function\"}", true));
        assertEquals("tools must be a JSON array, found OBJECT", e.getMessage());
    }
}
