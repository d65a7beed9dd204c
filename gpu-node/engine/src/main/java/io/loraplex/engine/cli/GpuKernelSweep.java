package io.loraplex.engine.cli;

import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.backend.Workspace;
import io.loraplex.engine.backend.cuda.CheckedDevice;
import io.loraplex.engine.backend.cuda.Device;
import io.loraplex.engine.backend.cuda.HostDevice;
import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.TinyModel;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * {@code gpu-check kernels}: the CUDA backend's whole forward on a {@link CheckedDevice} (each
 * kernel and GEMM compared with the host reference as it runs), on small generated models of every
 * architecture the backend covers, over a sweep of
 * <ul>
 *   <li>prefill of 64 sequences with prompt lengths 1 to 300, several sequences per step, base rows
 *       beside 8 adapters of ranks 1 to 64 on different module sets (segmented LoRA);</li>
 *   <li>decode steps of batch 1 to 64 with 0 to 8 adapters, base rows among them (gathered LoRA);</li>
 *   <li>a step mixing decode tokens with a fresh prompt.</li>
 * </ul>
 * Writes a table per model to {@code OUT/kernels.txt}; exit status 1 on any mismatch or non-finite logit.
 */
final class GpuKernelSweep {

    private static final int BLOCK = 16;
    private static final int[] RANKS = {1, 2, 4, 8, 16, 32, 48, 64};

    /**
     * The sizes swept: {@code sequences} prefilled (sequence s with prompt {@code prompts[s % n]}, packed
     * into steps of up to {@code maxPrefillTokens}), then one decode step per (batch, adapter count).
     */
    record Sweep(List<Architecture> architectures, int sequences, int[] prompts, int maxPrefillTokens, int[] batches,
            int[] adapterCounts) {

        Sweep {
            if (Arrays.stream(batches).anyMatch(b -> b > sequences) || sequences < 16) {
                throw new IllegalArgumentException("a sweep decodes at most its " + sequences + " sequences (at least 16)");
            }
        }

        /** What {@code gpu-check kernels} runs: every architecture, batch 1 to 64, prompts 1 to 300, 0 to 8 adapters. */
        static final Sweep FULL = new Sweep(List.of(Architecture.LLAMA, Architecture.QWEN2, Architecture.QWEN3,
                Architecture.MISTRAL, Architecture.PHI3), 64, new int[] {1, 2, 7, 16, 17, 33, 1, 5, 3, 130, 2, 9, 64, 4, 1, 300}, 512,
                new int[] {1, 2, 3, 8, 17, 32, 64}, new int[] {0, 1, 2, 4, 8});

        /** {@code --quick}: Llama only, fewer sizes, still prompts past the window of 48 and ranks 1 to 64. */
        static final Sweep QUICK = new Sweep(List.of(Architecture.LLAMA), 16, new int[] {1, 7, 17, 70}, 256,
                new int[] {1, 5, 16}, new int[] {0, 8});
    }

    private GpuKernelSweep() {
    }

    private static TinyModel.Spec spec(Architecture arch, int window, long seed) {
        return new TinyModel.Spec(arch, 128, 2, 4, 2, null, 320, 1024, DType.BF16, null, null, 4096, null, window, null, null, 1,
                seed);
    }

