package io.loraplex.engine.cli;

import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.backend.TrainingShare;
import io.loraplex.engine.backend.Workspace;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.WeightFormat;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelShape;
import io.loraplex.engine.model.ModelWeights;
import io.loraplex.engine.model.Tensor;
import io.loraplex.engine.model.WeightFiles;
import io.loraplex.engine.batch.EngineSettings;
import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.model.RandomWeights;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * {@code loraplex bench}: prompt and decode tokens/s of one request, with and without an adapter,
 * on a given model or a generated one (by default about 100M parameters: hidden 1024, 8 layers, 16
 * heads, 4 KV heads, MLP 2816, vocab 8192, f32).
 */
final class BenchCommand {

    private BenchCommand() {
    }

    static Flags flags() {
        Flags f = new Flags("bench", "[--model DIR | --shape NAME | shape flags] [flags]")
                .option("model", null, "model directory (default: generate one of the shape flags)")
                .option("backend", Backends.CPU, "backend: cpu, cuda (the CPU where no GPU serves) or reference")
                .option(WeightsFlag.NAME, null, WeightsFlag.HELP + "; a comma-separated list is measured format by format")
                .option("threads", "2", "CPU threads")
                .option("prompt-tokens", "128", "prompt length")
                .option("decode-tokens", "128", "tokens decoded after the prompt")
                .option("runs", "3", "timed runs per configuration (the median is reported)")
                .option("warm-ups", "2", "untimed runs of each configuration first, to warm the JIT (a real-size model's "
                        + "step is long enough that 1 does)")
                .option("rank", "16", "rank of the benchmark adapter")
                .option("targets", "q_proj,k_proj,v_proj,o_proj", "modules of the benchmark adapter, or all-linear")
                .option("seed", "1", "seed of the generated model and adapter")
                .option("work-dir", null, "where to write the generated model and adapter, kept (default: a temporary directory, "
                        + "deleted at the end)")
                .option("suite", "single", "single (one request), serving (batched decode, floors, resident adapters, "
                        + "concurrent requests), train (LoRA training of small adapters), constrained (structured-output cost: "
                        + "schema compile, mask per step, a batch of 32 with its own schemas) or all")
                .option("adapters", "5", "train suite: adapters to train (0: only the chat measurement)")
                .option("pairs", "10", "train suite: chat pairs per adapter")
                .option("chat-requests", "30", "train suite: chat requests timed without and with a training job beside them (0: none)")
                .option("training-share", "0.25", "train suite: the training share of the chat engine's gate (as loraplex.node.training-share)")
                .option("batches", "1,4,16,32,64", "serving suite: decode batch sizes")
                .option("context", "128", "serving suite: positions already in each sequence's KV cache")
                .option("steps", "10", "serving suite: timed steps per configuration (the median is reported)")
                .option("residents", "10,100,1000", "serving suite: resident adapter counts")
                .option("concurrent", "16", "serving suite: concurrent requests on distinct adapters");
        return ModelShapeFlags.declare(f, 1024, 8, 16, 4, 2816, 8192, "f32");
    }

    /** One measured configuration. */
    record Result(String config, double promptTokensPerSecond, double decodeTokensPerSecond) {
    }

    static int run(Flags f, PrintStream out, PrintStream err) throws Exception {
        try (WorkDir work = WorkDir.of(f.path("work-dir"), "loraplex-bench")) {
            return run(f, work.path(), out, err);
        }
    }

