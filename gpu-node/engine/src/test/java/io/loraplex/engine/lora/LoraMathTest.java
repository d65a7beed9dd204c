package io.loraplex.engine.lora;

import static io.loraplex.engine.LogitAsserts.assertBitwise;
import static io.loraplex.engine.LogitAsserts.assertClose;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.engine.TestModels;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.backend.BatchLogits;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.SafetensorsFile;
import io.loraplex.engine.model.SafetensorsWriter;
import io.loraplex.engine.model.Tensor;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The adapter math: merged equals unmerged, B = 0 equals the base, rsLoRA scaling. */
class LoraMathTest {

    private final ModelConfig cfg = TestModels.llama(DType.F32);

    /**
     * W + scale·B·A written as a new base gives the adapter's logits. The merged weights are
     * rounded to f32 once, the unmerged path rounds (x·Aᵀ) and adds later: 1e-4 of the largest
     * logit covers that.
     */
    @Test
    void mergedEqualsUnmerged(@TempDir Path dir) throws Exception {
        Path base = TestModels.write(dir.resolve("model"), cfg, 3);
        AdapterWriter.writeRandom(dir.resolve("adapter"), cfg, EnumSet.allOf(TargetModule.class), 8, 16, false, DType.F32, 4);
        Path merged = dir.resolve("merged");
        Files.createDirectories(merged);
        Files.copy(base.resolve("config.json"), merged.resolve("config.json"));
        LoraAdapter adapter = new AdapterLoader(cfg, 64).load("a", dir.resolve("adapter"));
        SafetensorsWriter out = new SafetensorsWriter();
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile file = SafetensorsFile.open(base.resolve("model.safetensors"), arena);
            for (String name : file.tensors().keySet()) {
                Tensor t = file.tensor(name);
                float[] values = t.toFloatArray();
                for (TargetModule m : TargetModule.values()) {
                    for (int l = 0; l < cfg.numLayers(); l++) {
                        if (name.equals(m.moduleName(l) + ".weight")) {
                            merge(values, adapter.weights(l, m));
                        }
                    }
                }
                out.add(name, DType.F32, values, t.shape());
            }
        }
        out.write(merged.resolve("model.safetensors"));

        int[] tokens = TestModels.tokens(12, cfg.vocabSize(), 7);
        try (BaseModel unmergedModel = BaseModel.load(base); BaseModel mergedModel = BaseModel.load(merged)) {
            for (String backend : List.of(Backends.REFERENCE, Backends.CPU)) {
                try (Backend b1 = Backends.create(backend, unmergedModel, 2); Backend b2 = Backends.create(backend, mergedModel, 2)) {
                    float[] unmerged = BatchLogits.run(b1, List.of(new BatchLogits.Request(adapter, tokens)), 16).getFirst();
                    float[] viaMerge = BatchLogits.run(b2, List.of(new BatchLogits.Request(null, tokens)), 16).getFirst();
                    float[] plain = BatchLogits.run(b1, List.of(new BatchLogits.Request(null, tokens)), 16).getFirst();
                    assertClose(viaMerge, unmerged, 1e-4, backend + ": merged vs unmerged");
                    assertTrue(io.loraplex.engine.LogitAsserts.maxDiff(plain, unmerged) > 1e-2, backend + ": the adapter must change the logits for this test to mean anything");
                }
            }
        }
    }

    private static void merge(float[] w, LoraWeights lw) {
        for (int o = 0; o < lw.out(); o++) {
            for (int i = 0; i < lw.in(); i++) {
                double delta = 0;
                for (int r = 0; r < lw.rank(); r++) {
                    delta += (double) lw.b()[o * lw.rank() + r] * lw.a()[r * lw.in() + i];
                }
                w[o * lw.in() + i] += (float) (lw.scale() * delta);
            }
        }
    }

    /** An adapter whose B is zero (as PEFT initialises one) adds exactly nothing. */
    @Test
    void zeroBEqualsBase(@TempDir Path dir) throws Exception {
        Path base = TestModels.write(dir.resolve("model"), cfg, 3);
        LoraWeights[][] weights = new LoraWeights[cfg.numLayers()][TargetModule.COUNT];
        java.util.SplittableRandom random = new java.util.SplittableRandom(1);
        for (int l = 0; l < cfg.numLayers(); l++) {
            for (TargetModule m : TargetModule.values()) {
                int in = m.inFeatures(cfg);
                int out = m.outFeatures(cfg);
                weights[l][m.ordinal()] = new LoraWeights(4, in, out, 2f,
                        io.loraplex.engine.model.RandomWeights.gaussian(random, 4L * in, 1), new float[out * 4]);
            }
        }
        ObjectNode config = (ObjectNode) new ObjectMapper().readTree(
                "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,\"target_modules\":\"all-linear\"}");
        AdapterWriter.write(dir.resolve("zero"), config, weights, DType.F32);
        LoraAdapter zero = new AdapterLoader(cfg, 64).load("zero", dir.resolve("zero"));
        int[] tokens = TestModels.tokens(10, cfg.vocabSize(), 2);
        try (BaseModel model = BaseModel.load(base)) {
            for (String backend : List.of(Backends.REFERENCE, Backends.CPU)) {
                try (Backend b = Backends.create(backend, model, 2)) {
                    List<float[]> out = BatchLogits.run(b, List.of(new BatchLogits.Request(zero, tokens),
                            new BatchLogits.Request(null, tokens)), 4);
                    assertBitwise(out.get(1), out.get(0), backend + ": B = 0 vs base");
                }
            }
        }
    }

    /** use_rslora scales by alpha/√r: the same weights with alpha' = alpha·√r and no rsLoRA agree. */
    @Test
    void rsloraScaling(@TempDir Path dir) throws Exception {
        Path base = TestModels.write(dir.resolve("model"), cfg, 3);
        int rank = 9;
        AdapterWriter.writeRandom(dir.resolve("rs"), cfg, EnumSet.of(TargetModule.Q_PROJ, TargetModule.UP_PROJ), rank, 6,
                true, DType.F32, 8);
        AdapterWriter.writeRandom(dir.resolve("plain"), cfg, EnumSet.of(TargetModule.Q_PROJ, TargetModule.UP_PROJ), rank,
                6 * Math.sqrt(rank), false, DType.F32, 8);
        AdapterLoader loader = new AdapterLoader(cfg, 64);
        LoraAdapter rs = loader.load("rs", dir.resolve("rs"));
        LoraAdapter plain = loader.load("plain", dir.resolve("plain"));
        assertTrue(Math.abs(rs.weights(0, TargetModule.Q_PROJ).scale() - 2.0f) < 1e-6, "6/√9 = 2");
        int[] tokens = TestModels.tokens(8, cfg.vocabSize(), 5);
        try (BaseModel model = BaseModel.load(base); Backend b = Backends.create(Backends.CPU, model, 2)) {
            List<float[]> out = BatchLogits.run(b, List.of(new BatchLogits.Request(rs, tokens),
                    new BatchLogits.Request(plain, tokens)), 4);
            assertClose(out.get(1), out.get(0), 1e-6, "rslora vs equivalent alpha");
        }
    }

}