    static int run(Device gpu, Path work, Sweep sweep, long seed, Path outDir, PrintStream out) throws Exception {
        StringBuilder report = new StringBuilder();
        boolean failed = false;
        int done = 0;
        for (Architecture arch : sweep.architectures()) {
            // small, with the feature that needs checking on: Qwen2's bias, Qwen3's q/k norms and head size,
            // Mistral's window (48, shorter than the long prompts), Phi-3's LongRoPE past 64 positions
            TinyModel.Spec spec = spec(arch, arch == Architecture.MISTRAL ? 48 : 0, seed);
            Path dir = work.resolve("kernels-" + spec.arch().name().toLowerCase(Locale.ROOT));
            if (!Files.exists(dir.resolve("config.json"))) {
                TinyModel.write(dir, spec);
            }
            long t0 = System.nanoTime();
            // the GPU is shared across models: the checked device must not close it
            try (BaseModel model = BaseModel.load(dir);
                    CheckedDevice checked = new CheckedDevice(new UnclosedDevice(gpu), new HostDevice(8L << 30));
                    Backend backend = GpuSeams.cudaBackend(model.config(), model.weights(), checked)) {
                String problem = sweep(backend, model.config(), sweep, seed);
                String table = table(spec.arch().name().toLowerCase(Locale.ROOT), model.config(), checked.reports(),
                        (System.nanoTime() - t0) / 1e9);
                report.append(table);
                out.print(table);
                if (problem != null) {
                    report.append("FAILED: ").append(problem).append('\n');
                    out.println("FAILED: " + problem);
                }
                failed |= checked.mismatched() || problem != null;
            }
            // written after each model, so a sweep cut off by the script's timeout keeps the models it finished
            Files.writeString(outDir.resolve("kernels.txt"), report + "RESULT: incomplete (" + (++done) + " of "
                    + sweep.architectures().size() + " models checked)\n");
        }
        report.append(failed ? "RESULT: MISMATCH\n" : "RESULT: every kernel within tolerance\n");
        Files.writeString(outDir.resolve("kernels.txt"), report);
        out.println(failed ? "RESULT: MISMATCH" : "RESULT: every kernel within tolerance");
        return failed ? 1 : 0;
    }

    /** Runs the sweep's steps; returns a problem other than a kernel mismatch (non-finite logits), or null. */
    private static String sweep(Backend backend, ModelConfig cfg, Sweep sweep, long seed) {
        List<LoraAdapter> adapters = adapters(cfg, seed);
        int sequences = sweep.sequences();
        int[] prompts = sweep.prompts();
        int maxDecodes = sweep.batches().length * sweep.adapterCounts().length + 1;
        int maxPrompt = Arrays.stream(prompts).max().orElseThrow();
        int blocksPerSeq = (maxPrompt + maxDecodes + BLOCK - 1) / BLOCK + 1;
        try (Workspace ws = Workspace.create(backend, BLOCK, blocksPerSeq * (sequences + 1), adapters)) {
            int[][] tables = new int[sequences + 1][];
            for (int s = 0; s <= sequences; s++) {
                tables[s] = ws.blocks(blocksPerSeq);
            }
            PagedAdapter[] paged = adapters.stream().map(ws::paged).toArray(PagedAdapter[]::new);
            int[] length = new int[sequences + 1];
            SplittableRandom random = new SplittableRandom(seed);
            // prefill: sequence s has prompt prompts[s % 9] and adapter s % 9 - 1 (every 9th a base row), packed into steps
            List<int[]> pending = new ArrayList<>(); // {sequence, adapter}
            for (int s = 0; s < sequences; s++) {
                pending.add(new int[] {s, s % (adapters.size() + 1) - 1});
            }
            while (!pending.isEmpty()) {
                List<int[]> step = new ArrayList<>();
                int tokens = 0;
                while (!pending.isEmpty() && (step.isEmpty() || tokens + prompts[pending.getFirst()[0] % prompts.length] <= sweep.maxPrefillTokens())) {
                    int[] p = pending.removeFirst();
                    tokens += prompts[p[0] % prompts.length];
                    step.add(p);
                }
                List<Part> parts = new ArrayList<>();
                for (int[] p : step) {
                    parts.add(new Part(p[0], length[p[0]], prompts[p[0] % prompts.length], p[1]));
                }
                String problem = forward(backend, ws.arena(), cfg, parts, tables, paged, length, random);
                if (problem != null) {
                    return problem;
                }
            }
            // decode: batch b of sequences 0..b-1, n adapters in turn with every third token a base row
            for (int b : sweep.batches()) {
                for (int n : sweep.adapterCounts()) {
                    List<Part> parts = new ArrayList<>();
                    for (int s = 0; s < b; s++) {
                        parts.add(new Part(s, length[s], 1, n == 0 || s % 3 == 2 ? -1 : s % n));
                    }
                    String problem = forward(backend, ws.arena(), cfg, parts, tables, paged, length, random);
                    if (problem != null) {
                        return problem;
                    }
                }
            }
            // decode tokens beside a fresh prompt of the last sequence on adapter 3
            List<Part> mixed = new ArrayList<>();
            for (int s = 0; s < 16; s++) {
                mixed.add(new Part(s, length[s], 1, s % 5 - 1));
            }
            mixed.add(new Part(sequences, 0, 40, 3));
            return forward(backend, ws.arena(), cfg, mixed, tables, paged, length, random);
        }
    }

