package io.loraplex.engine.backend;

import static io.loraplex.engine.LogitAsserts.assertBitwise;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.WeightFormat;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CPU backend's outputs are bit-identical whatever shares the step, however the KV cache is
 * paged, however a prompt is chunked and however many threads run it (the engine's invariant), for
 * the checkpoint's bf16 weights and for the same weights quantized to int8 and int4 at load.
 */
class BatchInvarianceTest {

    @TempDir
    static Path dir;
    static ModelConfig cfg = TestModels.llama(DType.BF16);
    static final Map<String, BaseModel> models = new HashMap<>(); // by --weights name; "bf16" is the checkpoint's own
    static LoraAdapter a1;
    static LoraAdapter a2;

    @BeforeAll
    static void setUp() throws Exception {
        TestModels.write(dir.resolve("model"), cfg, 5);
        AdapterWriter.writeRandom(dir.resolve("a1"), cfg, EnumSet.allOf(TargetModule.class), 16, 32, false, DType.F32, 1);
        AdapterWriter.writeRandom(dir.resolve("a2"), cfg, EnumSet.of(TargetModule.Q_PROJ, TargetModule.O_PROJ), 3, 6, false,
                DType.F32, 2);
        models.put("bf16", BaseModel.load(dir.resolve("model")));
        models.put("int8", BaseModel.load(dir.resolve("model"), WeightFormat.INT8));
        models.put("int4", BaseModel.load(dir.resolve("model"), WeightFormat.INT4));
        AdapterLoader loader = new AdapterLoader(cfg, 64);
        a1 = loader.load("a1", dir.resolve("a1"));
        a2 = loader.load("a2", dir.resolve("a2"));
    }

    @AfterAll
    static void tearDown() {
        models.values().forEach(BaseModel::close);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"bf16", "int8", "int4"})
    void batchedEqualsSingleAndThreadCountDoesNotMatter(String weights) {
        BaseModel model = models.get(weights);
        List<BatchLogits.Request> requests = List.of(
                new BatchLogits.Request(a1, TestModels.tokens(11, cfg.vocabSize(), 1)),
                new BatchLogits.Request(null, TestModels.tokens(7, cfg.vocabSize(), 2)),
                new BatchLogits.Request(a2, TestModels.tokens(3, cfg.vocabSize(), 3)),
                new BatchLogits.Request(a1, TestModels.tokens(1, cfg.vocabSize(), 4)),
                new BatchLogits.Request(a2, TestModels.tokens(17, cfg.vocabSize(), 5)));
        List<float[]> batched;
        try (Backend cpu = Backends.create(Backends.CPU, model, 2)) {
            batched = BatchLogits.run(cpu, requests, 4);
            for (int i = 0; i < requests.size(); i++) {
                float[] single = BatchLogits.run(cpu, List.of(requests.get(i)), 4).getFirst();
                assertBitwise(single, batched.get(i), "request " + i + " alone vs in a batch");
            }
        }
        for (int threads : new int[] {1, 3}) {
            try (Backend cpu = Backends.create(Backends.CPU, model, threads)) {
                List<float[]> again = BatchLogits.run(cpu, requests, 4);
                for (int i = 0; i < requests.size(); i++) {
                    assertBitwise(batched.get(i), again.get(i), "request " + i + " with " + threads + " threads");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"bf16", "int8", "int4"})
    void pagedAndChunkedEqualsContiguousInOneStep(String weights) {
        BaseModel model = models.get(weights);
        int[] prompt = TestModels.tokens(23, cfg.vocabSize(), 9);
        int blockSize = 4;
        try (Backend cpu = Backends.create(Backends.CPU, model, 2)) {
            float[] contiguous = BatchLogits.run(cpu, List.of(new BatchLogits.Request(a1, prompt)), blockSize).getFirst();

            // the same prompt in scattered blocks, fed in chunks of 5, 1, 10 and 7 tokens
            List<Integer> blocks = new ArrayList<>();
            for (int b = 0; b < 20; b++) {
                blocks.add(b);
            }
            Collections.shuffle(blocks, new java.util.Random(3));
            int[] table = blocks.subList(0, (prompt.length + blockSize - 1) / blockSize).stream().mapToInt(i -> i).toArray();
            float[] logits = new float[cfg.vocabSize()];
            try (Workspace ws = Workspace.create(cpu, blockSize, 20, List.of(a1))) {
                int start = 0;
                for (int chunk : new int[] {5, 1, 10, 7}) {
                    int[] part = Arrays.copyOfRange(prompt, start, start + chunk);
                    cpu.forward(ForwardBatch.single(part, start, table, ws.paged(a1)), ws.arena(), logits);
                    start += chunk;
                }
            }
            assertBitwise(contiguous, logits, "paged, chunked prefill vs contiguous single step");
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"bf16", "int8", "int4"})
    void decodeStepsOfSeveralSequencesMatchTheirSingleRuns(String weights) {
        BaseModel model = models.get(weights);
        // two sequences decoding side by side, each step one token per sequence, different adapters
        int[] p1 = TestModels.tokens(6, cfg.vocabSize(), 21);
        int[] p2 = TestModels.tokens(9, cfg.vocabSize(), 22);
        int extra = 4;
        try (Backend cpu = Backends.create(Backends.CPU, model, 2); Workspace ws = Workspace.create(cpu, 4, 16, List.of(a2))) {
            int[] t1 = {0, 1, 2, 3};
            int[] t2 = {4, 5, 6, 7};
            PagedAdapter pagedA2 = ws.paged(a2);
            float[] both = new float[2 * cfg.vocabSize()];
            // prefill both in one step
            int[] tokens = concat(p1, p2);
            int[] positions = concat(range(0, p1.length), range(0, p2.length));
            int[] seq = concat(new int[p1.length], filled(p2.length, 1));
            int[] adapter = concat(filled(p1.length, 0), filled(p2.length, ForwardBatch.NO_ADAPTER));
            cpu.forward(new ForwardBatch(tokens, positions, seq, new int[][] {t1, t2}, adapter, new PagedAdapter[] {pagedA2},
                    new int[] {p1.length - 1, p1.length + p2.length - 1}), ws.arena(), both);
            int[] s1 = Arrays.copyOf(p1, p1.length + extra);
            int[] s2 = Arrays.copyOf(p2, p2.length + extra);
            for (int step = 0; step < extra; step++) {
                int n1 = argmax(both, 0, cfg.vocabSize());
                int n2 = argmax(both, cfg.vocabSize(), cfg.vocabSize());
                s1[p1.length + step] = n1;
                s2[p2.length + step] = n2;
                cpu.forward(new ForwardBatch(new int[] {n1, n2}, new int[] {p1.length + step, p2.length + step},
                        new int[] {0, 1}, new int[][] {t1, t2}, new int[] {0, ForwardBatch.NO_ADAPTER},
                        new PagedAdapter[] {pagedA2}, new int[] {0, 1}), ws.arena(), both);
            }
            float[] alone1 = BatchLogits.run(cpu, List.of(new BatchLogits.Request(a2, s1)), 4).getFirst();
            float[] alone2 = BatchLogits.run(cpu, List.of(new BatchLogits.Request(null, s2)), 4).getFirst();
            assertBitwise(alone1, Arrays.copyOfRange(both, 0, cfg.vocabSize()), "sequence 1 decoded beside sequence 2");
            assertBitwise(alone2, Arrays.copyOfRange(both, cfg.vocabSize(), 2 * cfg.vocabSize()), "sequence 2");
        }
    }

    static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (v[off + i] > v[off + best]) {
                best = i;
            }
        }
        return best;
    }

    static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static int[] range(int from, int to) {
        return java.util.stream.IntStream.range(from, to).toArray();
    }

    static int[] filled(int n, int v) {
        int[] out = new int[n];
        Arrays.fill(out, v);
        return out;
    }
}
