package io.loraplex.engine.cli;

import io.loraplex.engine.backend.cuda.Device;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelShape;
import io.loraplex.engine.model.RandomWeights;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code loraplex gpu-check kernels|model|bench}: what the device script ({@code tools/gpu/run.sh})
 * runs on a lent GPU.
 * <ul>
 *   <li>{@code kernels}: the CUDA backend on a {@link io.loraplex.engine.backend.cuda.CheckedDevice}
 *       (the GPU beside the host reference), over sweeps of batch, adapters, ranks and lengths;
 *       a table per kernel in {@code OUT/kernels.txt}.</li>
 *   <li>{@code model --shape NAME}: the CUDA backend against the CPU backend on a real-size shape,
 *       mixed-adapter batches, greedy tokens and logits compared.</li>
 *   <li>{@code bench --shape NAME}: decode tokens/s beside the floor of the measured device peaks.</li>
 *   <li>{@code generate --shape NAME --work-dir DIR}: only writes the shape's model where the others
 *       look for it (on the CPU, so the script overlaps it with the GPU checks).</li>
 * </ul>
 * Exit status: 0 passed, 1 a mismatch or failure, 2 a usage error, {@value #SKIPPED} skipped because
 * there is no GPU, with the reason printed.
 */
final class GpuCheckCommand {

    /** The exit status of a check that could not run here: no GPU. */
    static final int SKIPPED = 3;

    static final List<String> SUBCOMMANDS = List.of("kernels", "model", "bench", "generate");

    private GpuCheckCommand() {
    }

    static Flags flags() {
        return new Flags("gpu-check", "kernels|model|bench|generate [--out DIR] [--shape NAME] [flags]")
                .option("out", ".", "directory for the reports (kernels.txt, model-SHAPE.txt, bench-SHAPE.md/.json)")
                .option("work-dir", null, "where generated models are kept between subcommands (default: a temporary directory)")
                .option("device", "0", "CUDA device ordinal")
                .option("shape", null, "model, bench and generate: llama-3.2-1b or llama-3.1-8b")
                .option("threads", Integer.toString(Runtime.getRuntime().availableProcessors()), "model: CPU backend threads")
                .option("sequences", "6", "model: sequences in the checked batch (base rows and four adapters, in turn)")
                .option("decode-steps", "4", "model: greedy decode steps after the prompt")
                .option("batches", "1,2,4,8,16,32,64,128,256", "bench: decode batch sizes")
                .option("context", "128", "bench: positions already in each sequence's KV cache")
                .option("steps", "10", "bench: timed steps per configuration (the median is reported)")
                .option("distinct-limit", "256", "bench: most distinct adapters (beyond it, tokens share them in turn)")
                .option("peer", null, "bench: the PEFT peer's JSON (tools/gpu/peft_bench.py), for the ours/PEFT ratio")
                .flag("quick", "kernels: the short sweep (one architecture, fewer sizes)")
                .option("seed", "1", "seed of generated models and adapters");
    }

    static int run(Flags f, PrintStream out, PrintStream err) throws Exception {
        if (f.positional().size() != 1 || !SUBCOMMANDS.contains(f.positional().getFirst())) {
            throw f.bad("needs one of " + String.join(", ", SUBCOMMANDS) + ", got " + f.positional());
        }
        String sub = f.positional().getFirst();
        Path outDir = f.path("out");
        Files.createDirectories(outDir);
        ModelShape shape = null;
        if (!sub.equals("kernels")) {
            if (!f.has("shape")) {
                throw f.bad(sub + " needs --shape (llama-3.2-1b or llama-3.1-8b)");
            }
            try {
                shape = ModelShape.parse(f.required("shape"));
            } catch (IllegalArgumentException e) {
                throw f.bad("--shape: " + e.getMessage());
            }
        }
        if (sub.equals("generate")) {
            // no GPU needed: the device script writes the big models on the CPU while the GPU checks run
            if (f.path("work-dir") == null) {
                throw f.bad("generate needs --work-dir (a temporary one would be deleted at once)");
            }
            out.println("generated " + generated(shape, f.path("work-dir"), f.longValue("seed"), err));
            return 0;
        }
        GpuSeams.Opened opened = GpuSeams.openGpu(f.integer("device"));
        Device gpu = switch (opened) {
            case GpuSeams.Opened.Gpu g -> g.device();
            case GpuSeams.Opened.Unavailable u -> null;
        };
        if (gpu == null) {
            err.println("gpu-check " + sub + ": skipped: no GPU: " + ((GpuSeams.Opened.Unavailable) opened).reason());
            return SKIPPED;
        }
        try (Device device = gpu; WorkDir work = WorkDir.of(f.path("work-dir"), "loraplex-gpu-check")) {
            out.printf("gpu-check %s on %s%n", sub, device.description());
            long seed = f.longValue("seed");
            return switch (sub) {
                case "kernels" -> GpuKernelSweep.run(device, work.path(),
                        f.has("quick") ? GpuKernelSweep.Sweep.QUICK : GpuKernelSweep.Sweep.FULL, seed, outDir, out);
                case "model" -> GpuModelCheck.run(device, generated(shape, work.path(), seed, err), shape, f.integer("threads"),
                        f.integer("sequences"), f.integer("decode-steps"), seed, outDir, out);
                case "bench" -> GpuBench.run(device, generated(shape, work.path(), seed, err), shape,
                        new GpuBench.Spec(ints(f, "batches"), f.integer("context"), f.integer("steps"), f.integer("distinct-limit"),
                                seed), f.path("peer"), outDir, out);
                default -> throw new IllegalStateException(sub);
            };
        }
    }

    /**
     * The shape's bf16 model in {@code work}, generated once and shared by the subcommands (the 8B takes
     * over a minute to write): a marker written after the weights tells a complete one from one whose
     * writing was cut off by a step's timeout.
     */
    static Path generated(ModelShape shape, Path work, long seed, PrintStream err) throws Exception {
        ModelConfig cfg = shape.config(DType.BF16, 1, List.of(2));
        Path dir = work.resolve("model-" + shape.flagName() + "-bf16-" + seed);
        Path complete = dir.resolve(".complete");
        if (!Files.exists(complete)) {
            err.printf("gpu-check: generating %s (%.2fB parameters, bf16) in %s%n", shape.flagName(), cfg.parameterCount() / 1e9, dir);
            long t0 = System.nanoTime();
            RandomWeights.write(dir, cfg, 1, seed);
            Files.writeString(complete, "");
            err.printf("gpu-check: generated in %.1f s%n", (System.nanoTime() - t0) / 1e9);
        }
        return dir;
    }

    private static int[] ints(Flags f, String name) {
        try {
            int[] v = java.util.Arrays.stream(f.required(name).split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
            for (int x : v) {
                if (x < 1) {
                    throw f.bad("--" + name + " must be positive integers, got " + x);
                }
            }
            return v;
        } catch (NumberFormatException e) {
            throw f.bad("--" + name + " must be comma-separated integers, got '" + f.required(name) + "'");
        }
    }
}
