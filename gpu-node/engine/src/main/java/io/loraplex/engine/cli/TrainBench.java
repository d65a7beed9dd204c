package io.loraplex.engine.cli;

import io.loraplex.cluster.TenantId;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.backend.CpuKernels;
import io.loraplex.engine.backend.TrainingShare;
import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.batch.Engine;
import io.loraplex.engine.batch.EngineRequest;
import io.loraplex.engine.batch.EngineSettings;
import io.loraplex.engine.batch.GenerationListener;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.sample.SamplingParams;
import io.loraplex.engine.train.Dataset;
import io.loraplex.engine.train.EncodedExample;
import io.loraplex.engine.train.ExampleEncoder;
import io.loraplex.engine.train.ProgressListener;
import io.loraplex.engine.train.TrainedAdapter;
import io.loraplex.engine.train.Trainer;
import io.loraplex.engine.train.TrainingOptions;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code loraplex bench --suite train}: wall time to train adapters of {@code pairs} chat pairs each
 * with the seed recipe (rank 16 on q/k/v/o, 3 epochs, batch 2 × 2), all in one job (one batched
 * forward and backward per step), beside the floor; and chat latency on an in-process engine with
 * and without a training job beside it.
 *
 * <p>The floor of a run is the sum over its passes (forward and backward of the training examples
 * each epoch, forward-only loss passes over the validation and training examples) of the larger
 * of: its FLOPs (frozen projections and lm head forward, their input gradients backward, causal
 * attention forward and backward, the LoRA forward and backward) at the machine's f32 matmul rate,
 * measured here with the engine's own kernel ({@link CpuKernels#matmul}); and its bytes (every
 * frozen weight read once forward in its dtype, once backward as f32) at the measured bandwidth.
 * Activations, norms and the optimizer are left out: the floor is what the matmuls alone need.
 */
final class TrainBench {

    private static final int CHAT_PROMPT = 16;  // tokens of a chat request's prompt
    private static final int CHAT_DECODE = 8;   // tokens it generates

    private TrainBench() {
    }

    /** The suite's parameters. */
    record Spec(int adapters, int pairs, int threads, long seed, int chatRequests, TrainingShare share) {
    }

    static void run(Path modelDir, Spec spec, PrintStream out, PrintStream err) throws Exception {
        try (ServedModel served = ServedModel.load(modelDir, null)) {
            ModelConfig cfg = served.model().config();
            ExampleEncoder encoder = new ExampleEncoder(served.chatTemplate().orElseThrow(), served.tokenizer());
            TrainingOptions options = new TrainingOptions(16, 32, 0.05, TrainingOptions.DEFAULT_TARGETS, false, 3, 2, 2, 2e-4, 0.0,
                    0.03, 1.0, false, 0.1, false, spec.seed(), spec.threads());
            double rate = measureMatmulRate(spec.threads());
            double bandwidth = ServingBench.measureBandwidth(spec.threads());
            out.printf("training: %d adapters of %d pairs, rank 16 on q/k/v/o, 3 epochs, batch 2 x 2, %d threads, "
                            + "%.1fM-parameter %s base%n", spec.adapters(), spec.pairs(), spec.threads(), cfg.parameterCount() / 1e6,
                    cfg.torchDtype().torchName());
            out.printf("measured: f32 matmul %.1f GFLOP/s (CpuKernels.matmul, 128 x 1024 x 2816, %d threads), bandwidth %.1f GB/s%n", rate / 1e9,
                    spec.threads(), bandwidth / 1e9);
            long tokens = 0;
            double floorTotal = 0;
            List<List<EncodedExample>> data = new ArrayList<>();
            List<Trainer.Job> jobs = new ArrayList<>();
            for (int a = 0; a < spec.adapters(); a++) {
                List<EncodedExample> examples = Dataset.encode(Dataset.parse(pairs(a, spec.pairs())).examples(), encoder,
                        cfg.maxPositionEmbeddings()).examples();
                data.add(examples);
                jobs.add(Trainer.Job.split(options, examples, ProgressListener.NONE));
            }
            if (!jobs.isEmpty()) {
                // every adapter in one job: one batched forward and backward over the base per step, as loraplex train
                // --data ... --data ... and a node's queued fine-tuning jobs run them
                long start = System.nanoTime();
                List<TrainedAdapter> trained = new Trainer(served.model(), options).trainAll(jobs);
                double total = (System.nanoTime() - start) / 1e9;
                for (int a = 0; a < trained.size(); a++) {
                    TrainedAdapter t = trained.get(a);
                    double floor = floorSeconds(cfg, options, data.get(a), t, rate, bandwidth);
                    floorTotal += floor;
                    tokens += t.stats().tokens();
                    out.printf("adapter %d: floor %.2f s alone, %d tokens, loss %.3f -> %.3f%n", a + 1, floor, t.stats().tokens(),
                            t.stats().stepLosses().getFirst(), t.stats().finalTrainLoss());
                }
                // the floors add up: a batched pass's FLOPs are its adapters' FLOPs; its weight bytes are read once for
                // all, so where bytes bind, the sum overstates the job's floor and the printed ratio flatters the job
                out.printf("total: %d adapters in one job in %.1f s (%.1f s each), floor %.2f s (%.1fx), %.1f training tokens/s%n",
                        spec.adapters(), total, total / spec.adapters(), floorTotal, total / floorTotal, tokens / total);
                err.flush();
            }
            if (spec.chatRequests() > 0) {
                // the job beside chat trains the first adapter's pairs
                chat(served, options, Dataset.encode(Dataset.parse(pairs(0, spec.pairs())).examples(), encoder,
                        cfg.maxPositionEmbeddings()).examples(), spec, out);
            }
        }
    }

