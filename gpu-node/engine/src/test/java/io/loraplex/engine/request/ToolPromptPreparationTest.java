package io.loraplex.engine.request;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.ServedModel;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.TinyModel;
import io.loraplex.engine.request.RequestRefusal.Code;
import io.loraplex.engine.tokenizer.ChatMessage;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A chat with tools through the one request preparation: the tools and the tool turns reach the model's prompt. */
class ToolPromptPreparationTest {

    @TempDir
    static Path dir;
    static ServedModel model;
    static RequestPreparation preparation;

    static final String TOOLS = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
            + "\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]";

    @BeforeAll
    static void load() throws Exception {
        Path modelDir = dir.resolve("model");
        TinyModel.write(modelDir, new TinyModel.Spec(Architecture.LLAMA, 64, 2, 4, 2, null, 160, 600, DType.F32, null, null, 2048,
                null, 0, null, null, 1, 5));
        model = ServedModel.load(modelDir, "tiny");
        preparation = RequestPreparation.of(model, 20);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void theToolsAndTheToolTurnsReachThePrompt() {
        List<ChatMessage> messages = List.of(new ChatMessage("user", "Weather in Oslo?"),
                new ChatMessage("assistant", "", List.of(new ChatMessage.ToolCall("call_1", "get_weather", "{\"city\":\"Oslo\"}")), null, null),
                new ChatMessage("tool", "-3 C", List.of(), "call_1", null));
        PreparedRequest p = preparation.prepare(new Prompt.Chat(messages, TOOLS), RequestParams.defaults());

        String prompt = model.tokenizer().decode(p.prompt(), false);
        assertTrue(prompt.contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\""), prompt);
        assertTrue(prompt.contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"), prompt);
        assertTrue(prompt.contains("<tool_response>\n-3 C\n</tool_response>"), prompt);
        String rendered = model.chatTemplate().orElseThrow().render(messages, TOOLS, true);
        assertArrayEquals(model.tokenizer().encode(rendered, false), p.prompt());
    }

    @Test
    void toolsThatAreNotAnArrayAreRefusedNamingMessages() {
        RequestRefusal r = assertThrows(RequestRefusal.class, () -> preparation.prepare(
                new Prompt.Chat(List.of(new ChatMessage("user", "hi")), "{}"), RequestParams.defaults()));
        assertEquals(Code.INVALID_VALUE, r.code());
        assertEquals("messages", r.param());
        assertEquals("the chat template refused the messages: tools must be a JSON array, found OBJECT", r.getMessage());
    }
}
