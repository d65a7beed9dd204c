package io.loraplex.engine.cli;

import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.backend.WorkerPool;
import io.loraplex.engine.backend.Workspace;
import io.loraplex.engine.batch.AdapterSpec;
import io.loraplex.engine.batch.Engine;
import io.loraplex.engine.batch.EngineRequest;
import io.loraplex.engine.batch.EngineSettings;
import io.loraplex.engine.batch.GenerationListener;
import io.loraplex.engine.lora.AdapterConfig;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.LoraWeights;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.sample.SamplingParams;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;

/**
 * The serving suite of {@code loraplex bench}: decode steps of many sequences with no adapter, one
 * shared adapter or all-distinct adapters, each beside its floor (the larger of its FLOPs at the
 * machine's matmul rate and its bytes at the measured memory bandwidth); throughput as resident
 * adapters grow; and concurrent requests on distinct adapters end to end through the engine.
 */
final class ServingBench {

    /** The fp32 matmul rate the floors assume: OpenBLAS's on 2 threads on these machines. */
    static final double FLOPS_PER_SECOND = 160e9;

    private ServingBench() {
    }

    record Step(String config, int batch, double stepSeconds, double floorSeconds, double tokensPerSecond) {
    }

    static void run(Backend backend, int threads, int context, int steps, int[] batches, PrintStream out) throws Exception {
        ModelConfig cfg = backend.config();
        double bandwidth = measureBandwidth(threads);
        out.printf("memory bandwidth (2-array copy, read + write bytes, %d threads): %.1f GB/s; matmul rate assumed %.0f GFLOP/s%n",
                threads, bandwidth / 1e9, FLOPS_PER_SECOND / 1e9);
        int maxBatch = Arrays.stream(batches).max().orElse(1);
        Set<TargetModule> all = EnumSet.allOf(TargetModule.class);
        Set<TargetModule> qkvo = EnumSet.of(TargetModule.Q_PROJ, TargetModule.K_PROJ, TargetModule.V_PROJ, TargetModule.O_PROJ);
        List<LoraAdapter> allAdapters = randomAdapters(cfg, all, 16, maxBatch, 1);
        List<LoraAdapter> qkvoAdapters = randomAdapters(cfg, qkvo, 16, maxBatch, 2);
        List<LoraAdapter> placed = new ArrayList<>(allAdapters);
        placed.addAll(qkvoAdapters);
        int blockSize = 16;
        int blocksPerSeq = (context + 1 + blockSize - 1) / blockSize + 1;
        try (Workspace ws = Workspace.create(backend, blockSize, blocksPerSeq * maxBatch, placed)) {
            int[][] tables = new int[maxBatch][];
            for (int s = 0; s < maxBatch; s++) {
                tables[s] = ws.blocks(blocksPerSeq);
            }
            prefill(backend, ws, tables, context, maxBatch);
            out.printf("%n%-28s %6s %10s %10s %7s %10s%n", "decode step", "batch", "step ms", "floor ms", "ratio", "tok/s");
            for (int b : batches) {
                print(out, decode(backend, ws, tables, context, b, null, "no adapter", steps, bandwidth));
            }
            for (var recipe : List.of(Map.entry("r16 all-linear", allAdapters), Map.entry("r16 q/k/v/o", qkvoAdapters))) {
                for (int b : batches) {
                    print(out, decode(backend, ws, tables, context, b, List.of(recipe.getValue().getFirst()),
                            "shared, " + recipe.getKey(), steps, bandwidth));
                }
                for (int b : batches) {
                    print(out, decode(backend, ws, tables, context, b, recipe.getValue().subList(0, b),
                            "distinct, " + recipe.getKey(), steps, bandwidth));
                }
            }
        }
    }

    private static void print(PrintStream out, Step s) {
        out.printf("%-28s %6d %10.2f %10.2f %7.2f %10.1f%n", s.config, s.batch, s.stepSeconds * 1e3, s.floorSeconds * 1e3,
                s.stepSeconds / s.floorSeconds, s.tokensPerSecond);
    }

    /** Fills every sequence's KV up to {@code context} positions, in chunks. */
    private static void prefill(Backend backend, Workspace ws, int[][] tables, int context, int n) {
        float[] logits = new float[backend.config().vocabSize()];
        SplittableRandom r = new SplittableRandom(5);
        for (int s = 0; s < n; s++) {
            int[] prompt = r.ints(context, 0, backend.config().vocabSize()).toArray();
            backend.forward(ForwardBatch.single(prompt, 0, tables[s], null), ws.arena(), logits);
        }
    }

