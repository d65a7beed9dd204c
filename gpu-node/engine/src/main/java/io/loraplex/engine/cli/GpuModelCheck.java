package io.loraplex.engine.cli;

import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.backend.Workspace;
import io.loraplex.engine.backend.cuda.Device;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelShape;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * {@code gpu-check model --shape NAME}: the CUDA backend on the GPU against the CPU backend on the
 * same bf16 weights, one prefill step of several sequences (base rows, two rank-16 adapters on
 * q/k/v/o and two on all seven projections) and a few greedy decode steps, both fed the CPU's tokens
 * so one near-tie cannot make the rest of the comparison moot.
 *
 * <p>Per logit row: the greedy tokens must be equal unless the CPU's top two are closer than the
 * tolerance, and the largest |logit difference| must stay within it. The tolerance is
 * {@code 2^-8 · √(2L) · range} ({@code range} the row's max − min logit): the GPU rounds every
 * activation to bf16 (relative error up to 2^-8, half a bf16 step) where the CPU keeps f32, about
 * twice a layer (after attention and after the MLP), and independent roundings add up like a random
 * walk over the 2L of them; the logits move by that share of their spread.
 */
final class GpuModelCheck {

    private static final int BLOCK = 16;

    private GpuModelCheck() {
    }

    /** The tolerance of one logit row, as the class comment derives it. */
    static double tolerance(ModelConfig cfg, double range) {
        return Math.scalb(1.0, -8) * Math.sqrt(2.0 * cfg.numLayers()) * range;
    }

    /** One row's comparison. */
    record RowCheck(int cpuToken, int gpuToken, double gap, double maxDiff, double range, double tolerance) {

        boolean tokensAgree() {
            return cpuToken == gpuToken || gap < tolerance;
        }

        boolean logitsAgree() {
            return maxDiff <= tolerance;
        }

        static RowCheck of(ModelConfig cfg, float[] cpu, float[] gpu, int row) {
            int v = cfg.vocabSize();
            int best = -1;
            int second = -1;
            int gpuBest = row * v;
            double max = Double.NEGATIVE_INFINITY;
            double min = Double.POSITIVE_INFINITY;
            double diff = 0;
            for (int i = row * v; i < (row + 1) * v; i++) {
                if (best < 0 || cpu[i] > cpu[best]) {
                    second = best;
                    best = i;
                } else if (second < 0 || cpu[i] > cpu[second]) {
                    second = i;
                }
                if (gpu[i] > gpu[gpuBest]) {
                    gpuBest = i;
                }
                max = Math.max(max, cpu[i]);
                min = Math.min(min, cpu[i]);
                diff = Math.max(diff, Float.isFinite(gpu[i]) ? Math.abs(cpu[i] - gpu[i]) : Double.POSITIVE_INFINITY);
            }
            double range = max - min;
            return new RowCheck(best - row * v, gpuBest - row * v, cpu[best] - cpu[second], diff, range, GpuModelCheck.tolerance(cfg, range));
        }
    }

    static int run(Device gpu, Path modelDir, ModelShape shape, int threads, int sequences, int decodeSteps, long seed, Path outDir,
            PrintStream out) throws Exception {
        StringBuilder report = new StringBuilder();
        boolean failed = false;
        long t0 = System.nanoTime();
        try (BaseModel model = BaseModel.load(modelDir);
                Backend cpu = Backends.create(Backends.CPU, model, threads);
                Backend cuda = GpuSeams.cudaBackend(model.config(), model.weights(), new UnclosedDevice(gpu))) {
            ModelConfig cfg = model.config();
            Set<TargetModule> qkvo = EnumSet.of(TargetModule.Q_PROJ, TargetModule.K_PROJ, TargetModule.V_PROJ, TargetModule.O_PROJ);
            List<LoraAdapter> adapters = new ArrayList<>();
            adapters.addAll(ServingBench.randomAdapters(cfg, qkvo, 16, 2, seed + 10));
            adapters.addAll(ServingBench.randomAdapters(cfg, EnumSet.allOf(TargetModule.class), 16, 2, seed + 20));
            String[] names = {"base", "qkvo-a", "qkvo-b", "all7-a", "all7-b"};
            int[] prompt = new int[sequences];
            int[] adapterOf = new int[sequences];
            for (int s = 0; s < sequences; s++) {
                prompt[s] = 5 + 4 * s;
                adapterOf[s] = s % 5 - 1; // base, qkvo-a, qkvo-b, all7-a, all7-b, base, ...
            }
            int blocks = (prompt[sequences - 1] + decodeSteps + BLOCK) / BLOCK + 1;
            report.append(String.format(Locale.ROOT, "gpu-check model %s on %s: %d sequences (prompts %d..%d; adapters rank 16: "
                            + "2 on q/k/v/o, 2 on all seven; every fifth a base row), %d decode steps, CPU %d threads%n",
                    shape.flagName(), gpu.description(), sequences, prompt[0], prompt[sequences - 1], decodeSteps, threads));
            report.append(String.format(Locale.ROOT, "tolerance per row: 2^-8 * sqrt(2L) * range = %.4f of the row's logit range%n",
                    tolerance(cfg, 1.0)));
            report.append(String.format(Locale.ROOT, "%-5s %-4s %-7s %8s %8s %10s %10s %12s %10s %s%n", "step", "seq", "adapter",
                    "cpu tok", "gpu tok", "top2 gap", "max|d|", "max|d|/range", "tolerance", "verdict"));
            try (Workspace cpuWs = Workspace.create(cpu, BLOCK, blocks * sequences, adapters);
                    Workspace gpuWs = Workspace.create(cuda, BLOCK, blocks * sequences, adapters)) {
                int[][] cpuTables = new int[sequences][];
                int[][] gpuTables = new int[sequences][];
                for (int s = 0; s < sequences; s++) {
                    cpuTables[s] = cpuWs.blocks(blocks);
                    gpuTables[s] = gpuWs.blocks(blocks);
                }
                SplittableRandom random = new SplittableRandom(seed);
                int[][] tokens = new int[sequences][];
                for (int s = 0; s < sequences; s++) {
                    tokens[s] = random.ints(prompt[s], 0, cfg.vocabSize()).toArray();
                }
                int[] start = new int[sequences];
                for (int step = 0; step <= decodeSteps; step++) {
                    ForwardBatch cpuBatch = batch(tokens, start, adapterOf, cpuTables, adapters, cpuWs);
                    ForwardBatch gpuBatch = batch(tokens, start, adapterOf, gpuTables, adapters, gpuWs);
                    float[] cpuLogits = new float[sequences * cfg.vocabSize()];
                    float[] gpuLogits = new float[sequences * cfg.vocabSize()];
                    cpu.forward(cpuBatch, cpuWs.arena(), cpuLogits);
                    cuda.forward(gpuBatch, gpuWs.arena(), gpuLogits);
                    for (int s = 0; s < sequences; s++) {
                        RowCheck r = RowCheck.of(cfg, cpuLogits, gpuLogits, s);
                        boolean ok = r.tokensAgree() && r.logitsAgree();
                        failed |= !ok;
                        report.append(String.format(Locale.ROOT, "%-5s %-4d %-7s %8d %8d %10.4f %10.4f %12.5f %10.4f %s%n",
                                step == 0 ? "pre" : Integer.toString(step), s, names[adapterOf[s] + 1], r.cpuToken(), r.gpuToken(),
                                r.gap(), r.maxDiff(), r.maxDiff() / r.range(), r.tolerance(),
                                ok ? "ok" : !r.tokensAgree() ? "TOKEN DIFFERS" : "LOGITS DIFFER"));
                        start[s] += tokens[s].length;
                        tokens[s] = new int[] {r.cpuToken()}; // both continue on the CPU's token
                    }
                }
            }
        }
        report.append(String.format(Locale.ROOT, "%.1f s; RESULT: %s%n", (System.nanoTime() - t0) / 1e9, failed ? "MISMATCH" : "ok"));
        Files.writeString(outDir.resolve("model-" + shape.flagName() + ".txt"), report);
        out.print(report);
        return failed ? 1 : 0;
    }

    private static ForwardBatch batch(int[][] tokens, int[] start, int[] adapterOf, int[][] tables, List<LoraAdapter> adapters,
            Workspace ws) {
        int total = 0;
        for (int[] t : tokens) {
            total += t.length;
        }
        int[] ids = new int[total];
        int[] positions = new int[total];
        int[] sequence = new int[total];
        int[] adapter = new int[total];
        int[] logitRows = new int[tokens.length];
        int row = 0;
        for (int s = 0; s < tokens.length; s++) {
            for (int i = 0; i < tokens[s].length; i++) {
                ids[row] = tokens[s][i];
                positions[row] = start[s] + i;
                sequence[row] = s;
                adapter[row] = adapterOf[s] < 0 ? ForwardBatch.NO_ADAPTER : adapterOf[s];
                row++;
            }
            logitRows[s] = row - 1;
        }
        PagedAdapter[] paged = adapters.stream().map(ws::paged).toArray(PagedAdapter[]::new);
        return new ForwardBatch(ids, positions, sequence, tables, adapter, paged, logitRows);
    }
}
