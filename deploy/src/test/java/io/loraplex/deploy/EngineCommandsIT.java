package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The engine's subcommands through the packaged launcher: tiny-model, generate, logits, bench. */
class EngineCommandsIT {

    @TempDir
    static Path work;
    static Path model;

    @BeforeAll
    static void writeModel() throws Exception {
        model = work.resolve("tiny");
        Launcher.Run r = Launcher.run(work, "tiny-model", "--out", model.toString(), "--seed", "7", "--hidden", "64",
                "--layers", "2", "--intermediate", "128", "--vocab", "600");
        assertEquals(0, r.exit(), r.all());
        assertTrue(r.stdout().contains("LlamaForCausalLM"), r.all());
        for (String f : new String[] {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                "generation_config.json"}) {
            assertTrue(Files.exists(model.resolve(f)), f + " missing");
        }
    }

    @Test
    void helpListsTheCommands() throws Exception {
        Launcher.Run r = Launcher.run(work, "help");
        assertEquals(0, r.exit(), r.all());
        for (String c : new String[] {"tiny-model", "generate", "logits", "bench"}) {
            assertTrue(r.stdout().contains(c), r.stdout());
        }
        Launcher.Run unknown = Launcher.run(work, "frobnicate");
        assertEquals(2, unknown.exit());
        assertTrue(unknown.stderr().contains("unknown command 'frobnicate'"), unknown.all());
    }

    @Test
    void tinyModelIsDeterministicBySeed() throws Exception {
        Path again = work.resolve("again");
        Path other = work.resolve("other");
        String[] shape = {"--hidden", "64", "--layers", "2", "--intermediate", "128", "--vocab", "600"};
        assertEquals(0, Launcher.run(work, concat(new String[] {"tiny-model", "--out", again.toString(), "--seed", "7"}, shape)).exit());
        assertEquals(0, Launcher.run(work, concat(new String[] {"tiny-model", "--out", other.toString(), "--seed", "8"}, shape)).exit());
        for (String f : new String[] {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
            assertEquals(-1L, Files.mismatch(model.resolve(f), again.resolve(f)), f + " differs for the same seed");
        }
        assertNotEquals(-1L, Files.mismatch(model.resolve("model.safetensors"), other.resolve("model.safetensors")));
    }

    @Test
    void generateStreamsTextAndIsReproducibleBySeed() throws Exception {
        String[] args = {"generate", "--model", model.toString(), "--prompt", "Hello there", "--max-tokens", "12",
                "--temperature", "0.8", "--seed", "42", "--ignore-eos"};
        Launcher.Run first = Launcher.run(work, args);
        assertEquals(0, first.exit(), first.all());
        Launcher.Run second = Launcher.run(work, args);
        assertEquals(first.stdout(), second.stdout(), "same seed, same text");
        assertTrue(first.stderr().contains("generated 12 tokens"), first.stderr());
        assertTrue(first.stderr().contains("[length;"), first.stderr());

        Path messages = work.resolve("messages.json");
        Files.writeString(messages, "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi!\"}]");
        Launcher.Run chat = Launcher.run(work, "generate", "--model", model.toString(), "--messages", messages.toString(),
                "--max-tokens", "5", "--temperature", "0");
        assertEquals(0, chat.exit(), chat.all());
    }

    @Test
    void generateRefusesBadInput() throws Exception {
        Launcher.Run both = Launcher.run(work, "generate", "--model", model.toString());
        assertEquals(2, both.exit());
        assertTrue(both.stderr().contains("exactly one of --prompt"), both.all());
        Launcher.Run badTemp = Launcher.run(work, "generate", "--model", model.toString(), "--prompt", "x", "--temperature", "-1");
        assertEquals(2, badTemp.exit());
        assertTrue(badTemp.stderr().contains("temperature"), badTemp.all());
        Launcher.Run badFlag = Launcher.run(work, "generate", "--model", model.toString(), "--prompt", "x", "--tempreature", "1");
        assertEquals(2, badFlag.exit());
        assertTrue(badFlag.stderr().contains("unknown flag --tempreature"), badFlag.all());
        Launcher.Run noModel = Launcher.run(work, "generate", "--model", work.resolve("nope").toString(), "--prompt", "x");
        assertEquals(1, noModel.exit());
        assertTrue(noModel.stderr().contains("config.json"), noModel.all());
        Launcher.Run badAdapter = Launcher.run(work, "generate", "--model", model.toString(), "--adapter",
                work.resolve("no-adapter").toString(), "--prompt", "x");
        assertEquals(2, badAdapter.exit());
        assertTrue(badAdapter.stderr().contains("adapter directory not found"), badAdapter.all());
    }

    @Test
    void logitsPrintsOneEntryPerRequestInTheDocumentedFormat() throws Exception {
        Path batch = work.resolve("batch.json");
        Files.writeString(batch, "[{\"adapter\": null, \"tokens\": [1, 2, 3]}, {\"adapter\": null, \"tokens\": [5]},"
                + " {\"tokens\": [1, 2, 3]}]");
        Launcher.Run r = Launcher.run(work, "logits", "--model", model.toString(), "--batch", batch.toString());
        assertEquals(0, r.exit(), r.all());
        JsonNode out = new ObjectMapper().readTree(r.stdout());
        assertEquals(3, out.size());
        JsonNode config = new ObjectMapper().readTree(model.resolve("config.json").toFile());
        assertEquals(config.get("vocab_size").asInt(), out.get(0).get("logits").size());
        assertEquals(out.get(0), out.get(2), "the same tokens give the same logits");
        assertNotEquals(out.get(0), out.get(1));

        Files.writeString(batch, "[{\"adapter\": null, \"tokens\": [1, 99999]}]");
        Launcher.Run outOfRange = Launcher.run(work, "logits", "--model", model.toString(), "--batch", batch.toString());
        assertEquals(2, outOfRange.exit());
        assertTrue(outOfRange.stderr().contains("tokens[1] = 99999 is outside the vocabulary"), outOfRange.all());
        Files.writeString(batch, "[{\"adapter\": null, \"tokens\": [1, 2]");
        Launcher.Run malformed = Launcher.run(work, "logits", "--model", model.toString(), "--batch", batch.toString());
        assertEquals(2, malformed.exit());
        assertTrue(malformed.stderr().contains("malformed JSON"), malformed.all());
        assertFalse(malformed.stdout().contains("logits"));
    }

    @Test
    void benchReportsPromptAndDecodeRates() throws Exception {
        Launcher.Run r = Launcher.run(work, "bench", "--model", model.toString(), "--prompt-tokens", "8", "--decode-tokens", "4",
                "--runs", "1", "--rank", "4", "--work-dir", work.resolve("bench").toString());
        assertEquals(0, r.exit(), r.all());
        assertTrue(r.stdout().contains("prompt tok/s") && r.stdout().contains("decode tok/s"), r.stdout());
        assertTrue(r.stdout().lines().anyMatch(l -> l.startsWith("base")), r.stdout());
        assertTrue(r.stdout().lines().anyMatch(l -> l.startsWith("adapter")), r.stdout());
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
