package io.loraplex.engine.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.backend.Workspace;
import io.loraplex.engine.backend.cuda.Device;
import io.loraplex.engine.backend.cuda.Gemm;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.LoraWeights;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.ModelShape;
import io.loraplex.cluster.ContentHash;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * {@code gpu-check bench --shape NAME}: decode tokens/s of the CUDA backend at each batch size, for
 * no adapter, one shared adapter and all-distinct adapters (rank 16 on q/k/v/o and on all seven
 * projections), each beside its {@link DecodeFloor} at the peaks this device measures now:
 * <ul>
 *   <li>read bandwidth: a bf16 GEMM of 8 rows against a 1 GiB weight matrix, which cuBLAS reads
 *       once (the decode step's own access pattern);</li>
 *   <li>bf16 GEMM rate: an 8192³ cuBLAS GEMM through {@link Device#gemm};</li>
 *   <li>and a 50 MB adapter copied host→device from pinned memory (the cold-adapter load path).</li>
 * </ul>
 * Writes {@code OUT/bench-SHAPE.md} and {@code .json} after every row, so a step cut off by its
 * timeout still leaves what it measured, and the goals' ratios at the end.
 */
final class GpuBench {

    private static final int BLOCK = 16;
    private static final int RANK = 16;

    private GpuBench() {
    }

    record Spec(int[] batches, int context, int steps, int distinctLimit, long seed) {
    }

    /** One adapter mix of the table. */
    record Mix(String name, Set<TargetModule> targets, boolean distinct) {
    }

    static final Set<TargetModule> QKVO = EnumSet.of(TargetModule.Q_PROJ, TargetModule.K_PROJ, TargetModule.V_PROJ,
            TargetModule.O_PROJ);

    static final List<Mix> MIXES = List.of(
            new Mix("none", Set.of(), false),
            new Mix("shared q/k/v/o", QKVO, false),
            new Mix("distinct q/k/v/o", QKVO, true),
            new Mix("shared all-7", EnumSet.allOf(TargetModule.class), false),
            new Mix("distinct all-7", EnumSet.allOf(TargetModule.class), true));

    /** One measured row. {@code ratio} is floor time ÷ measured time (1 = at the floor). */
    record Row(String mix, int batch, double stepMs, double tokensPerSecond, double floorMs, double ratio, String bound, Double peft) {
    }

    static int run(Device gpu, Path modelDir, ModelShape shape, Spec spec, Path peer, Path outDir, PrintStream out) throws Exception {
        DecodeFloor.Peaks peaks = measurePeaks(gpu, out);
        double pinnedGbps = pinnedUpload(gpu, 50_000_000L);
        out.printf(Locale.ROOT, "read %.0f GB/s, bf16 GEMM %.0f TFLOP/s, 50 MB pinned upload %.2f GB/s%n",
                peaks.readBytesPerSecond() / 1e9, peaks.gemmFlopsPerSecond() / 1e12, pinnedGbps);
        Map<String, Double> peft = peer == null || !Files.exists(peer) ? Map.of() : readPeer(peer, shape);
        List<Row> rows = new ArrayList<>();
        int maxBatch = Arrays.stream(spec.batches()).max().orElse(1);
        try (BaseModel model = BaseModel.load(modelDir);
                Backend cuda = GpuSeams.cudaBackend(model.config(), model.weights(), new UnclosedDevice(gpu))) {
            ModelConfig cfg = model.config();
            int distinct = Math.min(maxBatch, spec.distinctLimit());
            Map<Mix, List<LoraAdapter>> adapters = new HashMap<>();
            List<LoraAdapter> placed = new ArrayList<>();
            for (Mix mix : MIXES) {
                if (!mix.targets().isEmpty()) {
                    List<LoraAdapter> list = copies(ServingBench.randomAdapters(cfg, mix.targets(), RANK, 1, spec.seed() + mix.name().length())
                            .getFirst(), mix.distinct() ? distinct : 1);
                    adapters.put(mix, list);
                    placed.addAll(list);
                }
            }
            int blocksPerSeq = (spec.context() + 1 + BLOCK - 1) / BLOCK + 1;
            long t0 = System.nanoTime();
            try (Workspace ws = Workspace.create(cuda, BLOCK, blocksPerSeq * maxBatch, placed)) {
                out.printf(Locale.ROOT, "placed %d adapters and %d KV pages in %.1f s%n", placed.size(), blocksPerSeq * maxBatch,
                        (System.nanoTime() - t0) / 1e9);
                int[][] tables = new int[maxBatch][];
                for (int s = 0; s < maxBatch; s++) {
                    tables[s] = ws.blocks(blocksPerSeq);
                }
                prefill(cuda, ws, tables, spec.context(), cfg);
                for (Mix mix : MIXES) {
                    for (int b : spec.batches()) {
                        List<LoraAdapter> use = adapters.getOrDefault(mix, List.of());
                        double seconds = decode(cuda, ws, tables, spec.context(), b, use, spec.steps());
                        int n = use.isEmpty() ? 0 : Math.min(b, use.size());
                        DecodeFloor floor = DecodeFloor.of(cfg, b, spec.context(), n, use.isEmpty() ? 0 : b, RANK, mix.targets());
                        double floorSeconds = floor.seconds(peaks);
                        Row row = new Row(mix.name(), b, seconds * 1e3, b / seconds, floorSeconds * 1e3, floorSeconds / seconds,
                                floor.bound(peaks), peft.get(mix.name() + "@" + b));
                        rows.add(row);
                        out.printf(Locale.ROOT, "%-18s %4d %9.2f ms %10.1f tok/s  floor %8.2f ms (%s)  %5.1f%%%n", row.mix(), b,
                                row.stepMs(), row.tokensPerSecond(), row.floorMs(), row.bound(), 100 * row.ratio());
                        write(outDir, shape, gpu.description(), peaks, pinnedGbps, spec, rows, false);
                    }
                }
            }
        }
        write(outDir, shape, gpu.description(), peaks, pinnedGbps, spec, rows, true);
        return 0;
    }

    /** {@code n} adapters with {@code source}'s weights under their own names: distinct pages on the device, one host copy. */
    static List<LoraAdapter> copies(LoraAdapter source, int n) {
        List<LoraAdapter> list = new ArrayList<>();
        LoraWeights[][] w = new LoraWeights[source.numLayers()][TargetModule.COUNT];
        for (int l = 0; l < w.length; l++) {
            for (TargetModule m : TargetModule.values()) {
                w[l][m.ordinal()] = source.weights(l, m);
            }
        }
        for (int i = 0; i < n; i++) {
            byte[] id = new byte[32];
            new SplittableRandom(i * 7919L + source.name().hashCode()).nextBytes(id);
            list.add(i == 0 ? source : new LoraAdapter(source.name() + "-" + i,
                    new ContentHash(java.util.HexFormat.of().formatHex(id)), source.config(), w));
        }
        return list;
    }

    private static void prefill(Backend backend, Workspace ws, int[][] tables, int context, ModelConfig cfg) {
        SplittableRandom r = new SplittableRandom(5);
        int perStep = Math.max(1, 4096 / Math.max(1, context));
        for (int first = 0; first < tables.length; first += perStep) {
            int n = Math.min(perStep, tables.length - first);
            int[] tokens = new int[n * context];
            int[] positions = new int[n * context];
            int[] sequence = new int[n * context];
            int[] adapter = new int[n * context];
            int[] logitRows = new int[n];
            Arrays.fill(adapter, ForwardBatch.NO_ADAPTER);
            for (int s = 0; s < n; s++) {
                for (int i = 0; i < context; i++) {
                    int row = s * context + i;
                    tokens[row] = r.nextInt(cfg.vocabSize());
                    positions[row] = i;
                    sequence[row] = first + s;
                }
                logitRows[s] = s * context + context - 1;
            }
            backend.forward(new ForwardBatch(tokens, positions, sequence, tables, adapter, new PagedAdapter[0], logitRows), ws.arena(),
                    new float[n * cfg.vocabSize()]);
        }
    }

    /** Median seconds of a decode step of {@code batch} sequences at position {@code context}, token i on {@code adapters[i % n]}. */
    private static double decode(Backend backend, Workspace ws, int[][] tables, int context, int batch, List<LoraAdapter> adapters,
            int steps) {
        ModelConfig cfg = backend.config();
        int[] tokens = new int[batch];
        int[] positions = new int[batch];
        int[] sequence = new int[batch];
        int[] adapterIndex = new int[batch];
        int[] logitRows = new int[batch];
        int n = adapters.isEmpty() ? 0 : Math.min(batch, adapters.size());
        PagedAdapter[] paged = adapters.subList(0, n).stream().map(ws::paged).toArray(PagedAdapter[]::new);
        for (int i = 0; i < batch; i++) {
            tokens[i] = (i * 31) % cfg.vocabSize();
            positions[i] = context;
            sequence[i] = i;
            adapterIndex[i] = n == 0 ? ForwardBatch.NO_ADAPTER : i % n;
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
            backend.forward(fb, ws.arena(), logits); // returns with the logits on the host: the step is done
            times[i] = (System.nanoTime() - t0) / 1e9;
        }
        return BenchCommand.median(times);
    }

    /** The device's read bandwidth and bf16 GEMM rate, each the best of 10 timed calls after 3 untimed ones. */
    static DecodeFloor.Peaks measurePeaks(Device d, PrintStream out) {
        int k = 16384;
        int n = 32768; // (n, k) bf16: 1 GiB, far past any cache
        int m = 8;
        long a = d.alloc(2L * m * k);
        long b = d.alloc(2L * n * k);
        long c = d.alloc(2L * m * n);
        fill(d, a, 2L * m * k);
        fill(d, b, 2L * n * k);
        double read = 2.0 * n * k / best(d, new Gemm(a, k, b, k, c, n, m, n, k, false));
        d.free(a);
        d.free(b);
        d.free(c);
        int s = 8192;
        long x = d.alloc(2L * s * s);
        long y = d.alloc(2L * s * s);
        long z = d.alloc(2L * s * s);
        fill(d, x, 2L * s * s);
        fill(d, y, 2L * s * s);
        double rate = 2.0 * s * s * s / best(d, new Gemm(x, s, y, s, z, s, s, s, s, false));
        d.free(x);
        d.free(y);
        d.free(z);
        return new DecodeFloor.Peaks(read, rate);
    }

    private static double best(Device d, Gemm g) {
        for (int i = 0; i < 3; i++) {
            d.gemm(g);
        }
        d.synchronize();
        double best = Double.MAX_VALUE;
        for (int i = 0; i < 10; i++) {
            long t0 = System.nanoTime();
            d.gemm(g);
            d.synchronize();
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return best;
    }

    /** Small random bf16 values (finite, so the GEMMs do real work), uploaded 64 MiB at a time. */
    private static void fill(Device d, long dst, long bytes) {
        long chunk = Math.min(bytes, 64L << 20);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment pattern = arena.allocate(chunk, 8);
            SplittableRandom r = new SplittableRandom(3);
            for (long i = 0; i < chunk / 2; i++) {
                pattern.setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i,
                        io.loraplex.engine.backend.cuda.HostMemory.floatToBf16((float) (r.nextDouble() - 0.5)));
            }
            for (long off = 0; off < bytes; off += chunk) {
                d.upload(pattern, dst + off, Math.min(chunk, bytes - off));
            }
        }
    }

    /** GB/s of one {@code bytes} host→device copy from pinned memory on the copy stream, best of 5. */
    static double pinnedUpload(Device d, long bytes) {
        MemorySegment pinned = d.allocPinned(bytes);
        long dst = d.alloc(bytes);
        try {
            pinned.fill((byte) 1);
            double best = Double.MAX_VALUE;
            for (int i = 0; i < 5; i++) {
                long t0 = System.nanoTime();
                d.uploadAsync(pinned, dst, bytes);
                d.syncCopies();
                best = Math.min(best, (System.nanoTime() - t0) / 1e9);
            }
            return bytes / best / 1e9;
        } finally {
            d.free(dst);
            d.freePinned(pinned);
        }
    }

    /** The peer's tokens/s by {@code "mix@batch"} for this shape, from {@code tools/gpu/peft_bench.py}'s JSON. */
    static Map<String, Double> readPeer(Path file, ModelShape shape) throws java.io.IOException {
        Map<String, Double> byKey = new HashMap<>();
        JsonNode root = new ObjectMapper().readTree(file.toFile());
        for (JsonNode r : root.path("results")) {
            if (r.path("shape").asText().equals(shape.flagName()) && r.has("tokens_per_s")) {
                byKey.put(r.path("mix").asText() + "@" + r.path("batch").asInt(), r.path("tokens_per_s").asDouble());
            }
        }
        return byKey;
    }

    /** The goals' verdicts over the rows: batch-1 at ≥ 80% of floor, every row ≥ 75%, distinct q/k/v/o at 64 ≥ 90% of none. */
    static List<String> goals(ModelShape shape, List<Row> rows) {
        List<String> lines = new ArrayList<>();
        rows.stream().filter(r -> r.mix().equals("none") && r.batch() == 1).findFirst().ifPresent(r -> lines.add(String.format(
                Locale.ROOT, "batch-1 decode at %.1f%% of its floor (goal ≥ 80%%): %s", 100 * r.ratio(), r.ratio() >= 0.8 ? "met" : "NOT met")));
        rows.stream().min(java.util.Comparator.comparingDouble(Row::ratio)).ifPresent(r -> lines.add(String.format(Locale.ROOT,
                "lowest share of floor: %.1f%% (%s, batch %d) (goal: every config ≥ 75%%): %s", 100 * r.ratio(), r.mix(), r.batch(),
                r.ratio() >= 0.75 ? "met" : "NOT met")));
        var base = rows.stream().filter(r -> r.mix().equals("none") && r.batch() == 64).findFirst();
        var distinct = rows.stream().filter(r -> r.mix().equals("distinct q/k/v/o") && r.batch() == 64).findFirst();
        if (base.isPresent() && distinct.isPresent()) {
            double share = distinct.get().tokensPerSecond() / base.get().tokensPerSecond();
            lines.add(String.format(Locale.ROOT, "%s: 64 distinct q/k/v/o adapters at %.1f%% of base tok/s (goal for 8B ≥ 90%%)%s",
                    shape.flagName(), 100 * share, shape == ModelShape.LLAMA_3_1_8B ? share >= 0.9 ? ": met" : ": NOT met" : ""));
        }
        return lines;
    }

    private static void write(Path outDir, ModelShape shape, String device, DecodeFloor.Peaks peaks, double pinnedGbps, Spec spec,
            List<Row> rows, boolean done) throws java.io.IOException {
        StringBuilder md = new StringBuilder();
        md.append(String.format(Locale.ROOT, "## %s decode on %s%s%n%n", shape.flagName(), device, done ? "" : " (incomplete: cut off)"));
        md.append(String.format(Locale.ROOT, "Measured: read %.0f GB/s (bf16 GEMM 8×16384 · (32768×16384)ᵀ), bf16 GEMM %.0f TFLOP/s "
                        + "(8192³), 50 MB pinned host→device %.2f GB/s. Context %d positions per sequence, rank %d, median of %d steps; "
                        + "distinct adapters up to %d, then shared in turn.%n%n",
                peaks.readBytesPerSecond() / 1e9, peaks.gemmFlopsPerSecond() / 1e12, pinnedGbps, spec.context(), RANK, spec.steps(),
                spec.distinctLimit()));
        md.append("| adapters | batch | step ms | tok/s | floor ms | bound | % of floor | PEFT tok/s | ours/PEFT |\n");
        md.append("|---|---:|---:|---:|---:|---|---:|---:|---:|\n");
        ArrayNode json = new ObjectMapper().createArrayNode();
        for (Row r : rows) {
            md.append(String.format(Locale.ROOT, "| %s | %d | %.2f | %.1f | %.2f | %s | %.1f | %s | %s |%n", r.mix(), r.batch(), r.stepMs(),
                    r.tokensPerSecond(), r.floorMs(), r.bound(), 100 * r.ratio(), r.peft() == null ? "-" : String.format(Locale.ROOT,
                            "%.1f", r.peft()), r.peft() == null ? "-" : String.format(Locale.ROOT, "%.2f", r.tokensPerSecond() / r.peft())));
            ObjectNode o = json.addObject();
            o.put("shape", shape.flagName()).put("mix", r.mix()).put("batch", r.batch()).put("step_ms", r.stepMs())
                    .put("tokens_per_s", r.tokensPerSecond()).put("floor_ms", r.floorMs()).put("floor_share", r.ratio())
                    .put("bound", r.bound());
            if (r.peft() != null) {
                o.put("peft_tokens_per_s", r.peft());
            }
        }
        md.append('\n');
        for (String g : goals(shape, rows)) {
            md.append("- ").append(g).append('\n');
        }
        ObjectNode root = new ObjectMapper().createObjectNode();
        root.put("shape", shape.flagName()).put("device", device).put("complete", done)
                .put("read_gb_per_s", peaks.readBytesPerSecond() / 1e9).put("gemm_tflop_per_s", peaks.gemmFlopsPerSecond() / 1e12)
                .put("pinned_upload_gb_per_s", pinnedGbps).put("context", spec.context()).put("rank", RANK);
        root.set("results", json);
        Files.writeString(outDir.resolve("bench-" + shape.flagName() + ".md"), md);
        Files.writeString(outDir.resolve("bench-" + shape.flagName() + ".json"),
                new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(root));
    }
}