    /**
     * Median step time of {@code batch} sequences decoding at position {@code context}, token i
     * using {@code adapters[i % n]} (null: none).
     */
    static Step decode(Backend backend, Workspace ws, int[][] tables, int context, int batch, List<LoraAdapter> adapters,
            String name, int steps, double bandwidth) {
        ModelConfig cfg = backend.config();
        int[] tokens = new int[batch];
        int[] positions = new int[batch];
        int[] sequence = new int[batch];
        int[] adapterIndex = new int[batch];
        int[] logitRows = new int[batch];
        PagedAdapter[] paged = adapters == null ? new PagedAdapter[0]
                : adapters.stream().map(ws::paged).toArray(PagedAdapter[]::new);
        for (int i = 0; i < batch; i++) {
            tokens[i] = (i * 31) % cfg.vocabSize();
            positions[i] = context;
            sequence[i] = i;
            adapterIndex[i] = adapters == null ? ForwardBatch.NO_ADAPTER : i % adapters.size();
            logitRows[i] = i;
        }
        ForwardBatch fb = new ForwardBatch(tokens, positions, sequence, Arrays.copyOf(tables, batch), adapterIndex, paged, logitRows);
        float[] logits = new float[batch * cfg.vocabSize()];
        for (int i = 0; i < 3; i++) {
            backend.forward(fb, ws.arena(), logits);
        }
        double[] times = new double[steps];
        for (int i = 0; i < steps; i++) {
            long t0 = System.nanoTime();
            backend.forward(fb, ws.arena(), logits);
            times[i] = (System.nanoTime() - t0) / 1e9;
        }
        double step = BenchCommand.median(times);
        double floor = floor(cfg, batch, context, adapters == null ? List.of() : adapters, bandwidth);
        return new Step(name, batch, step, floor, batch / step);
    }

    /** The larger of FLOPs at the matmul rate and bytes read at the measured bandwidth, for one decode step. */
    static double floor(ModelConfig cfg, int batch, int context, List<LoraAdapter> adapters, double bandwidth) {
        long layerParams = (long) cfg.hiddenSize() * cfg.qDim() + 2L * cfg.hiddenSize() * cfg.kvDim()
                + (long) cfg.qDim() * cfg.hiddenSize() + 3L * cfg.hiddenSize() * cfg.intermediateSize();
        long weightParams = cfg.numLayers() * layerParams + (long) cfg.vocabSize() * cfg.hiddenSize();
        double flops = 2.0 * weightParams * batch;
        flops += 4.0 * batch * (context + 1) * cfg.qDim() * cfg.numLayers(); // q·k and p·v
        double bytes = weightParams * (double) cfg.torchDtype().bytes();
        bytes += (double) batch * (context + 1) * cfg.numLayers() * 2 * cfg.kvDim() * Float.BYTES;
        for (int i = 0; i < batch && !adapters.isEmpty(); i++) {
            flops += 2.0 * adapters.get(i % adapters.size()).parameterCount();
        }
        for (LoraAdapter a : new java.util.LinkedHashSet<>(adapters)) {
            bytes += a.byteSize();
        }
        return Math.max(flops / FLOPS_PER_SECOND, bytes / bandwidth);
    }

    /** Copies a large array (well beyond any cache) with the given threads: read plus write bytes per second. */
    static double measureBandwidth(int threads) {
        int n = 64 << 20; // 256 MiB per array
        float[] src = new float[n];
        float[] dst = new float[n];
        Arrays.fill(src, 1.5f);
        double best = 0;
        try (WorkerPool pool = new WorkerPool(threads)) {
            int chunks = threads * 8;
            int per = n / chunks;
            for (int rep = 0; rep < 5; rep++) {
                long t0 = System.nanoTime();
                pool.run(chunks, c -> System.arraycopy(src, c * per, dst, c * per, c == chunks - 1 ? n - c * per : per));
                double seconds = (System.nanoTime() - t0) / 1e9;
                best = Math.max(best, 2.0 * n * Float.BYTES / seconds);
            }
        }
        return best;
    }

    /** Throughput of {@code batch} distinct-adapter decode steps while {@code resident} adapters share the arena. */
    static void residentScaling(Backend backend, int context, int steps, int batch, int[] residents, PrintStream out)
            throws Exception {
        ModelConfig cfg = backend.config();
        Set<TargetModule> qkvo = EnumSet.of(TargetModule.Q_PROJ, TargetModule.K_PROJ, TargetModule.V_PROJ, TargetModule.O_PROJ);
        out.printf("%n%-28s %10s %10s %10s%n", "resident adapters (r8 q/k/v/o)", "resident", "step ms", "tok/s");
        int blockSize = 16;
        int blocksPerSeq = (context + 1 + blockSize - 1) / blockSize + 1;
        for (int resident : residents) {
            List<LoraAdapter> adapters = randomAdapters(cfg, qkvo, 8, resident, 100 + resident);
            try (Workspace ws = Workspace.create(backend, blockSize, blocksPerSeq * batch, adapters)) {
                int[][] tables = new int[batch][];
                for (int s = 0; s < batch; s++) {
                    tables[s] = ws.blocks(blocksPerSeq);
                }
                prefill(backend, ws, tables, context, batch);
                // each step draws its batch's adapters afresh from all resident ones
                SplittableRandom r = new SplittableRandom(3);
                double[] times = new double[steps];
                float[] logits = new float[batch * cfg.vocabSize()];
                for (int i = -3; i < steps; i++) {
                    List<LoraAdapter> chosen = new ArrayList<>();
                    for (int b = 0; b < batch; b++) {
                        chosen.add(adapters.get(r.nextInt(adapters.size())));
                    }
                    Step s = decode(backend, ws, tables, context, batch, chosen, "", 1, 1);
                    if (i >= 0) {
                        times[i] = s.stepSeconds;
                    }
                }
                double step = BenchCommand.median(times);
                out.printf("%-28s %10d %10.2f %10.1f%n", "distinct, batch " + batch, resident, step * 1e3, batch / step);
            }
        }
    }