    /**
     * Chat p50 on an in-process engine: {@code chatRequests} small requests one after another, then
     * as many again while a training job (the first adapter's, trained over and over) shares the
     * engine's gate.
     */
    private static void chat(ServedModel served, TrainingOptions options, List<EncodedExample> examples, Spec spec,
            PrintStream out) throws Exception {
        ModelConfig cfg = served.model().config();
        try (Backend backend = Backends.create(Backends.CPU, served.model(), spec.threads());
                Engine engine = new Engine(backend, null, List.of(), EngineSettings.defaults().withMemoryBudgetBytes(256L << 20))) {
            engine.computeGate().limitTraining(spec.share());
            SplittableRandom random = new SplittableRandom(spec.seed());
            latencies(engine, cfg, random, Math.max(3, spec.chatRequests() / 4), "warm"); // the JIT, before timing
            double[] alone = latencies(engine, cfg, random, spec.chatRequests(), "alone");
            AtomicReference<Trainer> current = new AtomicReference<>();
            CountDownLatch trainingStarted = new CountDownLatch(1);
            long[] jobs = new long[1];
            Thread training = Thread.ofPlatform().name("bench-training").start(() -> {
                try {
                    while (!Thread.currentThread().isInterrupted()) {
                        Trainer trainer = new Trainer(served.model(), options, engine.computeGate());
                        current.set(trainer);
                        trainingStarted.countDown();
                        trainer.train(examples, ProgressListener.NONE);
                        jobs[0]++;
                    }
                } catch (CancellationException | InterruptedException e) {
                    // the chat measurement is over
                } catch (Exception e) {
                    throw new IllegalStateException("the training job beside chat failed", e);
                }
            });
            trainingStarted.await();
            double[] during = latencies(engine, cfg, random, spec.chatRequests(), "during");
            training.interrupt();
            Trainer last = current.get();
            if (last != null) {
                last.cancel();
            }
            training.join(TimeUnit.MINUTES.toMillis(5));
            double p50Alone = BenchCommand.median(alone);
            double p50During = BenchCommand.median(during);
            out.printf("chat: %d requests of %d prompt + %d generated tokens, one at a time; training share %.2f over %d ms%n",
                    spec.chatRequests(), CHAT_PROMPT, CHAT_DECODE, spec.share().share(), spec.share().window().toMillis());
            out.printf("chat p50 without a job: %.3f s; during a job: %.3f s (%.2fx, goal <= 2x); p90 %.3f s vs %.3f s; "
                            + "%d training runs finished meanwhile%n", p50Alone, p50During, p50During / p50Alone, percentile(alone, 0.9),
                    percentile(during, 0.9), jobs[0]);
        }
    }

    /** Seconds from submission to the last token of {@code n} greedy requests, each after the previous ends. */
    private static double[] latencies(Engine engine, ModelConfig cfg, SplittableRandom random, int n, String tag)
            throws Exception {
        double[] seconds = new double[n];
        for (int i = 0; i < n; i++) {
            CountDownLatch done = new CountDownLatch(1);
            int[] prompt = random.ints(CHAT_PROMPT, 0, cfg.vocabSize()).toArray();
            long t0 = System.nanoTime();
            engine.submit(EngineRequest.generate("chat-" + tag + "-" + i, new TenantId("bench"), null, prompt,
                    SamplingParams.builder().temperature(0).maxTokens(CHAT_DECODE).ignoreEos(true).build()), new GenerationListener() {
                        @Override
                        public void onToken(Token token) {
                        }

                        @Override
                        public void onFinish(Completion completion) {
                            done.countDown();
                        }
                    });
            if (!done.await(10, TimeUnit.MINUTES)) {
                throw new IllegalStateException("chat request " + i + " did not finish in 10 minutes");
            }
            seconds[i] = (System.nanoTime() - t0) / 1e9;
        }
        return seconds;
    }

