package io.loraplex.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --shape} of {@code tiny-model} and {@code bench}: how it refuses, before anything is generated; and what bench reports. */
class ShapeFlagTest {

    @TempDir
    Path dir;

    private record Run(int status, String out, String err) {
    }

    private static Run run(String command, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = EngineCli.run(command, args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void tinyModelRefusesAnUnknownShapeNamingItAndTheAllowedOnes() {
        Path out = dir.resolve("m");
        Run r = run("tiny-model", "--out", out.toString(), "--shape", "llama-3.1-70b");
        assertEquals(2, r.status(), r.err());
        assertEquals("loraplex tiny-model: --shape: unknown shape 'llama-3.1-70b' (use llama-3.2-1b, llama-3.1-8b)", r.err().strip());
        assertFalse(Files.exists(out.resolve("model.safetensors")), "nothing was written");
    }

    @Test
    void benchRefusesAnUnknownShapeBeforeGeneratingAModel() {
        Path work = dir.resolve("bench");
        Run r = run("bench", "--work-dir", work.toString(), "--shape", "Llama-3.2-1B");
        assertEquals(2, r.status(), r.err());
        assertEquals("loraplex bench: --shape: unknown shape 'Llama-3.2-1B' (use llama-3.2-1b, llama-3.1-8b)", r.err().strip());
        assertFalse(Files.exists(work.resolve("model")), "no model was generated");
    }

    @Test
    void aShapeFlagGivenBesideAShapeIsRefusedNamingBoth() {
        Run r = run("tiny-model", "--out", dir.resolve("m").toString(), "--shape", "llama-3.2-1b", "--hidden", "64");
        assertEquals(2, r.status(), r.err());
        assertEquals("loraplex tiny-model: --shape llama-3.2-1b sets --hidden; give one or the other", r.err().strip());
    }

    @Test
    void benchRefusesAShapeBesideAModelDirectory() {
        Run r = run("bench", "--work-dir", dir.resolve("bench").toString(), "--model", dir.resolve("any").toString(),
                "--shape", "llama-3.1-8b");
        assertEquals(2, r.status(), r.err());
        assertEquals("loraplex bench: --shape llama-3.1-8b generates a model and --model names one; give one or the other",
                r.err().strip());
    }

    @Test
    void benchRefusesANegativeWarmUpCountNamingIt() {
        Run r = run("bench", "--work-dir", dir.resolve("bench").toString(), "--warm-ups", "-1");
        assertEquals(2, r.status(), r.err());
        assertEquals("loraplex bench: --warm-ups must be at least 0, got -1", r.err().strip());
        assertFalse(Files.exists(dir.resolve("bench").resolve("model")), "no model was generated");
    }

    @Test
    void benchReportsLoadTimeResidentMemoryAndTheFloorsOfAGeneratedModel() {
        Run r = run("bench", "--work-dir", dir.resolve("bench").toString(), "--hidden", "64", "--layers", "1", "--heads", "4",
                "--kv-heads", "2", "--intermediate", "128", "--vocab", "256", "--threads", "1", "--prompt-tokens", "4",
                "--decode-tokens", "2", "--runs", "1", "--warm-ups", "1", "--rank", "4");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().matches("(?s).*load: [0-9.]+ s \\(weights float32\\); memory after load: .*"), r.out());
        assertTrue(r.out().contains("memory after the run: "), r.out());
        assertTrue(r.out().contains("KV: 0.25 KiB per position (f32 keys and values of 1 layers)"), r.out());
        assertTrue(r.out().matches("(?s).*floor: decode [0-9.]+ tok/s \\(0\\.000 GB of weights read per token.*"), r.out());
        if (Files.isReadable(Path.of("/proc/self/status"))) {
            assertTrue(r.out().matches("(?s).*memory after load: RSS [0-9.]+ GiB \\(anon [0-9.]+ GiB, file [0-9.]+ GiB\\).*"), r.out());
        }
    }
}