    private static int run(Flags f, Path work, PrintStream out, PrintStream err) throws Exception {
        Path modelDir = f.path("model");
        long seed = f.longValue("seed");
        List<WeightFormat> formats = WeightsFlag.list(f); // refused before a model is generated
        ModelShape shape = ModelShapeFlags.shape(f);
        if (shape != null && modelDir != null) {
            throw f.bad("--shape " + shape.flagName() + " generates a model and --model names one; give one or the other");
        }
        if (f.integer("warm-ups") < 0) {
            throw f.bad("--warm-ups must be at least 0, got " + f.integer("warm-ups"));
        }
        if (f.required("suite").equals("train")) {
            // training renders chat examples: the generated model needs a tokenizer and a chat template
            if (modelDir == null) {
                modelDir = work.resolve("train-model");
                if (!Files.exists(modelDir.resolve("config.json"))) {
                    err.printf("bench: generating a model with a tokenizer in %s%n", modelDir);
                    io.loraplex.engine.model.TinyModel.write(modelDir, ModelShapeFlags.spec(f, null, null, 1, seed));
                }
            }
            int adapters = f.integer("adapters");
            int pairs = f.integer("pairs");
            int chat = f.integer("chat-requests");
            if (adapters < 0 || pairs < 2 || chat < 0 || f.integer("threads") < 1) {
                throw f.bad("--threads must be at least 1, --pairs at least 2 (one is held out), --adapters and --chat-requests "
                        + "at least 0");
            }
            TrainingShare share;
            try {
                share = new TrainingShare(Double.parseDouble(f.required("training-share")), TrainingShare.DEFAULT.window());
            } catch (IllegalArgumentException e) {
                throw f.bad("--training-share must be a number in (0, 1], got '" + f.required("training-share") + "'");
            }
            TrainBench.run(modelDir, new TrainBench.Spec(adapters, pairs, f.integer("threads"), seed, chat, share), out, err);
            return 0;
        }
        if (modelDir == null) {
            ModelConfig cfg = ModelShapeFlags.config(f, 1, List.of(2));
            // a named shape gets its own directory, so a kept --work-dir holds each shape and dtype once
            modelDir = shape == null ? work.resolve("model") : work.resolve("model-" + shape.flagName() + "-" + cfg.torchDtype().torchName());
            if (!Files.exists(modelDir.resolve("config.json"))) {
                err.printf("bench: generating a %.1fM-parameter %s model in %s%n", cfg.parameterCount() / 1e6,
                        cfg.torchDtype().torchName(), modelDir);
                long t0 = System.nanoTime();
                RandomWeights.write(modelDir, cfg, 1, seed);
                err.printf("bench: generated in %.1f s, %.2f GB of weights%n", (System.nanoTime() - t0) / 1e9,
                        Files.size(modelDir.resolve(WeightFiles.SINGLE)) / 1e9);
            }
        }
        int threads = f.integer("threads");
        int promptTokens = f.integer("prompt-tokens");
        int decodeTokens = f.integer("decode-tokens");
        int runs = f.integer("runs");
        if (promptTokens < 1 || decodeTokens < 1 || runs < 1 || threads < 1) {
            throw f.bad("--prompt-tokens, --decode-tokens, --runs and --threads must be at least 1");
        }
        String suite = f.required("suite");
        if (!List.of("single", "serving", "constrained", "all").contains(suite)) {
            throw f.bad("--suite must be single, serving, train, constrained or all, got '" + suite + "'");
        }
        List<Result> byFormat = new ArrayList<>();
        for (WeightFormat weights : formats) {
            byFormat.addAll(run(f, modelDir, weights, suite, work, out, err));
        }
        if (formats.size() > 1 && !byFormat.isEmpty()) {
            out.println();
            out.printf("%-16s %16s %16s%n", "weights/config", "prompt tok/s", "decode tok/s");
            for (Result r : byFormat) {
                out.printf("%-16s %16.1f %16.1f%n", r.config, r.promptTokensPerSecond, r.decodeTokensPerSecond);
            }
        }
        return 0;
    }