    /** {@code n} concurrent requests on {@code n} distinct adapters through the engine: aggregate generated tokens/s. */
    static void concurrent(Backend backend, int n, int promptTokens, int decodeTokens, PrintStream out) throws Exception {
        ModelConfig cfg = backend.config();
        Set<TargetModule> qkvo = EnumSet.of(TargetModule.Q_PROJ, TargetModule.K_PROJ, TargetModule.V_PROJ, TargetModule.O_PROJ);
        List<LoraAdapter> adapters = randomAdapters(cfg, qkvo, 16, n, 7);
        EngineSettings settings = EngineSettings.defaults().withMaxRunning(n).withMaxRunningPerTenant(n)
                .withMemoryBudgetBytes(1L << 30).withMaxTokensPerStep(Math.max(512, n));
        try (Engine engine = new Engine(backend, null, List.of(), settings)) {
            for (LoraAdapter a : adapters) {
                engine.preload(AdapterSpec.loaded(a), true).get();
            }
            for (int round = 0; round < 2; round++) { // the first round warms the JIT up
                CountDownLatch done = new CountDownLatch(n);
                long[] generated = new long[1];
                List<EngineRequest> requests = new ArrayList<>();
                List<GenerationListener> listeners = new ArrayList<>();
                SplittableRandom r = new SplittableRandom(round);
                for (int i = 0; i < n; i++) {
                    int[] prompt = r.ints(promptTokens, 0, cfg.vocabSize()).toArray();
                    requests.add(EngineRequest.generate("c" + round + "-" + i, new TenantId("t" + i), AdapterSpec.loaded(adapters.get(i)),
                            prompt, SamplingParams.builder().temperature(0).maxTokens(decodeTokens).ignoreEos(true).build()));
                    listeners.add(new GenerationListener() {
                        @Override
                        public void onToken(Token token) {
                            synchronized (generated) {
                                generated[0]++;
                            }
                        }

                        @Override
                        public void onFinish(Completion completion) {
                            done.countDown();
                        }
                    });
                }
                long t0 = System.nanoTime();
                engine.submitAll(requests, listeners);
                done.await();
                double seconds = (System.nanoTime() - t0) / 1e9;
                if (round == 1) {
                    out.printf("%n%d concurrent requests on %d distinct adapters (r16 q/k/v/o), prompt %d, %d tokens each: "
                                    + "%.1f generated tok/s aggregate (%.1f s, prefill included)%n",
                            n, n, promptTokens, decodeTokens, generated[0] / seconds, seconds);
                }
            }
        }
    }

    /** Random adapters built in memory (no files): B non-zero, so the math is real. */
    static List<LoraAdapter> randomAdapters(ModelConfig cfg, Set<TargetModule> targets, int rank, int count, long seed) {
        List<LoraAdapter> out = new ArrayList<>();
        SplittableRandom random = new SplittableRandom(seed);
        for (int k = 0; k < count; k++) {
            LoraWeights[][] w = new LoraWeights[cfg.numLayers()][TargetModule.COUNT];
            for (int l = 0; l < cfg.numLayers(); l++) {
                for (TargetModule m : targets) {
                    int in = m.inFeatures(cfg);
                    int outDim = m.outFeatures(cfg);
                    float[] a = new float[rank * in];
                    float[] b = new float[outDim * rank];
                    for (int i = 0; i < a.length; i++) {
                        a[i] = (float) (random.nextDouble() - 0.5) * 0.1f;
                    }
                    for (int i = 0; i < b.length; i++) {
                        b[i] = (float) (random.nextDouble() - 0.5) * 0.1f;
                    }
                    w[l][m.ordinal()] = new LoraWeights(rank, in, outDim, 2f, a, b);
                }
            }
            byte[] id = new byte[32];
            random.nextBytes(id);
            AdapterConfig config = new AdapterConfig(rank, 2.0 * rank, 0, false, targets.stream().map(TargetModule::shortName).toList(),
                    null, Map.of(), Map.of(), List.of(), null, null);
            out.add(new LoraAdapter("bench-" + seed + "-" + k, new ContentHash(HexFormat.of().formatHex(id)), config, w));
        }
        return out;
    }
}
