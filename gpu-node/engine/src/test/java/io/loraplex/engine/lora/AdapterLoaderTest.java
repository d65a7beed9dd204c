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

    // ---- bounds: an adapter whose numbers could overflow f32 is refused at load, naming the value

    /** q_proj on both layers with every element of A and B set to {@code a} and {@code b}. */
    private Path uniform(String name, String configJson, float a, float b) throws Exception {
        SafetensorsWriter t = new SafetensorsWriter();
        for (int l = 0; l < 2; l++) {
            float[] av = new float[8 * 64];
            float[] bv = new float[64 * 8];
            java.util.Arrays.fill(av, a);
            java.util.Arrays.fill(bv, b);
            t.add(PREFIX + l + ".self_attn.q_proj.lora_A.weight", DType.F32, av, 8, 64);
            t.add(PREFIX + l + ".self_attn.q_proj.lora_B.weight", DType.F32, bv, 64, 8);
        }
        return withTensors(name, configJson, t);
    }

    private static final String Q = "{\"peft_type\":\"LORA\",\"r\":8,\"lora_alpha\":16,\"target_modules\":[\"q_proj\"]}";

    @Test
    void refusesAnAlphaOf1e308NamingTheValue() throws Exception {
        refuse(withConfig("alpha", QV.replace("\"lora_alpha\":16", "\"lora_alpha\":1e308")), AdapterException.Reason.OUT_OF_BOUNDS,
                "'lora_alpha' is 1.0E308", "limit of 1024");
        refuse(withConfig("alpha-pattern", QV.replace("}", ",\"alpha_pattern\":{\"q_proj\":5000}}")),
                AdapterException.Reason.OUT_OF_BOUNDS, "alpha_pattern['q_proj'] is 5000", "limit of 1024");
    }

    @Test
    void refusesAnRAboveTheRankLimitBeforeReadingWeights() throws Exception {
        refuse(withConfig("huge-r", QV.replace("\"r\":8", "\"r\":1000000")), AdapterException.Reason.RANK_TOO_LARGE,
                "'r' (rank 1000000)", "limit of 32");
        refuse(withConfig("huge-rank-pattern", QV.replace("}", ",\"rank_pattern\":{\"v_proj\":4096}}")),
                AdapterException.Reason.RANK_TOO_LARGE, "rank_pattern['v_proj'] (rank 4096)", "limit of 32");
    }

    @Test
    void refusesWeightsNear3e38NamingTensorValueAndElement() throws Exception {
        refuse(uniform("big-b", Q, 0.01f, 3e38f), AdapterException.Reason.OUT_OF_BOUNDS,
                PREFIX + "0.self_attn.q_proj.lora_B.weight", "3.0E38 at element 0", "limit of ±1000");
        refuse(uniform("big-a", Q, -2000f, 0.01f), AdapterException.Reason.OUT_OF_BOUNDS,
                PREFIX + "0.self_attn.q_proj.lora_A.weight", "-2000.0 at element 0");
    }

    @Test
    void refusesAProjectionWhoseScaleTimesNormsCanOverflow() throws Exception {
        // every weight 500 (within ±1000): ‖A‖_F = ‖B‖_F = 500·√512 = 11314, gain 2 · 11314² ≈ 2.6e8
        AdapterException e = refuse(uniform("gain", Q, 500f, 500f), AdapterException.Reason.OUT_OF_BOUNDS,
                PREFIX + "0.self_attn.q_proj.lora_B.weight", "scale·‖B‖·‖A‖ of model.layers.0.self_attn.q_proj is 2.56",
                "scale 2.0", "limit of 100000");
        assertTrue(e.getMessage().contains("E8"), e.getMessage());
    }

    @Test
    void nanAndInfWeightsStayRefusedUnderAnyBounds() throws Exception {
        AdapterLoader unbounded = new AdapterLoader(cfg, 32, AdapterBounds.UNBOUNDED);
        AdapterException e = assertThrows(AdapterException.class,
                () -> unbounded.load("x", uniform("nan", Q, 0.01f, Float.NaN)));
        assertEquals(AdapterException.Reason.NON_FINITE, e.reason());
        assertTrue(e.getMessage().contains("lora_B.weight' has NaN at element 0"), e.getMessage());
        e = assertThrows(AdapterException.class, () -> unbounded.load("x", uniform("inf", Q, Float.NEGATIVE_INFINITY, 0.01f)));
        assertTrue(e.getMessage().contains("lora_A.weight' has Inf at element 0"), e.getMessage());
    }

    @Test
    void legitAdaptersPassTheDefaultBounds() throws Exception {
        // rank 32 on every projection with rsLoRA and alpha 256: a large but ordinary adapter
        Path big = dir.resolve("big-legit");
        AdapterWriter.writeRandom(big, cfg, EnumSet.allOf(TargetModule.class), 32, 256, true, DType.BF16, 7);
        assertEquals(32, loader.load("big", big).maxRank());
    }

    // ---- strict JSON types: a wrong type is refused naming the key, never coerced

    @Test
    void refusesConfigFieldsOfTheWrongJsonType() throws Exception {
        refuse(withConfig("alpha-string", QV.replace("\"lora_alpha\":16", "\"lora_alpha\":\"8\"")),
                AdapterException.Reason.MALFORMED, "'lora_alpha' must be a positive number, got \"8\"");
        refuse(withConfig("r-string", QV.replace("\"r\":8", "\"r\":\"16\"")),
                AdapterException.Reason.MALFORMED, "'r' must be a positive integer, got \"16\"");
        refuse(withConfig("r-float", QV.replace("\"r\":8", "\"r\":8.5")),
                AdapterException.Reason.MALFORMED, "'r' must be a positive integer, got 8.5");
        refuse(withConfig("targets-numbers", QV.replace("[\"q_proj\",\"v_proj\"]", "[\"q_proj\",7]")),
                AdapterException.Reason.MALFORMED, "'target_modules' must be a list of strings, but element 1 is 7");
        refuse(withConfig("targets-object", QV.replace("[\"q_proj\",\"v_proj\"]", "{\"q\":1}")),
                AdapterException.Reason.MALFORMED, "'target_modules' must be a list of strings or a string");
        refuse(withConfig("rslora-string", QV.replace("}", ",\"use_rslora\":\"true\"}")),
                AdapterException.Reason.MALFORMED, "'use_rslora' must be true or false, got \"true\"");
        refuse(withConfig("dropout-string", QV.replace("}", ",\"lora_dropout\":\"0.1\"}")),
                AdapterException.Reason.MALFORMED, "'lora_dropout' must be a number");
        refuse(withConfig("rank-pattern-list", QV.replace("}", ",\"rank_pattern\":[4]}")),
                AdapterException.Reason.MALFORMED, "'rank_pattern' must be an object");
        refuse(withConfig("layers-strings", QV.replace("}", ",\"layers_to_transform\":[\"0\"]}")),
                AdapterException.Reason.MALFORMED, "'layers_to_transform' must be an integer or a list of integers");
        refuse(withConfig("peft-type-number", QV.replace("\"LORA\"", "1")),
                AdapterException.Reason.MALFORMED, "'peft_type' must be a string, got 1");
    }

    @Test
    void refusesAConfigKeyGivenTwice() throws Exception {
        refuse(withConfig("dup", QV.replace("}", ",\"r\":16}")), AdapterException.Reason.MALFORMED,
                "adapter_config.json", "Duplicate field 'r'");
    }

    @Test
    void refusesWeightsWithTrailingBytesAsMalformed() throws Exception {
        Path d = dir.resolve("trailing");
        Files.createDirectories(d);
        Files.copy(good.resolve(ContentHash.CONFIG_FILE), d.resolve(ContentHash.CONFIG_FILE));
        Files.copy(good.resolve(ContentHash.WEIGHTS_FILE), d.resolve(ContentHash.WEIGHTS_FILE));
        Files.write(d.resolve(ContentHash.WEIGHTS_FILE), new byte[] {1, 2, 3}, StandardOpenOption.APPEND);
        refuse(d, AdapterException.Reason.MALFORMED, "3 trailing bytes after the last tensor");
    }
}
