package io.loraplex.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.TinyModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code loraplex generate} prepares its request as the GPU node does: the API's limits, the model's context. */
class GenerateCommandTest {

    @TempDir
    static Path dir;
    static Path model;

    private record Run(int status, String out, String err) {
    }

    @BeforeAll
    static void writeModel() throws Exception {
        model = dir.resolve("model");
        TinyModel.write(model, new TinyModel.Spec(Architecture.LLAMA, 64, 2, 4, 2, null, 160, 600, DType.F32, null, null, 64,
                null, 0, null, null, 1, 3));
    }

    private static Run run(String... flags) {
        List<String> args = new ArrayList<>(List.of("--model", model.toString(), "--threads", "1"));
        args.addAll(List.of(flags));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = EngineCli.run("generate", args.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void generatesFromAPromptWithinTheLimits() {
        Run r = run("--prompt", "hello", "--temperature", "0", "--max-tokens", "3", "--ignore-eos");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.err().contains("[length; prompt "), r.err());
    }

    @Test
    void aTemperatureOfFiveIsRefusedAsTheApiRefusesIt() {
        Run r = run("--prompt", "hello", "--temperature", "5");
        assertEquals(2, r.status(), r.err());
        assertEquals("loraplex generate: temperature must be between 0 and 2 (0 = greedy), got 5.0", r.err().strip());
    }

    @Test
    void moreStopStringsThanTheApiAllowsAreRefused() {
        List<String> flags = new ArrayList<>(List.of("--prompt", "hello"));
        for (int i = 0; i < 17; i++) {
            flags.addAll(List.of("--stop", "s" + i));
        }
        Run r = run(flags.toArray(String[]::new));
        assertEquals(2, r.status(), r.err());
        assertEquals("loraplex generate: stop may hold at most 16 strings, got 17", r.err().strip());
    }

    @Test
    void maxTokensBeyondTheModelsContextIsRefusedAsTheNodeRefusesIt() {
        Run r = run("--prompt", "hello", "--max-tokens", "64");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().startsWith("loraplex generate: This model's maximum context length is 64 tokens. However, you requested "),
                r.err());
    }
}
