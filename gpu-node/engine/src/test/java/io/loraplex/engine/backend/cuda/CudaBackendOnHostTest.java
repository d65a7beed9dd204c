package io.loraplex.engine.backend.cuda;

import static io.loraplex.engine.LogitAsserts.assertBitwise;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.backend.Workspace;
import io.loraplex.engine.backend.cuda.StepTablesTest.Part;
import io.loraplex.engine.kv.HostArena;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.WeightFormat;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link CudaBackend}'s whole host side on the {@link HostDevice}: weights uploaded in bf16, the
 * arena and adapters in device memory, tables packed and copied, every kernel launched with the
 * arguments and launch shape it will get on a GPU (the host kernels refuse a shape that does not
 * cover their work), decode steps captured and replayed. Against the CPU backend over the same
 * mixed prefill/decode steps, adapters of ranks 2–16 and base rows as {@link StepTablesTest}.
 *
 * <p>Tolerance: the device keeps activations in bf16 (8 bits of mantissa) and the CPU in f32, so
 * each of the ~20 roundings per layer moves values by up to 2^-9 relative; on these two-layer
 * models the logits differ by 0.7–2.2 % of the largest. The check is 4 % of the largest logit,
 * and, so a wrong adapter table cannot hide in it, the adapters' own effect (logits with minus
 * logits without adapters) must agree within 5 % of its largest value (1.4 % seen): a wrong slot, row or scale
 * changes that effect by O(100 %).
 */
class CudaBackendOnHostTest {

    private static final double LOGIT_TOLERANCE = 0.04;
    private static final double EFFECT_TOLERANCE = 0.05;
    private static final long DEVICE_BYTES = 1L << 30;

