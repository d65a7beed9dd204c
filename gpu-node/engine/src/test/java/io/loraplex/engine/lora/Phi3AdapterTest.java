package io.loraplex.engine.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.TestModels;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.RandomWeights;
import io.loraplex.engine.model.SafetensorsFile;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PEFT adapters of Phi-3 target the fused qkv_proj and gate_up_proj: loaded split by rows, A shared. */
class Phi3AdapterTest {

    @TempDir
    Path dir;
    private final ModelConfig cfg = TestModels.phi3(DType.F32); // C 64, q 64, kv 32, I 128, 2 layers
    private final AdapterLoader loader = new AdapterLoader(cfg, 64);

    @Test
    void aFusedAdaptersBIsSplitByRowsIntoQKVAndGateUpWithItsAShared() throws Exception {
        Path a = dir.resolve("a");
        AdapterWriter.writeRandomModules(a, cfg, PeftModule.of(cfg.architecture()), 8, 16, false, DType.F32, 1);
        LoraAdapter adapter = loader.load("a", a);
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile file = SafetensorsFile.open(a.resolve(ContentHash.WEIGHTS_FILE), arena);
            float[] fusedA = file.tensor("base_model.model.model.layers.1.self_attn.qkv_proj.lora_A.weight").toFloatArray();
            float[] fusedB = file.tensor("base_model.model.model.layers.1.self_attn.qkv_proj.lora_B.weight").toFloatArray();
            float[] gateUpB = file.tensor("base_model.model.model.layers.1.mlp.gate_up_proj.lora_B.weight").toFloatArray();
            int r = 8;
            assertArrayEquals(fusedA, adapter.weights(1, TargetModule.K_PROJ).a(), "A shared by the parts");
            assertArrayEquals(java.util.Arrays.copyOfRange(fusedB, 0, 64 * r), adapter.weights(1, TargetModule.Q_PROJ).b());
            assertArrayEquals(java.util.Arrays.copyOfRange(fusedB, 64 * r, 96 * r), adapter.weights(1, TargetModule.K_PROJ).b());
            assertArrayEquals(java.util.Arrays.copyOfRange(fusedB, 96 * r, 128 * r), adapter.weights(1, TargetModule.V_PROJ).b());
            assertArrayEquals(java.util.Arrays.copyOfRange(gateUpB, 128 * r, 256 * r), adapter.weights(1, TargetModule.UP_PROJ).b());
            assertEquals(2.0f, adapter.weights(1, TargetModule.V_PROJ).scale(), "alpha 16 / r 8, the fused module's");
        }
    }

    @Test
    void fusingPerPartLorasAndSplittingThemAtLoadGivesEachPartsDeltaBack() throws Exception {
        SplittableRandom random = new SplittableRandom(4);
        LoraWeights q = random(random, 4, 64, 64, 0.5f);
        LoraWeights v = random(random, 4, 64, 32, 0.5f);
        AdapterWriter.Fused fused = AdapterWriter.fuse(cfg, PeftModule.QKV_PROJ, new LoraWeights[] {q, null, v}, false);
        assertEquals(8, fused.rank());
        assertEquals(4.0, fused.alpha(), 1e-12, "scale 0.5 · rank 8");
        LoraWeights[][] weights = new LoraWeights[cfg.numLayers()][4];
        weights[0][0] = fused.weights();
        weights[1][0] = fused.weights();
        var config = new AdapterConfig(8, 4.0, 0, false, List.of("qkv_proj"), null, java.util.Map.of(), java.util.Map.of(),
                List.of(), null, null).toJson(null, List.of("qkv_proj"));
        Path out = dir.resolve("fused");
        AdapterWriter.writeModules(out, config, PeftModule.of(cfg.architecture()), weights, DType.F32);
        LoraAdapter loaded = loader.load("fused", out);
        float[] x = RandomWeights.gaussian(random, 64, 1.0);
        assertArrayEquals(delta(q, x), delta(loaded.weights(0, TargetModule.Q_PROJ), x), 1e-5f);
        assertArrayEquals(delta(v, x), delta(loaded.weights(0, TargetModule.V_PROJ), x), 1e-5f);
        assertArrayEquals(new float[32], delta(loaded.weights(0, TargetModule.K_PROJ), x), "k was not adapted: zero rows");
        assertNull(loaded.weights(1, TargetModule.O_PROJ), "o_proj was not targeted");
    }

    @Test
    void anAdapterWithSeparateQProjIsRefusedForPhi3NamingTheModule() throws Exception {
        Path llamaStyle = dir.resolve("llama-style");
        // a Llama of the same shapes writes the separate q_proj a Phi-3 does not have
        AdapterWriter.writeRandom(llamaStyle, TestModels.llama(DType.F32), EnumSet.of(TargetModule.Q_PROJ), 4, 8, false,
                DType.F32, 1);
        AdapterException e = assertThrows(AdapterException.class, () -> loader.load("x", llamaStyle));
        assertEquals(AdapterException.Reason.UNKNOWN_TARGET, e.reason());
        assertTrue(e.getMessage().endsWith("target_modules names unknown module 'q_proj' (Phi3ForCausalLM has qkv_proj, "
                + "o_proj, gate_up_proj, down_proj)"), e.getMessage());
    }

    @Test
    void aFusedLoraBWithTheWrongRowsIsRefusedWithTheExpectedShape() throws Exception {
        ModelConfig moreKv = TestModels.phi3(DType.F32);
        moreKv = new ModelConfig(moreKv.architecture(), 64, 128, 2, 4, 4, 16, 97, 1e-5, 10000.0, moreKv.ropeScaling(), 256,
                false, false, false, false, 0, java.util.Set.of(), DType.F32, 1, List.of(2), 0.75);
        Path wrong = dir.resolve("wrong");
        AdapterWriter.writeRandomModules(wrong, moreKv, List.of(PeftModule.QKV_PROJ), 4, 8, false, DType.F32, 1);
        AdapterException e = assertThrows(AdapterException.class, () -> loader.load("x", wrong));
        assertEquals(AdapterException.Reason.SHAPE_MISMATCH, e.reason());
        assertTrue(e.getMessage().contains("lora_B.weight' has shape [192, 4] but the base's qkv_proj has 128 outputs: "
                + "expected [128, 4]"), e.getMessage());
    }

    @Test
    void aFusedAdapterIsRefusedByALlamaBaseAsAnotherArchitecture() throws Exception {
        Path fused = dir.resolve("fused");
        AdapterWriter.writeRandomModules(fused, cfg, List.of(PeftModule.GATE_UP_PROJ), 4, 8, false, DType.F32, 1);
        Files.writeString(fused.resolve(ContentHash.CONFIG_FILE), Files.readString(fused.resolve(ContentHash.CONFIG_FILE))
                .replace("\"gate_up_proj\"", "\"gate_proj\""));
        AdapterException e = assertThrows(AdapterException.class,
                () -> new AdapterLoader(TestModels.llama(DType.F32), 64).load("x", fused));
        assertEquals(AdapterException.Reason.ARCHITECTURE_MISMATCH, e.reason());
        assertTrue(e.getMessage().contains("names module 'mlp.gate_up_proj', which LlamaForCausalLM does not have"),
                e.getMessage());
    }

    private static LoraWeights random(SplittableRandom random, int rank, int in, int out, float scale) {
        return new LoraWeights(rank, in, out, scale, RandomWeights.gaussian(random, (long) rank * in, 0.2),
                RandomWeights.gaussian(random, (long) out * rank, 0.2));
    }

    private static float[] delta(LoraWeights w, float[] x) {
        float[] s = new float[w.rank()];
        for (int r = 0; r < w.rank(); r++) {
            for (int i = 0; i < w.in(); i++) {
                s[r] += x[i] * w.a()[r * w.in() + i];
            }
        }
        float[] y = new float[w.out()];
        for (int o = 0; o < w.out(); o++) {
            for (int r = 0; r < w.rank(); r++) {
                y[o] += w.scale() * s[r] * w.b()[o * w.rank() + r];
            }
        }
        return y;
    }
}
