package io.loraplex.engine.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.tokenizer.ChatMessage;
import io.loraplex.engine.tokenizer.ChatTemplateException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code loraplex tiny-model --arch gemma2|gemma3}: Gemma's config (a window test prompts cross,
 * head_dim apart from hidden/heads, Gemma 2's soft-caps, Gemma 3's layer pattern and local RoPE base),
 * zero-centred norms and post-norms in the weights, Gemma's byte-fallback tokenizer and template.
 */
class TinyModelGemmaTest {

    @ParameterizedTest
    @ValueSource(strings = {"gemma2", "gemma3"})
    void tinyModelWritesGemmasConfigWeightsTokenizerAndTemplate(String arch, @TempDir Path dir) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = EngineCli.run("tiny-model", new String[] {"--out", dir.toString(), "--arch", arch, "--hidden", "64",
                "--layers", "3", "--heads", "4", "--kv-heads", "2", "--intermediate", "128", "--vocab", "800"},
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, status, err.toString(StandardCharsets.UTF_8));

        JsonNode config = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        assertEquals(arch.equals("gemma2") ? "gemma2" : "gemma3_text", config.get("model_type").asText());
        assertEquals("gelu_pytorch_tanh", config.get("hidden_activation").asText());
        assertEquals(32, config.get("head_dim").asInt(), "twice hidden/heads");
        assertEquals(16, config.get("query_pre_attn_scalar").asInt(), "hidden/heads, apart from head_dim");
        assertEquals(16, config.get("sliding_window").asInt());
        assertTrue(config.get("tie_word_embeddings").asBoolean());
        if (arch.equals("gemma2")) {
            assertEquals(50.0, config.get("attn_logit_softcapping").asDouble());
            assertEquals(30.0, config.get("final_logit_softcapping").asDouble());
            assertEquals("[\"sliding_attention\",\"full_attention\",\"sliding_attention\"]", config.get("layer_types").toString());
        } else {
            assertTrue(config.get("final_logit_softcapping").isNull());
            assertEquals(10000.0, config.get("rope_local_base_freq").asDouble());
            assertEquals("[\"sliding_attention\",\"sliding_attention\",\"full_attention\"]", config.get("layer_types").toString());
        }
        String header = new String(Files.readAllBytes(dir.resolve("model.safetensors")), 0, 4096, StandardCharsets.ISO_8859_1);
        assertTrue(header.contains("model.layers.0.pre_feedforward_layernorm.weight")
                && header.contains("model.layers.0.post_feedforward_layernorm.weight"), "Gemma's four norms per layer");
        assertEquals(arch.equals("gemma3"), header.contains("self_attn.q_norm.weight"));

        try (ServedModel served = ServedModel.load(dir, null)) {
            ModelConfig cfg = served.model().config();
            String prompt = served.chatTemplate().orElseThrow().render(List.of(new ChatMessage("system", "Be brief."),
                    new ChatMessage("user", "Hi there")), true);
            assertEquals("<bos><start_of_turn>user\nBe brief.\n\nHi there<end_of_turn>\n<start_of_turn>model\n", prompt);
            ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> served.chatTemplate().orElseThrow()
                    .render(List.of(new ChatMessage("assistant", "first")), true));
            assertEquals("Conversation roles must alternate user/assistant/user/assistant/...", e.templateMessage());
            int end = served.tokenizer().encode("<end_of_turn>", false)[0];
            assertArrayEquals(new int[] {end}, served.tokenizer().encode("<end_of_turn>", false), "<end_of_turn> is one token");
            assertTrue(served.eosIds().contains(end), "<end_of_turn> ends generation");
            int[] hello = served.tokenizer().encode("Hello world", true);
            assertEquals(cfg.bosTokenId(), hello[0], "<bos> first");
            assertNotEquals(served.tokenizer().encode(" Hello", false)[0], served.tokenizer().encode("Hello", false)[0],
                    "no dummy prefix: a leading space is its own '▁'");
            assertEquals("naïve ☕  x", served.tokenizer().decode(served.tokenizer().encode("naïve ☕  x", false), false),
                    "byte fallback round-trips any text, spaces kept");
        }
    }

    /** The whole engine (paged KV cache, continuous batching, decode past the window) on a generated Gemma's chat. */
    @ParameterizedTest
    @ValueSource(strings = {"gemma2", "gemma3"})
    void generateRunsAGemmaChatPastItsWindowTheSameTwice(String arch, @TempDir Path dir) throws Exception {
        Path model = dir.resolve("m");
        PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        assertEquals(0, EngineCli.run("tiny-model", new String[] {"--out", model.toString(), "--arch", arch, "--hidden", "64",
                "--layers", "3", "--heads", "4", "--kv-heads", "2", "--intermediate", "128", "--vocab", "800"}, quiet, quiet));
        Path messages = dir.resolve("messages.json");
        Files.writeString(messages, "[{\"role\": \"system\", \"content\": \"You answer in full sentences.\"},"
                + " {\"role\": \"user\", \"content\": \"Tell me about the weather in the mountains today.\"}]");
        String[] args = {"--model", model.toString(), "--messages", messages.toString(), "--temperature", "0.8", "--seed", "5",
                "--max-tokens", "24", "--threads", "2", "--quiet"};
        String[] outputs = new String[2];
        for (int i = 0; i < 2; i++) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            assertEquals(0, EngineCli.run("generate", args, new PrintStream(out, true, StandardCharsets.UTF_8),
                    new PrintStream(err, true, StandardCharsets.UTF_8)), err.toString(StandardCharsets.UTF_8));
            outputs[i] = out.toString(StandardCharsets.UTF_8);
        }
        assertTrue(!outputs[0].isBlank(), "some text was generated");
        assertEquals(outputs[0], outputs[1], "same seed, same text");
    }
}
