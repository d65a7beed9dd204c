package io.loraplex.engine.backend.cuda;

import static io.loraplex.engine.LogitAsserts.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.LogitAsserts;
import io.loraplex.engine.TestModels;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.backend.Workspace;
import io.loraplex.engine.backend.cuda.TableInterpreter.LoraForm;
import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.HostArena;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CUDA kernels' host tables mean what the kernels assume: a plain-Java interpreter that walks
 * only the tables (as each {@code .cu} header states) and the arena gives the CPU backend's logits
 * and KV cache, over steps that mix prefill and decode, several adapters of different ranks, rows
 * without adapter, and sequences whose KV spans several shuffled pages.
 *
 * <p>Tolerance: 1e-4 of the largest logit (and of the largest KV value). The CPU backend sums in f32
 * in its own order and the interpreter in f64, which moves logits by ~1e-6 relative; a wrong table
 * entry (a wrong page, slot, row offset, rank, scale or position) moves them by O(1).
 */
class StepTablesTest {

    static final int BLOCK = 4; // small blocks, so every sequence spans several pages

    static Stream<Arguments> models() {
        return Stream.of(
                Arguments.of("llama-f32", TestModels.llama(DType.F32)),
                Arguments.of("qwen2-bias-bf16", TestModels.qwen2(DType.BF16)),
                Arguments.of("qwen3-qknorm-f32", TestModels.qwen3(DType.F32)),
                Arguments.of("mistral-window-f32", TestModels.mistral(DType.F32)),
                Arguments.of("phi3-longrope-f32", TestModels.phi3(DType.F32)));
    }

    /** One sequence's part of a step: tokens from {@code start}, with adapter {@code adapter} (-1: none). */
    record Part(int sequence, int start, int count, int adapter, boolean logits) {
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void tablesInterpretedAsTheKernelsDoGiveTheCpuBackendsLogitsAndKv(String name, ModelConfig cfg, @TempDir Path dir)
            throws Exception {
        TestModels.write(dir.resolve("model"), cfg, 5);
        writeAdapters(dir, cfg);
        List<List<Part>> steps = steps(cfg);
        int[] lengths = lengths(steps);
        try (BaseModel model = BaseModel.load(dir.resolve("model"));
                Backend cpu = Backends.create(Backends.CPU, model, 2)) {
            AdapterLoader loader = new AdapterLoader(cfg, 64);
            List<LoraAdapter> sources = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                sources.add(loader.load("a" + i, dir.resolve("a" + i)));
            }
            int kvPages = 0;
            for (int n : lengths) {
                kvPages += (n + BLOCK - 1) / BLOCK;
            }
            try (Workspace ws = Workspace.create(cpu, BLOCK, kvPages, sources)) {
                HostArena cpuArena = (HostArena) ws.arena();
                ArenaLayout layout = cpuArena.layout();
                // the same pages in the interpreter's arena: adapters placed, KV empty
                HostArena tableArena = new HostArena(layout, cpuArena.pages());
                System.arraycopy(cpuArena.data, 0, tableArena.data, 0, cpuArena.data.length);
                int[][] blockTables = shuffledBlockTables(ws.blocks(kvPages), lengths, new Random(9));
                PagedAdapter[] paged = sources.stream().map(ws::paged).toArray(PagedAdapter[]::new);
                TableInterpreter gathered = new TableInterpreter(cfg, model.weights(), LoraForm.GATHERED);
                TableInterpreter segmented = new TableInterpreter(cfg, model.weights(), LoraForm.SEGMENTED);
                Random tokens = new Random(17);
                for (int s = 0; s < steps.size(); s++) {
                    ForwardBatch batch = batch(steps.get(s), blockTables, paged, cfg.vocabSize(), tokens);
                    float[] expected = new float[batch.logitRows().length * cfg.vocabSize()];
                    cpu.forward(batch, cpuArena, expected);
                    // the two LoRA forms run on copies of the same arena; both must match the CPU
                    HostArena segmentedArena = new HostArena(layout, tableArena.pages());
                    System.arraycopy(tableArena.data, 0, segmentedArena.data, 0, tableArena.data.length);
                    float[] viaSegments = new float[expected.length];
                    segmented.forward(batch, segmentedArena, viaSegments);
                    float[] viaSlots = new float[expected.length];
                    gathered.forward(batch, tableArena, viaSlots);
                    assertClose(expected, viaSlots, 1e-4, name + " step " + s + " (gathered slots)");
                    assertClose(expected, viaSegments, 1e-4, name + " step " + s + " (segments)");
                    assertClose(cpuArena.data, tableArena.data, 1e-4, name + " KV after step " + s);
                    if (s == 0) {
                        assertAdaptersMatter(cpu, batch, expected, layout, cpuArena, name);
                    }
                }
            }
        }
    }

