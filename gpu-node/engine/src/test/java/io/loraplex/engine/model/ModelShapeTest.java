package io.loraplex.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The named real-size shapes hold the numbers of the models' published config.json. */
class ModelShapeTest {

    @TempDir
    Path dir;

    @Test
    void llama32OneBHasThePublishedShapeWithItsLmHeadTiedAndRopeScaledBy32() {
        ModelConfig c = ModelShape.LLAMA_3_2_1B.config(DType.BF16, 128000, List.of(128001));
        assertEquals(Architecture.LLAMA, c.architecture());
        assertEquals(2048, c.hiddenSize());
        assertEquals(16, c.numLayers());
        assertEquals(32, c.numHeads());
        assertEquals(8, c.numKvHeads());
        assertEquals(64, c.headDim());
        assertEquals(8192, c.intermediateSize());
        assertEquals(128256, c.vocabSize());
        assertEquals(true, c.tieWordEmbeddings());
        assertEquals(500000.0, c.ropeTheta());
        assertEquals(RopeScaling.llama3(32.0, 1.0, 4.0, 8192), c.ropeScaling());
        assertEquals(131072, c.maxPositionEmbeddings());
        assertEquals(1e-5, c.rmsNormEps());
        assertEquals(1_235_814_400L, c.parameterCount(), "the hub's 1.24B");
    }

    @Test
    void llama31EightBHasThePublishedShapeWithItsOwnLmHeadAndRopeScaledBy8() {
        ModelConfig c = ModelShape.LLAMA_3_1_8B.config(DType.BF16, 128000, List.of(128001));
        assertEquals(4096, c.hiddenSize());
        assertEquals(32, c.numLayers());
        assertEquals(32, c.numHeads());
        assertEquals(8, c.numKvHeads());
        assertEquals(128, c.headDim());
        assertEquals(14336, c.intermediateSize());
        assertEquals(128256, c.vocabSize());
        assertEquals(false, c.tieWordEmbeddings());
        assertEquals(500000.0, c.ropeTheta());
        assertEquals(RopeScaling.llama3(8.0, 1.0, 4.0, 8192), c.ropeScaling());
        assertEquals(131072, c.maxPositionEmbeddings());
        assertEquals(8_030_261_248L, c.parameterCount(), "the hub's 8.03B");
    }

    @Test
    void aShapesConfigSurvivesConfigJsonUnchanged() throws Exception {
        for (ModelShape shape : ModelShape.values()) {
            ModelConfig c = shape.config(DType.BF16, 1, List.of(2));
            Path d = Files.createDirectories(dir.resolve(shape.flagName()));
            Files.writeString(d.resolve("config.json"), new ObjectMapper().writeValueAsString(c.toJson()));
            assertEquals(c, ModelConfig.load(d), shape.flagName());
        }
    }

    @Test
    void aShapesSpecGivesTheSameModelAsItsConfig() {
        for (ModelShape shape : ModelShape.values()) {
            TinyModel.Spec s = shape.spec(DType.F16, 4);
            ModelConfig c = shape.config(DType.F16, null, List.of());
            assertEquals(List.of(c.hiddenSize(), c.numLayers(), c.numHeads(), c.numKvHeads(), c.headDim(), c.intermediateSize(),
                    c.vocabSize()), List.of(s.hidden(), s.layers(), s.heads(), s.kvHeads(), s.headDim(), s.intermediate(), s.vocab()));
            assertEquals(c.tieWordEmbeddings(), s.tie());
            assertEquals(c.ropeScaling(), s.ropeScaling());
            assertEquals(c.ropeTheta(), s.ropeTheta());
            assertEquals(c.maxPositionEmbeddings(), s.maxPositions());
        }
    }

    @Test
    void anUnknownShapeIsRefusedNamingItAndTheAllowedOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelShape.parse("llama-3.1-70b"));
        assertEquals("unknown shape 'llama-3.1-70b' (use llama-3.2-1b, llama-3.1-8b)", e.getMessage());
    }
}
