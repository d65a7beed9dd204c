package io.loraplex.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.tokenizer.ChatMessage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code loraplex tiny-model --arch qwen3} writes a Qwen3 as its checkpoints ship: config, q/k norms, template. */
class TinyModelQwen3CommandTest {

    @Test
    void tinyModelArchQwen3WritesAQwen3WithItsOwnHeadSizeAndThinkingTemplate(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("q3");
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        ByteArrayOutputStream stderr = new ByteArrayOutputStream();
        int status = EngineCli.run("tiny-model", new String[] {"--out", out.toString(), "--arch", "qwen3", "--seed", "2"},
                new PrintStream(stdout, true, StandardCharsets.UTF_8), new PrintStream(stderr, true, StandardCharsets.UTF_8));
        assertEquals(0, status, stderr.toString(StandardCharsets.UTF_8));
        assertTrue(stdout.toString(StandardCharsets.UTF_8).contains("Qwen3ForCausalLM"), stdout.toString(StandardCharsets.UTF_8));

        JsonNode config = new ObjectMapper().readTree(out.resolve("config.json").toFile());
        assertEquals("qwen3", config.get("model_type").asText());
        assertEquals(128, config.get("hidden_size").asInt());
        assertEquals(64, config.get("head_dim").asInt(), "head_dim is not hidden / heads (32)");
        assertEquals(false, config.get("attention_bias").asBoolean());
        assertEquals(true, config.get("tie_word_embeddings").asBoolean());

        try (ServedModel served = ServedModel.load(out, null)) {
            assertTrue(served.model().weights().qNorm[0].hasShape(64));
            String prompt = served.chatTemplate().orElseThrow().render(List.of(new ChatMessage("user", "Hi")), true);
            assertEquals("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", prompt);
            int[] think = served.tokenizer().encode("<think>", false);
            assertEquals(1, think.length, "<think> is one added token");
        }
    }

    @Test
    void anUnknownArchIsRefusedListingQwen3() {
        ByteArrayOutputStream stderr = new ByteArrayOutputStream();
        int status = EngineCli.run("tiny-model", new String[] {"--out", "unused", "--arch", "qwen9"},
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
                new PrintStream(stderr, true, StandardCharsets.UTF_8));
        assertEquals(2, status);
        assertEquals("loraplex tiny-model: --arch: unknown architecture 'qwen9' (use llama, mistral, qwen2, qwen3, phi3, gemma2, gemma3)",
                stderr.toString(StandardCharsets.UTF_8).strip());
    }
}