    /** Four adapters a0..a3 under {@code dir}: ranks 4, 8, 16 and 2 on different modules, f32 and bf16, one rsLoRA. */
    static void writeAdapters(Path dir, ModelConfig cfg) throws java.io.IOException {
        AdapterWriter.writeRandom(dir.resolve("a0"), cfg, EnumSet.allOf(TargetModule.class), 4, 8, false, DType.F32, 1);
        AdapterWriter.writeRandom(dir.resolve("a1"), cfg, EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ,
                TargetModule.DOWN_PROJ), 8, 16, true, DType.BF16, 2);
        AdapterWriter.writeRandom(dir.resolve("a2"), cfg, EnumSet.of(TargetModule.Q_PROJ, TargetModule.K_PROJ,
                TargetModule.V_PROJ, TargetModule.O_PROJ), 16, 16, false, DType.F32, 3);
        AdapterWriter.writeRandom(dir.resolve("a3"), cfg, EnumSet.of(TargetModule.GATE_PROJ, TargetModule.UP_PROJ), 2, 4,
                false, DType.F32, 4);
    }

    /**
     * Four steps over six sequences: a prefill of five (seq 1 and 3 share adapter 0 but are not
     * adjacent), a decode step of all five, decodes with a late prefill (seq 5) joining, and decodes
     * where one row wants no logits.
     */
    static List<List<Part>> steps(ModelConfig cfg) {
        // phi3's original max is 64: one sequence past it takes LongRoPE's long factors (freq_row 1)
        int longPrompt = cfg.ropeScaling() != null && cfg.ropeScaling().type()
                == io.loraplex.engine.model.RopeScaling.Type.LONGROPE ? 66 : 10;
        return List.of(
                List.of(new Part(0, 0, 7, 0, true), new Part(1, 0, longPrompt, -1, true), new Part(2, 0, 5, 1, true),
                        new Part(3, 0, 3, 0, true), new Part(4, 0, 6, 2, true)),
                List.of(new Part(0, 7, 1, 0, true), new Part(1, longPrompt, 1, -1, true), new Part(2, 5, 1, 1, true),
                        new Part(3, 3, 1, 0, true), new Part(4, 6, 1, 2, true)),
                List.of(new Part(4, 7, 1, 2, true), new Part(5, 0, 9, 3, true), new Part(0, 8, 1, 0, true),
                        new Part(2, 6, 1, 1, true), new Part(1, longPrompt + 1, 1, -1, true)),
                List.of(new Part(5, 9, 1, 3, true), new Part(3, 4, 1, 0, false), new Part(0, 9, 1, 0, true),
                        new Part(2, 7, 1, 3, true)));
    }

    /** Each sequence's length after all of {@code steps}. */
    static int[] lengths(List<List<Part>> steps) {
        int[] lengths = new int[6];
        for (List<Part> step : steps) {
            for (Part p : step) {
                lengths[p.sequence()] = Math.max(lengths[p.sequence()], p.start() + p.count());
            }
        }
        return lengths;
    }

    /** Guards the comparison against a vacuous pass: without the adapters the same step's logits move. */
    static void assertAdaptersMatter(Backend cpu, ForwardBatch batch, float[] withAdapters, ArenaLayout layout,
            HostArena arena, String name) {
        int[] none = new int[batch.numTokens()];
        java.util.Arrays.fill(none, ForwardBatch.NO_ADAPTER);
        ForwardBatch base = new ForwardBatch(batch.tokens(), batch.positions(), batch.sequence(), batch.blockTables(),
                none, new PagedAdapter[0], batch.logitRows());
        HostArena scratch = new HostArena(layout, arena.pages());
        float[] logits = new float[withAdapters.length];
        cpu.forward(base, scratch, logits);
        double largest = 0;
        for (float v : withAdapters) {
            largest = Math.max(largest, Math.abs(v));
        }
        assertTrue(LogitAsserts.maxDiff(withAdapters, logits) > 1e-2 * largest,
                name + ": the adapters barely change the logits, so the comparison would not see a wrong LoRA table");
    }

    /** Each sequence's KV blocks on pages taken in shuffled order, so a table that ignores the page ids fails. */
    static int[][] shuffledBlockTables(int[] pages, int[] lengths, Random random) {
        List<Integer> pool = new ArrayList<>();
        for (int p : pages) {
            pool.add(p);
        }
        Collections.shuffle(pool, random);
        int[][] tables = new int[lengths.length][];
        int next = 0;
        for (int s = 0; s < lengths.length; s++) {
            tables[s] = new int[(lengths[s] + BLOCK - 1) / BLOCK];
            for (int b = 0; b < tables[s].length; b++) {
                tables[s][b] = pool.get(next++);
            }
        }
        return tables;
    }

    static ForwardBatch batch(List<Part> parts, int[][] blockTables, PagedAdapter[] paged, int vocab,
            Random random) {
        int total = parts.stream().mapToInt(Part::count).sum();
        int[] tokens = new int[total];
        int[] positions = new int[total];
        int[] sequence = new int[total];
        int[] adapter = new int[total];
        List<Integer> logitRows = new ArrayList<>();
        int row = 0;
        for (Part p : parts) {
            for (int i = 0; i < p.count(); i++) {
                tokens[row] = random.nextInt(vocab);
                positions[row] = p.start() + i;
                sequence[row] = p.sequence();
                adapter[row] = p.adapter();
                row++;
            }
            if (p.logits()) {
                logitRows.add(row - 1);
            }
        }
        return new ForwardBatch(tokens, positions, sequence, blockTables, adapter, paged,
                logitRows.stream().mapToInt(Integer::intValue).toArray());
    }

    @Test
    void segmentsAreMaximalRunsOfOneSlotCoveringEveryTokenAndBaseRunsHaveNoSlot() {
        ForwardBatch batch = new ForwardBatch(new int[8], new int[8], new int[8], new int[][] {{0, 1}},
                new int[] {1, 1, 1, -1, -1, 0, 1, 1}, new PagedAdapter[2], new int[] {7});
        // no layers: only the token-to-slot part, since module tables need placed adapters and these slots are null
        LoraTables t = LoraTables.of(batch, 0);
        assertArrayEquals(new int[] {1, 1, 1, -1, -1, 0, 1, 1}, t.slots());
        assertArrayEquals(new int[] {0, 3, 5, 6, 8}, t.segStarts());
        assertArrayEquals(new int[] {1, LoraTables.NO_SLOT, 0, 1}, t.segSlots());
    }

    @Test
    void moduleTablesConcatenateEachSlotsOwnRowsWithoutPaddingAndRankZeroWhereNotAdapted(@TempDir Path dir)
            throws Exception {
        ModelConfig cfg = TestModels.llama(DType.F32);
        TestModels.write(dir.resolve("model"), cfg, 5);
        AdapterWriter.writeRandom(dir.resolve("r8"), cfg, EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ), 8, 16,
                false, DType.F32, 1);
        AdapterWriter.writeRandom(dir.resolve("r2"), cfg, EnumSet.of(TargetModule.Q_PROJ), 2, 8, false, DType.F32, 2);
        try (BaseModel model = BaseModel.load(dir.resolve("model"));
                Backend cpu = Backends.create(Backends.CPU, model, 1)) {
            AdapterLoader loader = new AdapterLoader(cfg, 64);
            List<LoraAdapter> sources = List.of(loader.load("r8", dir.resolve("r8")), loader.load("r2", dir.resolve("r2")));
            try (Workspace ws = Workspace.create(cpu, BLOCK, 1, sources)) {
                PagedAdapter r8 = ws.paged(sources.get(0));
                PagedAdapter r2 = ws.paged(sources.get(1));
                ForwardBatch batch = new ForwardBatch(new int[2], new int[] {0, 1}, new int[2], new int[][] {{0}},
                        new int[] {0, 1}, new PagedAdapter[] {r8, r2}, new int[] {1});
                LoraTables t = LoraTables.of(batch, cfg.numLayers());
                LoraTables.ModuleTable q = t.module(1, TargetModule.Q_PROJ);
                assertArrayEquals(new int[] {8, 2}, q.ranks());
                assertArrayEquals(new int[] {0, 8}, q.rowStart());
                assertEquals(8, q.maxRank());
                assertEquals(10, q.aRows().length, "8 + 2 rows: no slot padded to the largest rank");
                PagedAdapter.Module q8 = r8.module(1, TargetModule.Q_PROJ);
                PagedAdapter.Module q2 = r2.module(1, TargetModule.Q_PROJ);
                for (int r = 0; r < 8; r++) {
                    assertEquals(q8.aRows()[r], q.aRows()[r]);
                    assertEquals(q8.bRows()[r], q.bRows()[r]);
                }
                for (int r = 0; r < 2; r++) {
                    assertEquals(q2.aRows()[r], q.aRows()[8 + r]);
                    assertEquals(q2.bRows()[r], q.bRows()[8 + r]);
                }
                assertArrayEquals(new float[] {q8.scale(), q2.scale()}, q.scales());
                LoraTables.ModuleTable v = t.module(1, TargetModule.V_PROJ);
                assertArrayEquals(new int[] {8, 0}, v.ranks(), "r2 does not adapt v_proj: rank 0, the kernels skip it");
                assertArrayEquals(new float[] {r8.module(1, TargetModule.V_PROJ).scale(), 0f}, v.scales());
                assertTrue(t.module(0, TargetModule.DOWN_PROJ).empty());
            }
        }
    }

    @Test
    void gemmaIsRefusedUntilTheTablesCarryItsPerLayerRopeAndSoftCap() {
        for (ModelConfig cfg : List.of(TestModels.gemma2(DType.F32), TestModels.gemma3(DType.F32))) {
            ForwardBatch batch = ForwardBatch.single(new int[] {3, 4, 5}, 0, new int[] {0}, null);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> StepTables.of(batch, cfg, ArenaLayout.of(cfg, BLOCK)));
            assertEquals("the CUDA host tables do not cover " + cfg.architecture().hfClass()
                    + " yet (per-layer RoPE bases, attention soft-cap and scale)", e.getMessage());
        }
    }

    @Test
    void aBaseOnlyStepHasOneSegmentWithoutSlotAndEmptyModuleTables() {
        ModelConfig cfg = TestModels.llama(DType.F32);
        ForwardBatch batch = ForwardBatch.single(new int[] {3, 4, 5}, 0, new int[] {0}, null);
        StepTables t = StepTables.of(batch, cfg, ArenaLayout.of(cfg, BLOCK));
        assertArrayEquals(new int[] {0, 3}, t.lora().segStarts());
        assertTrue(t.lora().baseOnly());
        assertTrue(t.lora().module(1, TargetModule.DOWN_PROJ).empty());
        assertNull(t.rope().freqRow(), "one frequency set: the kernel takes NULL and uses row 0");
        assertArrayEquals(new int[] {1, 2, 3}, t.attention().contextLens());
    }

    @Test
    void eachAttentionRowListsOnlyTheBlocksItReadsAndPadsTheRestWithNoPage() {
        ModelConfig cfg = TestModels.llama(DType.F32);
        // sequence 0 owns pages 7, 3, 9 ahead of time; its tokens at positions 3 and 4 read one and two blocks
        ForwardBatch batch = new ForwardBatch(new int[] {1, 2}, new int[] {3, 4}, new int[] {0, 0},
                new int[][] {{7, 3, 9}}, new int[] {-1, -1}, new PagedAdapter[0], new int[] {1});
        AttentionTables t = AttentionTables.of(batch, ArenaLayout.of(cfg, BLOCK));
        assertEquals(2, t.maxBlocks());
        assertArrayEquals(new int[] {7, AttentionTables.NO_PAGE, 7, 3}, t.blockTables());
        assertArrayEquals(new int[] {4, 5}, t.contextLens());
    }

    @Test
    void aBlockTableTooShortForATokensPositionIsRefusedNamingTokenSequenceAndBlocks() {
        ModelConfig cfg = TestModels.llama(DType.F32);
        ForwardBatch batch = new ForwardBatch(new int[] {1, 2}, new int[] {0, 9}, new int[] {0, 0},
                new int[][] {{4, 5}}, new int[] {-1, -1}, new PagedAdapter[0], new int[] {1});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AttentionTables.of(batch, ArenaLayout.of(cfg, BLOCK)));
        assertEquals("token 1 at position 9 of sequence 0 needs 3 KV blocks of 4 positions; its block table has 2",
                e.getMessage());
    }

    @Test
    void aTokenIdOutsideTheVocabularyIsRefusedNamingTheTokenAndId() {
        ModelConfig cfg = TestModels.llama(DType.F32);
        ForwardBatch batch = ForwardBatch.single(new int[] {3, 97}, 0, new int[] {0}, null);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StepTables.of(batch, cfg, ArenaLayout.of(cfg, BLOCK)));
        assertEquals("token 1 has id 97 outside the vocabulary [0, 97)", e.getMessage());
    }
}