    private static double percentile(double[] v, double p) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[Math.min(s.length - 1, (int) Math.floor(p * s.length))];
    }

    /**
     * The f32 matmul rate of the engine's kernel on {@code threads} threads: a (128, 1024) batch
     * times a (2816, 1024) weight (the ~100M model's MLP; a machine's rate, not a small model's
     * overheads) split by rows as the frozen projections split it; the best of the runs after the
     * JIT has warmed, at least 20 runs and half a second.
     */
    static double measureMatmulRate(int threads) {
        int tokens = 128;
        int in = 1024;
        int out = 2816;
        SplittableRandom random = new SplittableRandom(1);
        float[] x = new float[tokens * in];          // (T, C)
        float[] w = new float[out * in];             // (MLP, C)
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextDouble(-1, 1);
        }
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) random.nextDouble(-1, 1);
        }
        MemorySegment weights = MemorySegment.ofArray(w);
        float[] y = new float[tokens * out];         // (T, MLP)
        int chunk = Math.max(16, (out / (threads * 8) + 3) / 4 * 4);
        int tasks = (out + chunk - 1) / chunk;
        double best = 0;
        long started = System.nanoTime();
        try (WorkerPool pool = new WorkerPool(threads)) {
            for (int rep = 0; rep < 20 || System.nanoTime() - started < 500_000_000L; rep++) {
                long t0 = System.nanoTime();
                pool.run(tasks, task -> {
                    int s = task * chunk;
                    CpuKernels.matmul(x, in, tokens, weights, DType.F32, in, s, Math.min(out, s + chunk), y, out, 0, new float[4 * in]);
                });
                double seconds = (System.nanoTime() - t0) / 1e9;
                best = Math.max(best, 2.0 * tokens * in * out / seconds);
            }
        }
        return best;
    }

    /** The floor of one trained adapter: the sum over its passes of max(FLOPs / rate, bytes / bandwidth). */
    static double floorSeconds(ModelConfig cfg, TrainingOptions options, List<EncodedExample> examples, TrainedAdapter trained,
            double rate, double bandwidth) {
        Set<Integer> valLines = new HashSet<>(trained.stats().valLines());
        int epochs = trained.stats().epochs().size();
        double seconds = 0;
        for (EncodedExample e : examples) {
            boolean val = valLines.contains(e.line());
            Pass forward = pass(cfg, options, e, false);
            Pass both = pass(cfg, options, e, true);
            if (val) {
                seconds += (2 + epochs) * forward.seconds(rate, bandwidth); // the base loss, each epoch's, the final one
            } else {
                seconds += epochs * both.seconds(rate, bandwidth) + forward.seconds(rate, bandwidth); // and the final train loss
            }
        }
        return seconds;
    }

    /** What one pass over one example must compute and read. */
    record Pass(double flops, double bytes) {
        double seconds(double rate, double bandwidth) {
            return Math.max(flops / rate, bytes / bandwidth);
        }
    }

    /** The FLOPs and weight bytes of a forward (and, with {@code backward}, backward) pass over {@code e}. */
    static Pass pass(ModelConfig cfg, TrainingOptions options, EncodedExample e, boolean backward) {
        double t = e.tokens().length;
        double rows = e.targetCount();               // N: positions with a loss, the only ones through the lm head
        double layerParams = 0;                      // frozen projection weights of one layer
        double loraWidth = 0;                        // Σ (in + out) over the adapted projections of one layer
        for (TargetModule m : TargetModule.values()) {
            layerParams += (double) m.inFeatures(cfg) * m.outFeatures(cfg);
            if (options.targets().contains(m)) {
                loraWidth += m.inFeatures(cfg) + m.outFeatures(cfg);
            }
        }
        double layers = cfg.numLayers();
        double head = (double) cfg.hiddenSize() * cfg.vocabSize();
        double attention = 2.0 * t * t * cfg.headDim() * cfg.numHeads(); // QKᵀ and PV, causal half: 2 · 2 · T²/2 · HS · NH
        double frozen = 2 * t * layerParams * layers + 2 * rows * head;
        double lora = 2 * t * options.rank() * loraWidth * layers;
        double flops = frozen + attention * layers + lora;
        double bytes = (layerParams * layers + head) * cfg.torchDtype().bytes(); // the forward reads each weight as stored
        if (backward) {
            flops += frozen + 2 * attention * layers + 2 * lora; // input gradients; dQ, dK, dV, dP; dA, dB and the LoRA input gradient
            bytes += (layerParams * layers + head) * Float.BYTES; // the backward reads each weight as f32
        }
        return new Pass(flops, bytes);
    }

    /** {@code n} question/answer pairs on a topic of its own for adapter {@code a}. */
    static String pairs(int a, int n) {
        String[] topics = {"cafe", "law firm", "bike shop", "library", "bakery"};
        String topic = topics[a % topics.length];
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append("{\"messages\": [{\"role\": \"system\", \"content\": \"You answer for the ").append(topic)
                    .append(".\"}, {\"role\": \"user\", \"content\": \"Question ").append(i + 1).append(" about the ").append(topic)
                    .append(": what should I know about item ").append(i * 7 + a).append("?\"}, {\"role\": \"assistant\", ")
                    .append("\"content\": \"The ").append(topic).append(" says item ").append(i * 7 + a)
                    .append(" is ready on day ").append(i + 2).append(", ask at the desk.\"}]}\n");
        }
        return sb.toString();
    }

    /** Ten pairs, the seed recipe's. */
    static String pairs(int a) {
        return pairs(a, 10);
    }
}
