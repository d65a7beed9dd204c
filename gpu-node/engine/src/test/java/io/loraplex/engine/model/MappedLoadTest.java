package io.loraplex.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A bf16 checkpoint loads as views of its mapped file: an 8B model's 16 GB must not be copied, let
 * alone widened to 32 GB of f32, which this machine does not have.
 */
class MappedLoadTest {

    @TempDir
    static Path dir;

    @BeforeAll
    static void writeModels() throws Exception {
        for (boolean tie : new boolean[] {true, false}) {
            TinyModel.write(dir.resolve(tie ? "tied" : "untied"), new TinyModel.Spec(Architecture.LLAMA, 64, 2, 4, 2, null, 160, 600,
                    DType.BF16, null, null, 64, tie, 0, null, null, 1, 5));
        }
    }

    private static List<Tensor> projections(ModelWeights w) {
        List<Tensor> all = new ArrayList<>();
        for (int l = 0; l < w.layers(); l++) {
            all.addAll(List.of(w.wq(l), w.wk(l), w.wv(l), w.wo(l), w.wGate(l), w.wUp(l), w.wDown(l)));
        }
        return all;
    }

    @Test
    void aBf16CheckpointLoadsItsEmbeddingProjectionsAndLmHeadAsMappedBf16Views() throws Exception {
        for (String name : List.of("tied", "untied")) {
            for (WeightFormat format : new WeightFormat[] {null, WeightFormat.BF16}) {
                String where = name + ", --weights " + format;
                try (BaseModel model = BaseModel.load(dir.resolve(name), format)) {
                    ModelWeights w = model.weights();
                    assertTrue(w.embed.data().isMapped(), where + ": the embedding is read from the mapping row by row");
                    assertEquals(DType.BF16, w.lmHead().dtype(), where);
                    assertTrue(w.lmHead().data().isMapped(), where + ": the lm head");
                    for (Tensor t : projections(w)) {
                        assertEquals(DType.BF16, t.dtype(), where + ": " + t.name());
                        assertTrue(t.data().isMapped(), where + ": " + t.name() + " is a view of the file");
                    }
                }
            }
        }
    }

    @Test
    void theCpuBackendHoldsItsPanelsInBf16NotAWidenedF32Copy() throws Exception {
        // the panels repack the projections and the lm head at their own size: bytes held ≈ the stored bytes
        // (padding to whole panel groups adds at most a few rows per matrix), never twice them
        try (BaseModel model = BaseModel.load(dir.resolve("untied"));
                io.loraplex.engine.backend.CpuBackend cpu = new io.loraplex.engine.backend.CpuBackend(model.config(), model.weights(), 1)) {
            ModelWeights w = model.weights();
            long stored = w.storedLmHead().data().byteSize();
            for (int l = 0; l < w.layers(); l++) {
                for (Tensor t : w.storedProjections(l)) {
                    stored += t.data().byteSize();
                }
            }
            long held = cpu.packedWeightBytes();
            assertTrue(held >= stored && held < stored * 1.5, "panels hold " + held + " bytes for " + stored + " stored bf16 bytes");
        }
    }
}
