package io.loraplex.engine.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.TestModels;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.SafetensorsWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.EnumSet;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every refusal of the adapter loader, each with the message it must give. */
class AdapterLoaderTest {

    @TempDir
    Path dir;
    private final ModelConfig cfg = TestModels.llama(DType.F32); // C 64, q 64, kv 32, I 160, 2 layers
    private final AdapterLoader loader = new AdapterLoader(cfg, 32);
    private Path good;

    @BeforeEach
    void writeGoodAdapter() throws Exception {
        good = dir.resolve("good");
        AdapterWriter.writeRandom(good, cfg, EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ), 8, 16, false, DType.BF16, 1);
    }

    private AdapterException refuse(Path adapter, AdapterException.Reason reason, String... fragments) {
        AdapterException e = assertThrows(AdapterException.class, () -> loader.load("x", adapter));
        assertEquals(reason, e.reason(), e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' should mention '" + f + "'");
        }
        return e;
    }

    private Path withConfig(String name, String configJson) throws Exception {
        Path d = dir.resolve(name);
        Files.createDirectories(d);
        Files.copy(good.resolve(ContentHash.WEIGHTS_FILE), d.resolve(ContentHash.WEIGHTS_FILE));
        Files.writeString(d.resolve(ContentHash.CONFIG_FILE), configJson);
        return d;
    }

    private Path withTensors(String name, String configJson, SafetensorsWriter tensors) throws Exception {
        Path d = dir.resolve(name);
        Files.createDirectories(d);
        tensors.write(d.resolve(ContentHash.WEIGHTS_FILE));
        Files.writeString(d.resolve(ContentHash.CONFIG_FILE), configJson);
        return d;
    }

    private static final String QV = "{\"peft_type\":\"LORA\",\"r\":8,\"lora_alpha\":16,\"target_modules\":[\"q_proj\",\"v_proj\"]}";
    private static final String PREFIX = "base_model.model.model.layers.";

    @Test
    void loadsAGoodAdapterWithItsContentHash() throws Exception {
        LoraAdapter a = loader.load("good", good);
        assertEquals(ContentHash.ofDirectory(good), a.contentHash());
        assertEquals(8, a.maxRank());
        assertNotNull(a.weights(1, TargetModule.V_PROJ));
        assertNull(a.weights(1, TargetModule.K_PROJ));
        assertEquals(2.0f, a.weights(0, TargetModule.Q_PROJ).scale());
    }

    @Test
    void refusesMissingDirectoryAndFiles() throws Exception {
        refuse(dir.resolve("nope"), AdapterException.Reason.NOT_FOUND, "nope", "not found");
        Path noConfig = dir.resolve("no-config");
        Files.createDirectories(noConfig);
        Files.copy(good.resolve(ContentHash.WEIGHTS_FILE), noConfig.resolve(ContentHash.WEIGHTS_FILE));
        refuse(noConfig, AdapterException.Reason.MISSING_FILE, "adapter_config.json", "missing");
        Path noWeights = dir.resolve("no-weights");
        Files.createDirectories(noWeights);
        Files.copy(good.resolve(ContentHash.CONFIG_FILE), noWeights.resolve(ContentHash.CONFIG_FILE));
        refuse(noWeights, AdapterException.Reason.MISSING_FILE, "adapter_model.safetensors", "missing");
    }

    @Test
    void refusesPickledWeights() throws Exception {
        Path d = dir.resolve("pickle");
        Files.createDirectories(d);
        Files.copy(good.resolve(ContentHash.CONFIG_FILE), d.resolve(ContentHash.CONFIG_FILE));
        Files.write(d.resolve("adapter_model.bin"), new byte[] {(byte) 0x80, 2, 'c'});
        refuse(d, AdapterException.Reason.PICKLE, "adapter_model.bin", "pickle");
    }

    @Test
    void refusesTruncatedWeights() throws Exception {
        Path d = dir.resolve("truncated");
        Files.createDirectories(d);
        Files.copy(good.resolve(ContentHash.CONFIG_FILE), d.resolve(ContentHash.CONFIG_FILE));
        byte[] bytes = Files.readAllBytes(good.resolve(ContentHash.WEIGHTS_FILE));
        Files.write(d.resolve(ContentHash.WEIGHTS_FILE), java.util.Arrays.copyOf(bytes, bytes.length - 100));
        refuse(d, AdapterException.Reason.TRUNCATED, "adapter_model.safetensors", "truncated", "lora_");
        Files.write(d.resolve(ContentHash.WEIGHTS_FILE), java.util.Arrays.copyOf(bytes, 5));
        refuse(d, AdapterException.Reason.TRUNCATED, "truncated");
    }

    @Test
    void refusesMalformedConfigJson() throws Exception {
        refuse(withConfig("bad-json", "{\"r\": 8,"), AdapterException.Reason.MALFORMED, "adapter_config.json", "malformed JSON");
        refuse(withConfig("no-r", "{\"peft_type\":\"LORA\",\"target_modules\":[\"q_proj\"]}"), AdapterException.Reason.MALFORMED,
                "'r'");
    }

    @Test
    void refusesShapesThatDoNotMatchTheBase() throws Exception {
        SafetensorsWriter t = new SafetensorsWriter();
        for (int l = 0; l < 2; l++) {
            t.add(PREFIX + l + ".self_attn.q_proj.lora_A.weight", DType.F32, new float[8 * 48], 8, 48); // in is 64
            t.add(PREFIX + l + ".self_attn.q_proj.lora_B.weight", DType.F32, new float[64 * 8], 64, 8);
        }
        String cfgJson = "{\"peft_type\":\"LORA\",\"r\":8,\"lora_alpha\":16,\"target_modules\":[\"q_proj\"]}";
        refuse(withTensors("shape", cfgJson, t), AdapterException.Reason.SHAPE_MISMATCH,
                "self_attn.q_proj.lora_A.weight", "[8, 48]", "expected [8, 64]");
    }

    @Test
    void refusesRankAboveTheLimit() throws Exception {
        Path d = dir.resolve("rank64");
        AdapterWriter.writeRandom(d, cfg, EnumSet.of(TargetModule.Q_PROJ), 40, 16, false, DType.F32, 3);
        refuse(d, AdapterException.Reason.RANK_TOO_LARGE, "rank 40", "limit of 32");
    }

    @Test
    void refusesNanAndInfWeights() throws Exception {
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
            SafetensorsWriter t = new SafetensorsWriter();
            for (int l = 0; l < 2; l++) {
                float[] a = new float[8 * 64];
                a[77] = l == 1 ? bad : 0f;
                t.add(PREFIX + l + ".self_attn.q_proj.lora_A.weight", DType.BF16, a, 8, 64);
                t.add(PREFIX + l + ".self_attn.q_proj.lora_B.weight", DType.BF16, new float[64 * 8], 64, 8);
            }
            String cfgJson = "{\"peft_type\":\"LORA\",\"r\":8,\"lora_alpha\":16,\"target_modules\":[\"q_proj\"]}";
            refuse(withTensors("nonfinite" + bad, cfgJson, t), AdapterException.Reason.NON_FINITE,
                    PREFIX + "1.self_attn.q_proj.lora_A.weight", Float.isNaN(bad) ? "NaN" : "Inf", "element 77");
        }
    }

    @Test
    void refusesDora() throws Exception {
        refuse(withConfig("dora", QV.replace("}", ",\"use_dora\":true}")), AdapterException.Reason.UNSUPPORTED, "DoRA");
        SafetensorsWriter t = new SafetensorsWriter();
        t.add(PREFIX + "0.self_attn.q_proj.lora_A.weight", DType.F32, new float[8 * 64], 8, 64);
        t.add(PREFIX + "0.self_attn.q_proj.lora_B.weight", DType.F32, new float[64 * 8], 64, 8);
        t.add(PREFIX + "0.self_attn.q_proj.lora_magnitude_vector", DType.F32, new float[64], 64);
        String cfgJson = "{\"peft_type\":\"LORA\",\"r\":8,\"lora_alpha\":16,\"target_modules\":[\"q_proj\"],\"layers_to_transform\":[0]}";
        refuse(withTensors("dora-tensor", cfgJson, t), AdapterException.Reason.UNSUPPORTED, "lora_magnitude_vector", "DoRA");
    }

    @Test
    void refusesModulesToSave() throws Exception {
        refuse(withConfig("mts", QV.replace("}", ",\"modules_to_save\":[\"lm_head\"]}")), AdapterException.Reason.UNSUPPORTED,
                "modules_to_save", "lm_head");
    }

    @Test
    void refusesUnknownTargetModules() throws Exception {
        refuse(withConfig("unknown", QV.replace("\"v_proj\"", "\"w_proj\"")), AdapterException.Reason.UNKNOWN_TARGET,
                "unknown module 'w_proj'", "q_proj");
        refuse(withConfig("embed", QV.replace("\"v_proj\"", "\"embed_tokens\"")), AdapterException.Reason.UNKNOWN_TARGET,
                "embed_tokens");
        refuse(withConfig("regex", QV.replace("[\"q_proj\",\"v_proj\"]", "\".*attention\\\\.wq\"")),
                AdapterException.Reason.UNKNOWN_TARGET, "matches no module");
        // weights for a module the config does not target
        refuse(withConfig("untargeted", QV.replace("\"v_proj\"", "\"k_proj\"")), AdapterException.Reason.UNKNOWN_TARGET,
                "v_proj", "does not include");
    }

    @Test
    void refusesAnotherArchitecture() throws Exception {
        SafetensorsWriter gpt2 = new SafetensorsWriter();
        gpt2.add("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", DType.F32, new float[8 * 64], 8, 64);
        gpt2.add("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight", DType.F32, new float[192 * 8], 192, 8);
        String gptCfg = "{\"peft_type\":\"LORA\",\"r\":8,\"lora_alpha\":16,\"target_modules\":\"all-linear\"}";
        refuse(withTensors("gpt2", gptCfg, gpt2), AdapterException.Reason.ARCHITECTURE_MISMATCH, "c_attn", "another architecture",
                "LlamaForCausalLM");

        SafetensorsWriter phi3 = new SafetensorsWriter();
        phi3.add(PREFIX + "0.self_attn.qkv_proj.lora_A.weight", DType.F32, new float[8 * 64], 8, 64);
        phi3.add(PREFIX + "0.self_attn.qkv_proj.lora_B.weight", DType.F32, new float[128 * 8], 128, 8);
        refuse(withTensors("phi3", gptCfg, phi3), AdapterException.Reason.ARCHITECTURE_MISMATCH, "qkv_proj");

        SafetensorsWriter deep = new SafetensorsWriter();
        deep.add(PREFIX + "5.self_attn.q_proj.lora_A.weight", DType.F32, new float[8 * 64], 8, 64);
        deep.add(PREFIX + "5.self_attn.q_proj.lora_B.weight", DType.F32, new float[64 * 8], 64, 8);
        refuse(withTensors("deep", gptCfg, deep), AdapterException.Reason.ARCHITECTURE_MISMATCH, "layer 5", "2 layers");

        refuse(withConfig("automap", QV.replace("}", ",\"auto_mapping\":{\"base_model_class\":\"GPT2LMHeadModel\"}}")),
                AdapterException.Reason.ARCHITECTURE_MISMATCH, "GPT2LMHeadModel", "LlamaForCausalLM");
    }

    @Test
    void refusesHalfAPairAndMissingTargets() throws Exception {
        SafetensorsWriter t = new SafetensorsWriter();
        t.add(PREFIX + "0.self_attn.q_proj.lora_A.weight", DType.F32, new float[8 * 64], 8, 64);
        String cfgJson = "{\"peft_type\":\"LORA\",\"r\":8,\"lora_alpha\":16,\"target_modules\":[\"q_proj\"],\"layers_to_transform\":0}";
        refuse(withTensors("half", cfgJson, t), AdapterException.Reason.MALFORMED, "has lora_A but no lora_B");
        SafetensorsWriter only0 = new SafetensorsWriter();
        only0.add(PREFIX + "0.self_attn.q_proj.lora_A.weight", DType.F32, new float[8 * 64], 8, 64);
        only0.add(PREFIX + "0.self_attn.q_proj.lora_B.weight", DType.F32, new float[64 * 8], 64, 8);
        String both = "{\"peft_type\":\"LORA\",\"r\":8,\"lora_alpha\":16,\"target_modules\":[\"q_proj\"]}";
        refuse(withTensors("missing-layer", both, only0), AdapterException.Reason.MALFORMED, "model.layers.1.self_attn.q_proj",
                "no lora_A/lora_B");
    }

    @Test
    void honoursRegexTargetsRankAndAlphaPatterns() throws Exception {
        int in = 64;
        SafetensorsWriter t = new SafetensorsWriter();
        for (int l = 0; l < 2; l++) {
            int rq = l == 1 ? 4 : 8; // rank_pattern gives layer 1's q_proj rank 4
            t.add(PREFIX + l + ".self_attn.q_proj.lora_A.weight", DType.F32, new float[rq * in], rq, in);
            t.add(PREFIX + l + ".self_attn.q_proj.lora_B.weight", DType.F32, new float[64 * rq], 64, rq);
            t.add(PREFIX + l + ".mlp.down_proj.lora_A.weight", DType.F32, new float[8 * 160], 8, 160);
            t.add(PREFIX + l + ".mlp.down_proj.lora_B.weight", DType.F32, new float[64 * 8], 64, 8);
        }
        String cfgJson = "{\"peft_type\":\"LORA\",\"r\":8,\"lora_alpha\":16,"
                + "\"target_modules\":\"model\\\\.layers\\\\.\\\\d+\\\\.(self_attn\\\\.q_proj|mlp\\\\.down_proj)\","
                + "\"rank_pattern\":{\"layers.1.self_attn.q_proj\":4},\"alpha_pattern\":{\"down_proj\":4}}";
        LoraAdapter a = loader.load("patterns", withTensors("patterns", cfgJson, t));
        assertEquals(8, a.weights(0, TargetModule.Q_PROJ).rank());
        assertEquals(4, a.weights(1, TargetModule.Q_PROJ).rank());
        assertEquals(16f / 4, a.weights(1, TargetModule.Q_PROJ).scale());
        assertEquals(4f / 8, a.weights(0, TargetModule.DOWN_PROJ).scale());
        assertNull(a.weights(0, TargetModule.UP_PROJ));
    }

    @Test
    void allLinearAndLayersToTransform() throws Exception {
        SafetensorsWriter t = new SafetensorsWriter();
        for (TargetModule m : TargetModule.values()) {
            int in = m.inFeatures(cfg);
            int out = m.outFeatures(cfg);
            t.add(PREFIX + "1." + m.path() + ".lora_A.weight", DType.F16, new float[2 * in], 2, in);
            t.add(PREFIX + "1." + m.path() + ".lora_B.weight", DType.F16, new float[out * 2], out, 2);
        }
        String cfgJson = "{\"peft_type\":\"LORA\",\"r\":2,\"lora_alpha\":2,\"use_rslora\":true,"
                + "\"target_modules\":\"all-linear\",\"layers_to_transform\":[1]}";
        LoraAdapter a = loader.load("all", withTensors("all", cfgJson, t));
        for (TargetModule m : TargetModule.values()) {
            assertNull(a.weights(0, m));
            assertEquals((float) (2 / Math.sqrt(2)), a.weights(1, m).scale());
        }
    }

    @Test
    void contentHashChangesWithEitherFile() throws Exception {
        ContentHash before = loader.load("good", good).contentHash();
        Files.writeString(good.resolve(ContentHash.CONFIG_FILE), " ", StandardOpenOption.APPEND);
        assertTrue(!before.equals(loader.load("good", good).contentHash()));
    }
}
