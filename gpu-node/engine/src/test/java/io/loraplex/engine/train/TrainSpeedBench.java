package io.loraplex.engine.train;

import io.loraplex.engine.ServedModel;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.TinyModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Issue 22's old-vs-new training figures in one run (a test-scope main, not a test):
 *
 * <pre>
 * seed WORK [ADAPTERS] [THREADS]   five adapters of ten pairs with the seed recipe on the ~100M generated
 *                                  model (as docs/benchmarks.md "Training"): the new trainer with all
 *                                  adapters in one job, the new one adapter after the other, and the old
 *                                  trainer ({@link LegacyTrainer}) one adapter after the other
 * demo WORK DATA.jsonl... [--threads N] [--new-only | --old-only]   the demo personas' first-start training (the 1M-parameter
 *                                  TinyModel defaults(0), 30 epochs at 5e-3, no validation), old then new
 * </pre>
 *
 * Run with the engine's test classpath, e.g.
 * {@code java --add-modules jdk.incubator.vector -cp "$(cat cp.txt):target/classes:target/test-classes"
 * io.loraplex.engine.train.TrainSpeedBench seed /tmp/i22bench}.
 */
public final class TrainSpeedBench {

    private TrainSpeedBench() {
    }

    public static void main(String[] args) throws Exception {
        Path work = Path.of(args[1]);
        switch (args[0]) {
            case "seed" -> seed(work, args.length > 2 ? Integer.parseInt(args[2]) : 5, args.length > 3 ? Integer.parseInt(args[3]) : 2,
                    args.length > 4 ? args[4] : "old,new,batched");
            case "demo" -> demo(work, args);
            default -> throw new IllegalArgumentException("first argument: seed or demo, got " + args[0]);
        }
    }

    private static void seed(Path work, int adapters, int threads, String which) throws Exception {
        Path modelDir = work.resolve("train-model");
        if (!Files.exists(modelDir.resolve("config.json"))) {
            // the shape of `loraplex bench --suite train`'s generated model
            TinyModel.write(modelDir, new TinyModel.Spec(Architecture.LLAMA, 1024, 8, 16, 4, null, 2816, 8192, DType.F32, null, null,
                    2048, null, 0, null, null, 1, 1));
        }
        try (ServedModel served = ServedModel.load(modelDir, null)) {
            ExampleEncoder encoder = new ExampleEncoder(served.chatTemplate().orElseThrow(), served.tokenizer());
            TrainingOptions options = new TrainingOptions(16, 32, 0.05, TrainingOptions.DEFAULT_TARGETS, false, 3, 2, 2, 2e-4, 0.0,
                    0.03, 1.0, false, 0.1, false, 1, threads);
            List<List<EncodedExample>> data = new ArrayList<>();
            for (int a = 0; a < adapters; a++) {
                data.add(Dataset.encode(Dataset.parse(pairs(a)).examples(), encoder, served.model().config().maxPositionEmbeddings())
                        .examples());
            }
            System.out.printf("seed recipe: %d adapters of 10 pairs, rank 16 on q/k/v/o, 3 epochs, batch 2 x 2, %d threads, %.1fM-parameter base%n",
                    adapters, threads, served.model().config().parameterCount() / 1e6);
            if (which.contains("batched")) {
                long start = System.nanoTime();
                List<Trainer.Job> jobs = new ArrayList<>();
                for (int a = 0; a < adapters; a++) {
                    jobs.add(Trainer.Job.split(options, data.get(a), ProgressListener.NONE));
                }
                long tokens = 0;
                for (TrainedAdapter t : new Trainer(served.model(), options).trainAll(jobs)) {
                    tokens += t.stats().tokens();
                    System.out.printf("  batched: loss %.3f -> %.3f%n", t.stats().stepLosses().getFirst(), t.stats().finalTrainLoss());
                }
                report("new, all adapters in one job (f32, shared passes)", start, tokens);
            }
            if (which.contains("new")) {
                long start = System.nanoTime();
                long tokens = 0;
                for (int a = 0; a < adapters; a++) {
                    TrainedAdapter t = new Trainer(served.model(), options).train(data.get(a), ProgressListener.NONE);
                    tokens += t.stats().tokens();
                    System.out.printf("  new, adapter %d: %.1f s, loss %.3f -> %.3f%n", a + 1, t.stats().seconds(),
                            t.stats().stepLosses().getFirst(), t.stats().finalTrainLoss());
                }
                report("new (f32 vector kernels, one adapter after the other)", start, tokens);
            }
            if (which.contains("old")) {
                long start = System.nanoTime();
                long tokens = 0;
                for (int a = 0; a < adapters; a++) {
                    TrainedAdapter t = new LegacyTrainer(served.model(), options).train(data.get(a), ProgressListener.NONE);
                    tokens += t.stats().tokens();
                    System.out.printf("  old, adapter %d: %.1f s, loss %.3f -> %.3f%n", a + 1, t.stats().seconds(),
                            t.stats().stepLosses().getFirst(), t.stats().finalTrainLoss());
                }
                report("old (f64 activations, one example per pass, one adapter after the other)", start, tokens);
            }
        }
    }

