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
        for (Tensor[] layer : List.of(w.wq, w.wk, w.wv, w.wo, w.wGate, w.wUp, w.wDown)) {
            all.addAll(Arrays.asList(layer));
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
                    assertEquals(DType.BF16, w.lmHead.dtype(), where);
                    assertTrue(w.lmHead.data().isMapped(), where + ": the lm head");
                    for (Tensor t : projections(w)) {
                        assertEquals(DType.BF16, t.dtype(), where + ": " + t.name());
                        assertTrue(t.data().isMapped(), where + ": " + t.name() + " is a view of the file");
                    }
                }
            }
        }
    }
}
