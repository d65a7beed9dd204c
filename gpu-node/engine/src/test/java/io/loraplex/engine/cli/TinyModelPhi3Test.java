package io.loraplex.engine.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.tokenizer.ChatMessage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code loraplex tiny-model --arch phi3}: a Phi-3 with LongRoPE, fused weights and Phi-3's tokenizer and template. */
class TinyModelPhi3Test {

    @Test
    void tinyModelArchPhi3WritesLongropeFusedWeightsAndPhi3sTemplate(@TempDir Path dir) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = EngineCli.run("tiny-model", new String[] {"--out", dir.toString(), "--arch", "phi3", "--hidden", "64",
                "--layers", "2", "--heads", "4", "--kv-heads", "2", "--intermediate", "128", "--vocab", "800",
                "--max-positions", "256"}, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("Phi3ForCausalLM"), out.toString(StandardCharsets.UTF_8));

        JsonNode config = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        assertEquals("phi3", config.get("model_type").asText());
        assertEquals("longrope", config.get("rope_scaling").get("type").asText());
        assertEquals(6, config.get("rope_scaling").get("long_factor").size(), "rotary 12 of head_dim 16: 6 pairs");
        assertEquals(64, config.get("original_max_position_embeddings").asInt());
        assertEquals(0.75, config.get("partial_rotary_factor").asDouble());
        String header = new String(Files.readAllBytes(dir.resolve("model.safetensors")), 0, 4096, StandardCharsets.ISO_8859_1);
        assertTrue(header.contains("model.layers.0.self_attn.qkv_proj.weight") && header.contains("mlp.gate_up_proj.weight")
                && !header.contains("q_proj"), "fused weights only");

        try (ServedModel served = ServedModel.load(dir, null)) {
            String prompt = served.chatTemplate().orElseThrow().render(List.of(new ChatMessage("user", "Hi there")), true);
            assertEquals("<|user|>\nHi there<|end|>\n<|assistant|>\n", prompt);
            int end = served.tokenizer().encode("<|end|>", false)[0];
            assertArrayEquals(new int[] {end}, served.tokenizer().encode("<|end|>", false), "<|end|> is one special token");
            assertTrue(served.eosIds().contains(end), "<|end|> ends generation");
            assertTrue(served.tokenizer().decode(served.tokenizer().encode("naïve ☕", false), false).equals("naïve ☕"),
                    "byte fallback round-trips any text");
        }
    }
}