    /** One format's suite; the single suite's results named {@code weights/config}. */
    private static List<Result> run(Flags f, Path modelDir, WeightFormat weights, String suite, Path work, PrintStream out,
            PrintStream err) throws Exception {
        long seed = f.longValue("seed");
        int threads = f.integer("threads");
        int promptTokens = f.integer("prompt-tokens");
        int decodeTokens = f.integer("decode-tokens");
        int runs = f.integer("runs");
        int warmUps = f.integer("warm-ups");
        List<Result> results = new ArrayList<>();
        long loadStart = System.nanoTime();
        try (BaseModel model = BaseModel.load(modelDir, weights); Backend backend = Backends.create(f.required("backend"), model, threads)) {
            double loadSeconds = (System.nanoTime() - loadStart) / 1e9;
            ModelConfig cfg = model.config();
            String weightsName = weights == null ? cfg.torchDtype().torchName() : weights.flagName();
            // load is mapping the files, converting the projections (--weights) and building the backend
            out.printf("load: %.2f s (weights %s); %s%n", loadSeconds, weightsName, ResidentMemory.report("after load"));
            ArenaLayout kv = ArenaLayout.of(cfg, 16);
            long budget = EngineSettings.defaults().memoryBudgetBytes();
            long kvPerPosition = 2L * cfg.numLayers() * cfg.kvDim() * Float.BYTES;
            out.printf("KV: %.2f KiB per position (f32 keys and values of %d layers); the engine's default budget of %d MiB "
                    + "holds %d positions%n", kvPerPosition / 1024.0, cfg.numLayers(), budget >> 20, kv.pagesFor(budget) * 16L);
            Set<TargetModule> targets = parseTargets(f);
            Path adapterDir = work.resolve("adapter-r" + f.integer("rank"));
            AdapterWriter.writeRandom(adapterDir, cfg, targets, f.integer("rank"), 2.0 * f.integer("rank"), false, DType.F32, seed);
            LoraAdapter adapter = new AdapterLoader(cfg, Math.max(64, f.integer("rank"))).load("bench", adapterDir);

            out.printf("model: %s, %.1fM parameters, %s, vocab %d; weights %s; backend %s, %d threads; prompt %d, decode %d tokens%n",
                    cfg.architecture().hfClass(), cfg.parameterCount() / 1e6, cfg.torchDtype().torchName(), cfg.vocabSize(),
                    weightsName, backend.name(), threads, promptTokens, decodeTokens);
            if (suite.equals("constrained")) {
                ConstrainedBench.run(backend, work, promptTokens, decodeTokens, 32, out, err);
                return results;
            }
            if (!suite.equals("single")) {
                int[] batches = ints(f, "batches");
                ServingBench.run(backend, threads, f.integer("context"), f.integer("steps"), batches, out);
                ServingBench.residentScaling(backend, f.integer("context"), f.integer("steps"), 32, ints(f, "residents"), out);
                ServingBench.concurrent(backend, f.integer("concurrent"), promptTokens, decodeTokens, out);
                if (suite.equals("serving")) {
                    return results;
                }
                out.println();
            }
            out.printf("adapter: rank %d on %s (%.2fM parameters)%n", adapter.maxRank(), f.required("targets"),
                    adapter.parameterCount() / 1e6);
            // warm the JIT on both shapes of step and both configurations before timing anything
            for (int i = 0; i < warmUps; i++) {
                measure("warm-up", backend, null, promptTokens, Math.min(decodeTokens, 32), 1, seed);
                measure("warm-up", backend, adapter, promptTokens, Math.min(decodeTokens, 32), 1, seed);
            }
            List<Result> single = new ArrayList<>();
            single.add(measure("base", backend, null, promptTokens, decodeTokens, runs, seed));
            single.add(measure("adapter", backend, adapter, promptTokens, decodeTokens, runs, seed));
            Floor floor = Floor.of(model.weights(), threads);
            out.printf("floor: decode %.1f tok/s (%.3f GB of weights read per token ÷ %.1f GB/s copy bandwidth); prompt %.1f tok/s "
                            + "(%.2f GFLOP per token ÷ %.0f GFLOP/s)%n", floor.decodeTokensPerSecond(), floor.bytesPerToken() / 1e9,
                    floor.bandwidth() / 1e9, floor.promptTokensPerSecond(), floor.flopsPerToken() / 1e9,
                    ServingBench.FLOPS_PER_SECOND / 1e9);
            // the floors at what this machine measures now: weights at its read bandwidth, FLOPs at its FMA peak
            double read = MachinePeaks.readBandwidth(threads);
            double peak = MachinePeaks.fmaPeak(threads);
            out.printf("measured floor: decode %.1f tok/s (÷ %.1f GB/s read bandwidth); prompt %.1f tok/s (÷ %.0f GFLOP/s FMA peak, %d threads)%n",
                    read / floor.bytesPerToken(), read / 1e9, peak / floor.flopsPerToken(), peak / 1e9, threads);
            out.printf("%-10s %16s %16s%n", "config", "prompt tok/s", "decode tok/s");
            for (Result r : single) {
                out.printf("%-10s %16.1f %16.1f%n", r.config, r.promptTokensPerSecond, r.decodeTokensPerSecond);
                results.add(new Result(weightsName + "/" + r.config, r.promptTokensPerSecond, r.decodeTokensPerSecond));
            }
            out.println(ResidentMemory.report("after the run"));
        }
        return results;
    }