    static Stream<Arguments> models() {
        return Stream.of(
                Arguments.of("llama-f32", TestModels.llama(DType.F32)),
                Arguments.of("qwen2-bias-bf16", TestModels.qwen2(DType.BF16)),
                Arguments.of("qwen3-qknorm-f32", TestModels.qwen3(DType.F32)),
                Arguments.of("mistral-window-f32", TestModels.mistral(DType.F32)),
                Arguments.of("phi3-longrope-f32", TestModels.phi3(DType.F32)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void mixedAdapterStepsOnTheHostDeviceGiveTheCpuBackendsLogits(String name, ModelConfig cfg, @TempDir Path dir)
            throws Exception {
        TestModels.write(dir.resolve("model"), cfg, 5);
        StepTablesTest.writeAdapters(dir, cfg);
        List<List<Part>> steps = StepTablesTest.steps(cfg);
        int[] lengths = StepTablesTest.lengths(steps);
        try (BaseModel model = BaseModel.load(dir.resolve("model"));
                Backend cpu = Backends.create(Backends.CPU, model, 2);
                HostDevice device = new HostDevice(DEVICE_BYTES);
                CudaBackend cuda = new CudaBackend(cfg, model.weights(), device)) {
            AdapterLoader loader = new AdapterLoader(cfg, 64);
            List<LoraAdapter> sources = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                sources.add(loader.load("a" + i, dir.resolve("a" + i)));
            }
            int kvPages = 0;
            for (int n : lengths) {
                kvPages += (n + StepTablesTest.BLOCK - 1) / StepTablesTest.BLOCK;
            }
            try (Workspace onCpu = Workspace.create(cpu, StepTablesTest.BLOCK, kvPages, sources);
                    Workspace onDevice = Workspace.create(cuda, StepTablesTest.BLOCK, kvPages, sources)) {
                // both workspaces place pages and adapters in the same order, so one block table serves both
                assertArrayEquals(onCpu.paged(sources.get(2)).module(0, io.loraplex.engine.lora.TargetModule.Q_PROJ).aRows(),
                        onDevice.paged(sources.get(2)).module(0, io.loraplex.engine.lora.TargetModule.Q_PROJ).aRows());
                int[][] blockTables = StepTablesTest.shuffledBlockTables(onCpu.blocks(kvPages), lengths, new Random(9));
                onDevice.blocks(kvPages);
                PagedAdapter[] pagedCpu = sources.stream().map(onCpu::paged).toArray(PagedAdapter[]::new);
                PagedAdapter[] pagedDevice = sources.stream().map(onDevice::paged).toArray(PagedAdapter[]::new);
                Random tokens = new Random(17);
                for (int s = 0; s < steps.size(); s++) {
                    ForwardBatch onHost = StepTablesTest.batch(steps.get(s), blockTables, pagedCpu, cfg.vocabSize(), tokens);
                    ForwardBatch onGpu = withAdapters(onHost, pagedDevice);
                    float[] expected = new float[onHost.logitRows().length * cfg.vocabSize()];
                    cpu.forward(onHost, onCpu.arena(), expected);
                    float[] actual = new float[expected.length];
                    cuda.forward(onGpu, onDevice.arena(), actual);
                    assertWithin(expected, actual, LOGIT_TOLERANCE, name + " step " + s);
                    if (s == 0) {
                        assertSameAdapterEffect(cpu, cuda, onHost, onGpu, expected, actual, onCpu.arena().layout(),
                                name + " step " + s);
                    }
                }
                assertEquals(1, cuda.capturedGraphs(), name + ": the one all-decode step (5 sequences) was captured");
            }
        }
    }

    @Test
    void aReplayedDecodeGraphGivesWhatDirectLaunchesGive(@TempDir Path dir) throws Exception {
        ModelConfig cfg = TestModels.llama(DType.F32);
        TestModels.write(dir.resolve("model"), cfg, 5);
        StepTablesTest.writeAdapters(dir, cfg);
        try (BaseModel model = BaseModel.load(dir.resolve("model"));
                HostDevice device = new HostDevice(DEVICE_BYTES);
                CudaBackend graphs = new CudaBackend(cfg, model.weights(), device, true);
                CudaBackend direct = new CudaBackend(cfg, model.weights(), device, false)) {
            AdapterLoader loader = new AdapterLoader(cfg, 64);
            List<LoraAdapter> sources = List.of(loader.load("a0", dir.resolve("a0")), loader.load("a2", dir.resolve("a2")));
            try (Workspace a = Workspace.create(graphs, 4, 12, sources); Workspace b = Workspace.create(direct, 4, 12, sources)) {
                int[][] tables = {a.blocks(4), a.blocks(4), a.blocks(4)};
                b.blocks(12);
                PagedAdapter[] pa = sources.stream().map(a::paged).toArray(PagedAdapter[]::new);
                PagedAdapter[] pb = sources.stream().map(b::paged).toArray(PagedAdapter[]::new);
                // prefill three sequences, then decode steps of three rows (padded to four) with changing adapters
                int[] prompt = {3, 5, 7, 9, 11};
                for (int seq = 0; seq < 3; seq++) {
                    ForwardBatch p = new ForwardBatch(prompt, new int[] {0, 1, 2, 3, 4}, new int[] {seq, seq, seq, seq, seq},
                            tables, new int[] {seq % 2, seq % 2, seq % 2, seq % 2, seq % 2}, pa, new int[] {4});
                    float[] la = new float[cfg.vocabSize()];
                    float[] lb = new float[cfg.vocabSize()];
                    graphs.forward(p, a.arena(), la);
                    direct.forward(withAdapters(p, pb), b.arena(), lb);
                    assertBitwise(lb, la, "prefill " + seq);
                }
                int[][] adapterOrders = {{0, 1, -1}, {1, 0, 0}, {-1, -1, 1}, {0, 1, -1}};
                for (int step = 0; step < adapterOrders.length; step++) {
                    int position = 5 + step;
                    ForwardBatch d = new ForwardBatch(new int[] {1 + step, 2 + step, 3 + step},
                            new int[] {position, position, position}, new int[] {0, 1, 2}, tables, adapterOrders[step], pa,
                            new int[] {0, 1, 2});
                    float[] la = new float[3 * cfg.vocabSize()];
                    float[] lb = new float[3 * cfg.vocabSize()];
                    graphs.forward(d, a.arena(), la);
                    direct.forward(withAdapters(d, pb), b.arena(), lb);
                    assertBitwise(lb, la, "decode step " + step);
                }
                // a greedy step copies back only each row's argmax: the same tokens as the full logits' argmax
                ForwardBatch next = new ForwardBatch(new int[] {7, 8, 9}, new int[] {9, 9, 9}, new int[] {0, 1, 2}, tables,
                        new int[] {0, -1, 1}, pa, new int[] {0, 1, 2});
                float[] full = new float[3 * cfg.vocabSize()];
                direct.forward(withAdapters(next, pb), b.arena(), full);
                int[] greedy = new int[3];
                graphs.forwardGreedy(next, a.arena(), greedy);
                for (int r = 0; r < 3; r++) {
                    int best = 0;
                    for (int v = 1; v < cfg.vocabSize(); v++) {
                        if (full[r * cfg.vocabSize() + v] > full[r * cfg.vocabSize() + best]) {
                            best = v;
                        }
                    }
                    assertEquals(best, greedy[r], "row " + r + "'s greedy token");
                }
                // steps 0, 1 and 3 adapt all seven modules (a0 is among them); step 2 only q/k/v/o (a2 alone): two shapes
                assertEquals(2, graphs.capturedGraphs(), "two decode shapes: two captures, two replays");
                assertEquals(0, direct.capturedGraphs());
            }
        }
    }

    @Test
    void decodeStepsArePaddedToAPowerOfTwoWithRowsOnTheScratchPage() {
        assertEquals(1, CudaBackend.bucket(1));
        assertEquals(2, CudaBackend.bucket(2));
        assertEquals(4, CudaBackend.bucket(3));
        assertEquals(64, CudaBackend.bucket(33));
        assertEquals(256, CudaBackend.bucket(256));
        ForwardBatch b = new ForwardBatch(new int[] {5, 6, 7}, new int[] {9, 3, 0}, new int[] {1, 0, 2},
                new int[][] {{4}, {2, 3, 8}, {1}}, new int[] {0, -1, 0}, new PagedAdapter[1], new int[] {0, 1, 2});
        assertTrue(CudaBackend.isDecode(b));
        ForwardBatch p = CudaBackend.padded(b, 4, 99);
        assertArrayEquals(new int[] {5, 6, 7, 0}, p.tokens());
        assertArrayEquals(new int[] {9, 3, 0, 0}, p.positions());
        assertArrayEquals(new int[] {1, 0, 2, 3}, p.sequence());
        assertArrayEquals(new int[] {99}, p.blockTables()[3]);
        assertArrayEquals(new int[] {0, -1, 0, ForwardBatch.NO_ADAPTER}, p.adapter());
        assertArrayEquals(new int[] {0, 1, 2, 3}, p.logitRows());
        ForwardBatch prefill = new ForwardBatch(new int[] {5, 6}, new int[] {0, 1}, new int[] {0, 0}, new int[][] {{4}},
                new int[] {-1, -1}, new PagedAdapter[0], new int[] {1});
        assertFalse(CudaBackend.isDecode(prefill), "two tokens of one sequence are a prefill");
    }

    @Test
    void gemmaAndQuantizedWeightsAreRefusedNamingWhy(@TempDir Path dir) throws Exception {
        assertTrue(CudaBackend.unsupported(TestModels.gemma2(DType.F32), null).contains("Gemma2ForCausalLM"));
        ModelConfig cfg = TestModels.llama(DType.F32);
        TestModels.write(dir.resolve("model"), cfg, 5);
        try (BaseModel model = BaseModel.load(dir.resolve("model"), WeightFormat.INT8)) {
            String why = CudaBackend.unsupported(cfg, model.weights());
            assertNotNull(why);
            assertTrue(why.contains("--weights int8"), why);
        }
        assertNull(CudaBackend.unsupported(cfg, null));
    }

    @Test
    void anArenaLargerThanTheDeviceIsRefusedNamingTheSizes(@TempDir Path dir) throws Exception {
        ModelConfig cfg = TestModels.llama(DType.F32);
        TestModels.write(dir.resolve("model"), cfg, 5);
        try (BaseModel model = BaseModel.load(dir.resolve("model"));
                HostDevice device = new HostDevice(64L << 20);
                CudaBackend cuda = new CudaBackend(cfg, model.weights(), device)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> cuda.allocateArena(io.loraplex.engine.kv.ArenaLayout.of(cfg, 16), 1_000_000));
            assertTrue(e.getMessage().contains("1000000 pages") && e.getMessage().contains("lower the memory budget"),
                    e.getMessage());
        }
    }

    /** The same step naming the device workspace's adapters (their rows sit at the same offsets). */
    private static ForwardBatch withAdapters(ForwardBatch b, PagedAdapter[] adapters) {
        return new ForwardBatch(b.tokens(), b.positions(), b.sequence(), b.blockTables(), b.adapter(), adapters,
                b.logitRows());
    }

    private static void assertWithin(float[] expected, float[] actual, double relative, String what) {
        double largest = 0;
        for (float v : expected) {
            largest = Math.max(largest, Math.abs(v));
        }
        double worst = 0;
        int at = -1;
        for (int i = 0; i < expected.length; i++) {
            assertTrue(Float.isFinite(actual[i]), what + ": logit " + i + " is " + actual[i]);
            double d = Math.abs(expected[i] - actual[i]);
            if (d > worst) {
                worst = d;
                at = i;
            }
        }
        assertTrue(worst <= relative * largest, what + ": logit " + at + " differs by " + worst + " (largest " + largest
                + ", allowed " + relative * largest + ")");
    }

    /** With minus without adapters, on both backends (fresh arenas: the adapters' own KV must not leak in). */
    private static void assertSameAdapterEffect(Backend cpu, CudaBackend cuda, ForwardBatch onHost, ForwardBatch onGpu,
            float[] cpuWith, float[] gpuWith, io.loraplex.engine.kv.ArenaLayout layout, String what) {
        int[] none = new int[onHost.numTokens()];
        Arrays.fill(none, ForwardBatch.NO_ADAPTER);
        // a prefill from position 0 reads only the KV it writes, so fresh arenas give its base-only logits
        ForwardBatch baseCpu = new ForwardBatch(onHost.tokens(), onHost.positions(), onHost.sequence(), onHost.blockTables(),
                none, onHost.adapters(), onHost.logitRows());
        ForwardBatch baseGpu = withAdapters(baseCpu, onGpu.adapters());
        float[] cpuWithout = new float[cpuWith.length];
        float[] gpuWithout = new float[gpuWith.length];
        HostArena scratch = new HostArena(layout, 64);
        cpu.forward(baseCpu, scratch, cpuWithout);
        try (var arena = cuda.allocateArena(scratch.layout(), 64)) {
            cuda.forward(baseGpu, arena, gpuWithout);
        }
        float[] cpuEffect = new float[cpuWith.length];
        float[] gpuEffect = new float[gpuWith.length];
        for (int i = 0; i < cpuEffect.length; i++) {
            cpuEffect[i] = cpuWith[i] - cpuWithout[i];
            gpuEffect[i] = gpuWith[i] - gpuWithout[i];
        }
        assertWithin(cpuEffect, gpuEffect, EFFECT_TOLERANCE, what + " (the adapters' effect)");
    }
}
