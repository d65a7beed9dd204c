package io.loraplex.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.TinyModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code --weights} of {@code generate}, {@code logits} and {@code bench}: what it accepts and how it refuses. */
class WeightsFlagTest {

    @TempDir
    static Path dir;
    static Path model;

    private record Run(int status, String out, String err) {
    }

    @BeforeAll
    static void writeModel() throws Exception {
        model = dir.resolve("model");
        TinyModel.write(model, new TinyModel.Spec(Architecture.LLAMA, 64, 2, 4, 2, null, 160, 600, DType.BF16, null, null, 64,
                null, 0, null, null, 1, 3));
    }

    private static Run run(String command, String... flags) {
        List<String> args = new ArrayList<>(List.of("--threads", "1"));
        args.addAll(List.of(flags));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = EngineCli.run(command, args.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void generateRefusesAnUnknownWeightsNamingItAndTheAllowedOnes() {
        Run r = run("generate", "--model", model.toString(), "--prompt", "hi", "--weights", "int2");
        assertEquals(2, r.status(), r.err());
        assertEquals("loraplex generate: --weights: unknown weights 'int2' (use f32, bf16, int8, int4)", r.err().strip());
    }

    @Test
    void logitsRefusesAnUnknownWeightsNamingItAndTheAllowedOnes() throws Exception {
        Path batch = dir.resolve("batch.json");
        Files.writeString(batch, "[{\"adapter\": null, \"tokens\": [1, 2, 3]}]");
        Run r = run("logits", "--model", model.toString(), "--batch", batch.toString(), "--weights", "INT8");
        assertEquals(2, r.status(), r.err());
        assertEquals("loraplex logits: --weights: unknown weights 'INT8' (use f32, bf16, int8, int4)", r.err().strip());
    }

    @Test
    void benchRefusesAnUnknownWeightsInItsListBeforeGeneratingAModel() {
        Run r = run("bench", "--work-dir", dir.resolve("bench").toString(), "--weights", "f32,q4_0");
        assertEquals(2, r.status(), r.err());
        assertEquals("loraplex bench: --weights: unknown weights 'q4_0' (use f32, bf16, int8, int4)", r.err().strip());
        assertTrue(!Files.exists(dir.resolve("bench").resolve("model")), "no model was generated");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"f32", "bf16", "int8", "int4"})
    void generateRunsOnEveryWeights(String weights) {
        Run r = run("generate", "--model", model.toString(), "--prompt", "hello", "--temperature", "0", "--max-tokens", "3",
                "--ignore-eos", "--weights", weights);
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().contains("[length; prompt "), r.err());
    }

    @Test
    void benchMeasuresEachWeightsOfItsListInOneRun() {
        Run r = run("bench", "--work-dir", dir.resolve("bench-run").toString(), "--hidden", "64", "--layers", "1",
                "--heads", "4", "--kv-heads", "2", "--intermediate", "128", "--vocab", "256", "--prompt-tokens", "4",
                "--decode-tokens", "2", "--runs", "1", "--weights", "f32,int8,int4");
        assertEquals(0, r.status(), r.err());
        for (String w : List.of("f32/base", "int8/base", "int8/adapter", "int4/adapter")) {
            assertTrue(r.out().contains(w), w + " in:\n" + r.out());
        }
    }
}
