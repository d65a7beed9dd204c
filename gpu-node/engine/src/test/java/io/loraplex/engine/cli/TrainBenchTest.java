package io.loraplex.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.TinyModel;
import io.loraplex.engine.train.EncodedExample;
import io.loraplex.engine.train.TrainingOptions;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code loraplex bench --suite train}: the floor's arithmetic, its flags, and that it reports a floor and chat p50. */
class TrainBenchTest {

    @TempDir
    static Path dir;
    static Path model;

    private record Run(int status, String out, String err) {
    }

    @BeforeAll
    static void writeModel() throws Exception {
        model = dir.resolve("model");
        TinyModel.write(model, new TinyModel.Spec(Architecture.LLAMA, 64, 2, 4, 2, null, 160, 600, DType.F32, null, null, 256,
                null, 0, null, null, 1, 3));
    }

    private static Run bench(String... flags) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> args = new java.util.ArrayList<>(List.of("--suite", "train", "--model", model.toString(), "--threads", "1"));
        args.addAll(List.of(flags));
        int status = EngineCli.run("bench", args.toArray(String[]::new), new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aPassCountsTheFrozenProjectionsTheLmHeadRowsCausalAttentionAndTheLora() {
        // llama test shape: C 64, MLP 160, 2 layers, 4 heads of 16, 2 KV heads, vocab 97; rank 16 on q/k/v/o
        ModelConfig cfg = TestModels.llama(DType.F32);
        TrainingOptions options = TrainingOptions.defaults(1);
        EncodedExample e = new EncodedExample(1, new int[10],
                new boolean[] {false, false, false, false, false, false, true, true, true, true}); // T 10, N 4
        double layerParams = 64 * 64 + 64 * 32 + 64 * 32 + 64 * 64 + 3 * 64 * 160;  // q, k, v, o, gate, up, down
        double frozen = 2 * 10 * layerParams * 2 + 2 * 4 * 64 * 97;             // 2·T·params·L + the lm head's N rows
        double attention = 2 * 10 * 10 * 16 * 4 * 2;                            // 2·T²·HS·NH per layer (causal half of 4·T²)
        double lora = 2 * 10 * 16 * (128 + 96 + 96 + 128) * 2;                   // 2·T·R·Σ(in + out) per layer
        double weightBytes = (layerParams * 2 + 64 * 97) * 4;

        TrainBench.Pass forward = TrainBench.pass(cfg, options, e, false);
        assertEquals(frozen + attention + lora, forward.flops());
        assertEquals(weightBytes, forward.bytes());
        TrainBench.Pass both = TrainBench.pass(cfg, options, e, true);
        assertEquals(2 * frozen + 3 * attention + 3 * lora, both.flops(), "backward: input gradients, attention twice, LoRA twice");
        assertEquals(2 * weightBytes, both.bytes(), "the backward reads every weight again as f32");
        assertEquals(Math.max(both.flops() / 1e9, both.bytes() / 1e8), both.seconds(1e9, 1e8));
    }

    @Test
    void aTrainingShareOutsideZeroToOneIsRefusedNamingTheFlagAndValue() {
        Run r = bench("--training-share", "1.5");
        assertEquals(2, r.status(), r.err());
        assertEquals("loraplex bench: --training-share must be a number in (0, 1], got '1.5'", r.err().strip().lines().toList().getLast());
    }

    @Test
    void fewerThanTwoPairsAreRefusedSinceOneIsHeldOut() {
        Run r = bench("--pairs", "1");
        assertEquals(2, r.status(), r.err());
        assertTrue(r.err().contains("--pairs at least 2 (one is held out)"), r.err());
    }

    @Test
    void theSuiteReportsEachAdaptersTimeBesideItsFloorAndChatP50WithAndWithoutAJob() {
        Run r = bench("--adapters", "1", "--pairs", "3", "--chat-requests", "2");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("measured: f32 matmul"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("adapter 1: ") && l.contains(" floor ")), r.out());
        assertTrue(r.out().contains("chat p50 without a job: "), r.out());
        assertTrue(r.out().contains("during a job: "), r.out());
    }
}
