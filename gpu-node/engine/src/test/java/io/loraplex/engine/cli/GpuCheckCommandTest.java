package io.loraplex.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelShape;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code gpu-check} without a GPU: it refuses bad command lines, skips with its reason and exit
 * status 3 where it cannot run, and the arithmetic its reports rest on (decode floors, the model
 * check's tolerance and verdicts, the bench's goals) is what the formulas say.
 */
class GpuCheckCommandTest {

    private record Ran(int status, String out, String err) {
    }

    private static Ran run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = EngineCli.run("gpu-check", args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Ran(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void anUnknownSubcommandIsRefusedListingTheThree(@TempDir Path dir) {
        Ran r = run("kernel", "--out", dir.toString());
        assertEquals(2, r.status());
        assertEquals("loraplex gpu-check: needs one of kernels, model, bench, generate, got [kernel]\n", r.err());
    }

    @Test
    void modelWithoutAShapeIsRefusedNamingTheFlag(@TempDir Path dir) {
        Ran r = run("model", "--out", dir.toString());
        assertEquals(2, r.status());
        assertEquals("loraplex gpu-check: model needs --shape (llama-3.2-1b or llama-3.1-8b)\n", r.err());
    }

    @Test
    void anUnknownShapeIsRefusedNamingTheAllowedOnes(@TempDir Path dir) {
        Ran r = run("bench", "--shape", "llama-70b", "--out", dir.toString());
        assertEquals(2, r.status());
        assertEquals("loraplex gpu-check: --shape: unknown shape 'llama-70b' (use llama-3.2-1b, llama-3.1-8b)\n", r.err());
    }

    @Test
    void withoutAGpuEachDeviceSubcommandSkipsWithItsReasonAndStatusThree(@TempDir Path dir) {
        if (GpuSeams.openGpu(0) instanceof GpuSeams.Opened.Gpu g) {
            g.device().close();
            Assumptions.abort("this machine has a GPU: the skip cannot be seen here");
        }
        for (List<String> args : List.of(List.of("kernels", "--quick"), List.of("model", "--shape", "llama-3.2-1b"),
                List.of("bench", "--shape", "llama-3.1-8b"))) {
            List<String> all = new java.util.ArrayList<>(args);
            all.addAll(List.of("--out", dir.toString(), "--work-dir", dir.resolve("work").toString()));
            Ran r = run(all.toArray(String[]::new));
            assertEquals(GpuCheckCommand.SKIPPED, r.status(), r.err());
            assertTrue(r.err().startsWith("gpu-check " + args.getFirst() + ": skipped: no GPU: "), r.err());
            assertFalse(Files.exists(dir.resolve("work")), "nothing generated for a check that cannot run");
        }
        assertFalse(Files.exists(dir.resolve("kernels.txt")), "a skipped check writes no report that could pass for a result");
    }

    @Test
    void theDecodeFloorCountsWeightsKvAndTheDistinctAdaptersBytesAndTheirFlops() {
        // hidden 8, 1 layer, 2 heads of 4, 1 KV head, MLP 16, vocab 32
        ModelConfig cfg = new ModelConfig(Architecture.LLAMA, 8, 16, 1, 2, 1, 4, 32, 1e-5, 10000.0, null, 128, false, false, false,
                false, 0, Set.of(), DType.BF16, 1, List.of(2), 1.0, null);
        long weights = 8 * 8 + 2 * 8 * 4 + 8 * 8 + 3 * 8 * 16 + 32 * 8; // q, k+v, o, gate+up+down, lm head = 832
        DecodeFloor base = DecodeFloor.of(cfg, 2, 9, 0, 0, 16, Set.of());
        // 2 sequences × 10 positions × 1 layer × (key + value) × 4 wide
        assertEquals(2.0 * (weights + 2 * 10 * 2 * 4), base.bytes());
        assertEquals(2.0 * 2 * weights + 4.0 * 2 * 10 * 8, base.flops());
        Set<TargetModule> q = EnumSet.of(TargetModule.Q_PROJ);
        DecodeFloor adapted = DecodeFloor.of(cfg, 2, 9, 2, 2, 16, q);
        long lora = 16 * (8 + 8); // R·(in + out) of q_proj
        assertEquals(base.bytes() + 2.0 * 2 * lora, adapted.bytes(), "two distinct adapters' pages, bf16");
        assertEquals(base.flops() + 2.0 * 2 * lora, adapted.flops(), "2 FLOPs per A and B element per adapted token");
        DecodeFloor.Peaks peaks = new DecodeFloor.Peaks(1e9, 1e12);
        assertEquals(adapted.bytes() / 1e9, adapted.seconds(peaks));
        assertEquals("memory", adapted.bound(peaks));
    }

    @Test
    void llama8bBatchOneDecodeReadsItsSixteenGigabytesOfWeights() {
        ModelConfig cfg = ModelShape.LLAMA_3_1_8B.config(DType.BF16, 1, List.of(2));
        DecodeFloor f = DecodeFloor.of(cfg, 1, 0, 0, 0, 16, Set.of());
        // 8.03B parameters less the embedding (0.53B), which decode gathers a row of, plus one KV position
        assertEquals(15.0e9, f.bytes(), 0.1e9);
        assertThrows(IllegalArgumentException.class, () -> DecodeFloor.of(cfg, 1, 0, 1, 2, 16, Set.of()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new DecodeFloor.Peaks(0, 1));
        assertEquals("measured peaks must be positive, got 0.0 B/s and 1.0 FLOP/s", e.getMessage());
    }

    @Test
    void theModelChecksToleranceIsHalfABf16StepPerRoundingOverTwoPerLayer() {
        ModelConfig cfg = ModelShape.LLAMA_3_2_1B.config(DType.BF16, 1, List.of(2));
        assertEquals(Math.sqrt(32) / 256 * 10, GpuModelCheck.tolerance(cfg, 10), 1e-12);
    }

    @Test
    void aTokenMayDifferOnlyWhereTheCpusTopTwoAreCloserThanTheTolerance() {
        ModelConfig cfg = new ModelConfig(Architecture.LLAMA, 8, 16, 2, 2, 1, 4, 4, 1e-5, 10000.0, null, 128, false, false, false,
                false, 0, Set.of(), DType.BF16, 1, List.of(2), 1.0, null);
        // range 10, 2 layers: tolerance 2^-8·2·10 ≈ 0.078
        float[] cpu = {10f, 9.95f, 0f, 5f};
        float[] gpuNearTie = {9.96f, 10f, 0f, 5f};
        GpuModelCheck.RowCheck nearTie = GpuModelCheck.RowCheck.of(cfg, cpu, gpuNearTie, 0);
        assertEquals(0, nearTie.cpuToken());
        assertEquals(1, nearTie.gpuToken());
        assertTrue(nearTie.tokensAgree(), "a gap of 0.05 is under the tolerance " + nearTie.tolerance());
        float[] cpuClear = {10f, 9f, 0f, 5f};
        float[] gpuWrong = {9f, 10f, 0f, 5f};
        GpuModelCheck.RowCheck wrong = GpuModelCheck.RowCheck.of(cfg, cpuClear, gpuWrong, 0);
        assertFalse(wrong.tokensAgree());
        assertFalse(wrong.logitsAgree());
        assertEquals(1.0, wrong.maxDiff(), 1e-6);
    }

    @Test
    void theBenchGoalsNameEachVerdict() {
        List<GpuBench.Row> rows = List.of(
                new GpuBench.Row("none", 1, 10, 100, 8.5, 0.85, "memory", null),
                new GpuBench.Row("none", 64, 12, 5333, 9.6, 0.80, "memory", null),
                new GpuBench.Row("distinct q/k/v/o", 64, 14, 4571, 10, 0.70, "memory", null));
        List<String> goals = GpuBench.goals(ModelShape.LLAMA_3_1_8B, rows);
        assertEquals(List.of(
                "batch-1 decode at 85.0% of its floor (goal ≥ 80%): met",
                "lowest share of floor: 70.0% (distinct q/k/v/o, batch 64) (goal: every config ≥ 75%): NOT met",
                "llama-3.1-8b: 64 distinct q/k/v/o adapters at 85.7% of base tok/s (goal for 8B ≥ 90%): NOT met"), goals);
    }

    @Test
    void distinctBenchAdaptersShareOneHostCopyUnderTheirOwnNamesAndHashes() {
        ModelConfig small = new ModelConfig(Architecture.LLAMA, 8, 16, 2, 2, 1, 4, 32, 1e-5, 10000.0, null, 128, false, false, false,
                false, 0, Set.of(), DType.BF16, 1, List.of(2), 1.0, null);
        var source = ServingBench.randomAdapters(small, GpuBench.QKVO, 4, 1, 1).getFirst();
        var copies = GpuBench.copies(source, 3);
        assertEquals(3, copies.size());
        assertEquals(3, copies.stream().map(a -> a.contentHash()).distinct().count());
        assertTrue(copies.get(2).weights(1, TargetModule.Q_PROJ) == source.weights(1, TargetModule.Q_PROJ));
    }
}