    private static int[] ints(Flags f, String name) {
        try {
            return java.util.Arrays.stream(f.required(name).split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
        } catch (NumberFormatException e) {
            throw f.bad("--" + name + " must be comma-separated integers, got '" + f.required(name) + "'");
        }
    }

    private static Set<TargetModule> parseTargets(Flags f) {
        String spec = f.required("targets");
        if (spec.equals("all-linear")) {
            return EnumSet.allOf(TargetModule.class);
        }
        Set<TargetModule> targets = EnumSet.noneOf(TargetModule.class);
        for (String name : spec.split(",")) {
            TargetModule m = TargetModule.ofShortName(name.trim());
            if (m == null) {
                throw f.bad("--targets: unknown module '" + name + "' (use q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj or all-linear)");
            }
            targets.add(m);
        }
        return targets;
    }

    /**
     * What one token costs at the least: decode reads every projection and the lm head once (as held,
     * after {@code --weights}), prompt tokens do 2 FLOPs per weight of them; attention and the KV
     * cache are left out (small at the bench's lengths).
     */
    record Floor(long bytesPerToken, long flopsPerToken, double bandwidth) {

        static Floor of(ModelWeights w, int threads) {
            // sizes in the held dtype, from the stored shapes: asking for the converted tensors would make them
            WeightFormat format = w.format();
            Tensor head = w.storedLmHead();
            long bytes = head.dim(0) * (format == null ? head.dtype() : format.lmHeadDtype()).rowBytes(head.dim(1));
            long weights = head.dim(0) * head.dim(1);
            for (int l = 0; l < w.layers(); l++) {
                for (Tensor t : w.storedProjections(l)) {
                    bytes += t.dim(0) * (format == null ? t.dtype() : format.dtype()).rowBytes(t.dim(1));
                    weights += t.dim(0) * t.dim(1);
                }
            }
            return new Floor(bytes, 2 * weights, ServingBench.measureBandwidth(threads));
        }

        double decodeTokensPerSecond() {
            return bandwidth / bytesPerToken;
        }

        double promptTokensPerSecond() {
            return ServingBench.FLOPS_PER_SECOND / flopsPerToken;
        }
    }

    /** Median over runs of one prompt step and greedy single-token decode steps. */
    static Result measure(String name, Backend backend, LoraAdapter adapter, int promptTokens, int decodeTokens, int runs,
            long seed) {
        ModelConfig cfg = backend.config();
        int blockSize = 16;
        int blocks = (promptTokens + decodeTokens + blockSize) / blockSize + 1;
        int[] prompt = new SplittableRandom(seed).ints(promptTokens, 0, cfg.vocabSize()).toArray();
        float[] logits = new float[cfg.vocabSize()];
        double[] promptRates = new double[runs];
        double[] decodeRates = new double[runs];
        try (Workspace ws = Workspace.create(backend, blockSize, blocks, adapter == null ? List.of() : List.of(adapter))) {
            int[] table = ws.blocks(blocks);
            PagedAdapter paged = ws.paged(adapter);
            for (int run = 0; run < runs; run++) {
                long t0 = System.nanoTime();
                backend.forward(ForwardBatch.single(prompt, 0, table, paged), ws.arena(), logits);
                long t1 = System.nanoTime();
                for (int i = 0; i < decodeTokens; i++) {
                    int next = argmax(logits);
                    backend.forward(ForwardBatch.single(new int[] {next}, promptTokens + i, table, paged), ws.arena(), logits);
                }
                long t2 = System.nanoTime();
                requireFinite(logits, name);
                promptRates[run] = promptTokens / ((t1 - t0) / 1e9);
                decodeRates[run] = decodeTokens / ((t2 - t1) / 1e9);
            }
        }
        return new Result(name, median(promptRates), median(decodeRates));
    }

    /** Random weights of a wrong scale overflow to inf or NaN on large shapes; a rate measured on those means nothing. */
    private static void requireFinite(float[] logits, String config) {
        for (int i = 0; i < logits.length; i++) {
            if (!Float.isFinite(logits[i])) {
                throw new IllegalStateException("bench " + config + ": logit " + i + " is " + logits[i] + " after the last decode step");
            }
        }
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