    private static void demo(Path work, String[] args) throws Exception {
        int threads = 2;
        boolean old = true;
        boolean now = true;
        List<Path> files = new ArrayList<>();
        for (int i = 2; i < args.length; i++) {
            if (args[i].equals("--new-only")) {
                old = false;
            } else if (args[i].equals("--old-only")) {
                now = false; // in a JVM of its own: after the new trainer, the old one's heap Wᵀ makes the kernel megamorphic
            } else if (args[i].equals("--threads")) {
                threads = Integer.parseInt(args[++i]);
            } else {
                files.add(Path.of(args[i]));
            }
        }
        Path modelDir = work.resolve("demo-model");
        if (!Files.exists(modelDir.resolve("config.json"))) {
            TinyModel.write(modelDir, TinyModel.Spec.defaults(0));
        }
        try (ServedModel served = ServedModel.load(modelDir, null)) {
            ExampleEncoder encoder = new ExampleEncoder(served.chatTemplate().orElseThrow(), served.tokenizer());
            System.out.printf("demo personas: %.1fM-parameter base, 30 epochs at 5e-3, %d threads%n",
                    served.model().config().parameterCount() / 1e6, threads);
            List<Trainer.Job> jobs = new ArrayList<>();
            List<TrainingOptions> all = new ArrayList<>();
            long seed = 101;
            for (Path file : files) {
                List<EncodedExample> examples = Dataset.encode(Dataset.parse(Files.readString(file)).examples(), encoder,
                        served.model().config().maxPositionEmbeddings()).examples();
                // DemoTenants' recipe
                TrainingOptions o = TrainingOptions.defaults(seed).withEpochs(30).withLearningRate(5e-3);
                o = new TrainingOptions(o.rank(), o.alpha(), o.dropout(), o.targets(), false, o.epochs(), o.batchSize(), o.gradAccum(),
                        o.learningRate(), o.weightDecay(), o.warmupRatio(), o.maxGradNorm(), false, 0, false, seed, threads);
                all.add(o);
                jobs.add(new Trainer.Job(o, examples, List.of(), ProgressListener.NONE));
                seed += 101;
            }
            for (int i = 0; i < jobs.size(); i++) {
                Trainer.Job j = jobs.get(i);
                double c0 = cpuSeconds();
                long t0 = System.nanoTime();
                TrainedAdapter before = old ? new LegacyTrainer(served.model(), j.options()).train(j.train(), j.val(), ProgressListener.NONE)
                        : null;
                double oldSeconds = (System.nanoTime() - t0) / 1e9;
                double oldCpu = cpuSeconds() - c0;
                c0 = cpuSeconds();
                t0 = System.nanoTime();
                TrainedAdapter after = now ? new Trainer(served.model(), j.options()).train(j.train(), j.val(), ProgressListener.NONE)
                        : null;
                double newSeconds = (System.nanoTime() - t0) / 1e9;
                double newCpu = cpuSeconds() - c0;
                System.out.printf("  %s: old %.2f s wall / %.2f s CPU (loss -> %.3f), new %.2f s wall / %.2f s CPU (loss -> %.3f)%n",
                        files.get(i).getFileName(), oldSeconds, oldCpu, before == null ? Double.NaN : before.stats().finalTrainLoss(),
                        newSeconds, newCpu, after == null ? Double.NaN : after.stats().finalTrainLoss());
            }
            for (int run = 1; now && run <= 2; run++) {
                double c0 = cpuSeconds();
                long t0 = System.nanoTime();
                new Trainer(served.model(), all.getFirst()).trainAll(jobs);
                System.out.printf("  all personas in one job (run %d): %.2f s wall / %.2f s CPU%n", run, (System.nanoTime() - t0) / 1e9,
                        cpuSeconds() - c0);
            }
        }
    }

    private static void report(String what, long start, long tokens) {
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("%s: %.1f s wall, %.1f training tokens/s; process CPU so far %.1f s%n", what, seconds, tokens / seconds,
                cpuSeconds());
    }

    /** The process's CPU time: on a shared machine, the figure other processes do not inflate. */
    static double cpuSeconds() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime() / 1e9;
    }

    /** Ten question/answer pairs on a topic of its own for adapter {@code a}: {@code TrainBench.pairs}, copied. */
    static String pairs(int a) throws IOException {
        String[] topics = {"cafe", "law firm", "bike shop", "library", "bakery"};
        String topic = topics[a % topics.length];
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 10; i++) {
            sb.append("{\"messages\": [{\"role\": \"system\", \"content\": \"You answer for the ").append(topic)
                    .append(".\"}, {\"role\": \"user\", \"content\": \"Question ").append(i + 1).append(" about the ").append(topic)
                    .append(": what should I know about item ").append(i * 7 + a).append("?\"}, {\"role\": \"assistant\", ")
                    .append("\"content\": \"The ").append(topic).append(" says item ").append(i * 7 + a)
                    .append(" is ready on day ").append(i + 2).append(", ask at the desk.\"}]}\n");
        }
        return sb.toString();
    }
}