    /** One sequence's tokens of a step: {@code count} from position {@code start}, adapter index or -1. */
    private record Part(int sequence, int start, int count, int adapter) {
    }

    private static String forward(Backend backend, PageArena arena, ModelConfig cfg, List<Part> parts, int[][] tables,
            PagedAdapter[] paged, int[] length, SplittableRandom random) {
        int total = parts.stream().mapToInt(Part::count).sum();
        int[] tokens = new int[total];
        int[] positions = new int[total];
        int[] sequence = new int[total];
        int[] adapter = new int[total];
        int[] logitRows = new int[parts.size()];
        int row = 0;
        for (int p = 0; p < parts.size(); p++) {
            Part part = parts.get(p);
            for (int i = 0; i < part.count(); i++) {
                tokens[row] = random.nextInt(cfg.vocabSize());
                positions[row] = part.start() + i;
                sequence[row] = part.sequence();
                adapter[row] = part.adapter() < 0 ? ForwardBatch.NO_ADAPTER : part.adapter();
                row++;
            }
            logitRows[p] = row - 1;
            length[part.sequence()] = part.start() + part.count();
        }
        float[] logits = new float[logitRows.length * cfg.vocabSize()];
        backend.forward(new ForwardBatch(tokens, positions, sequence, tables, adapter, paged, logitRows), arena, logits);
        for (int i = 0; i < logits.length; i++) {
            if (!Float.isFinite(logits[i])) {
                return "logit " + i + " of a step of " + total + " tokens is " + logits[i];
            }
        }
        return null;
    }

    /** Eight adapters of ranks 1 to 64, each on its own set of modules (some on all seven, some on one). */
    static List<LoraAdapter> adapters(ModelConfig cfg, long seed) {
        List<Set<TargetModule>> sets = List.of(
                EnumSet.allOf(TargetModule.class),
                EnumSet.of(TargetModule.Q_PROJ, TargetModule.K_PROJ, TargetModule.V_PROJ, TargetModule.O_PROJ),
                EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ),
                EnumSet.of(TargetModule.GATE_PROJ, TargetModule.UP_PROJ, TargetModule.DOWN_PROJ),
                EnumSet.allOf(TargetModule.class),
                EnumSet.of(TargetModule.O_PROJ, TargetModule.DOWN_PROJ),
                EnumSet.of(TargetModule.K_PROJ),
                EnumSet.allOf(TargetModule.class));
        List<LoraAdapter> adapters = new ArrayList<>();
        for (int i = 0; i < RANKS.length; i++) {
            adapters.addAll(ServingBench.randomAdapters(cfg, sets.get(i), RANKS[i], 1, seed * 100 + i));
        }
        return adapters;
    }

    static String table(String name, ModelConfig cfg, List<CheckedDevice.KernelReport> reports, double seconds) {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "%n== %s (hidden %d, %d layers, %d/%d heads of %d, MLP %d, vocab %d), %.1f s%n",
                name, cfg.hiddenSize(), cfg.numLayers(), cfg.numHeads(), cfg.numKvHeads(), cfg.headDim(), cfg.intermediateSize(),
                cfg.vocabSize(), seconds));
        s.append(String.format(Locale.ROOT, "%-34s %8s %12s %10s %12s %12s  %s%n", "kernel", "launches", "elements",
                "mismatch", "worst/tol", "worst |d|", "where"));
        for (CheckedDevice.KernelReport r : reports) {
            s.append(String.format(Locale.ROOT, "%-34s %8d %12d %10d %12.3f %12.3g  %s%n", r.kernel(), r.launches(), r.elements(),
                    r.mismatches(), r.worstRatio(), r.worstAbs(), r.where()));
        }
        return s.toString();
    }
}
