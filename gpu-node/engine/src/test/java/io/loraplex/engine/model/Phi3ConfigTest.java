package io.loraplex.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.engine.TestModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Phi-3's config.json (LongRoPE, partial rotary, its window) and its fused weights, read and refused. */
class Phi3ConfigTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Phi-4-mini-instruct's config.json, factor lists shortened to what its 96 rotary dims need. */
    private static ObjectNode phi4Mini() {
        ObjectNode o = JSON.createObjectNode();
        o.putArray("architectures").add("Phi3ForCausalLM");
        o.put("model_type", "phi3").put("hidden_size", 3072).put("intermediate_size", 8192).put("num_hidden_layers", 32)
                .put("num_attention_heads", 24).put("num_key_value_heads", 8).put("vocab_size", 200064)
                .put("rms_norm_eps", 1e-5).put("rope_theta", 10000.0).put("max_position_embeddings", 131072)
                .put("original_max_position_embeddings", 4096).put("partial_rotary_factor", 0.75)
                .put("sliding_window", 262144).put("tie_word_embeddings", true).put("hidden_act", "silu")
                .put("torch_dtype", "bfloat16").put("bos_token_id", 199999).put("eos_token_id", 199999);
        ObjectNode rs = o.putObject("rope_scaling");
        rs.put("type", "longrope");
        ArrayNode shortF = rs.putArray("short_factor");
        ArrayNode longF = rs.putArray("long_factor");
        for (int i = 0; i < 48; i++) {
            shortF.add(1.0 + i / 100.0);
            longF.add(1.0 + i);
        }
        return o;
    }

    @Test
    void parsesPhi4MinisLongropePartialRotaryAndWindow() {
        ModelConfig c = ModelConfig.parse(phi4Mini());
        assertEquals(Architecture.PHI3, c.architecture());
        assertEquals(128, c.headDim());
        assertEquals(96, c.rotaryDim(), "0.75 of head_dim 128");
        assertEquals(RopeScaling.Type.LONGROPE, c.ropeScaling().type());
        assertEquals(4096, c.ropeScaling().originalMaxPositions());
        assertEquals(48, c.ropeScaling().longFactor().size());
        assertEquals(262144, c.windowFor(31), "Phi3Config's window applies to every layer");
        assertEquals(c, ModelConfig.parse(c.toJson()), "config.json round trip");
    }

    @Test
    void parsesPhi3Mini4kWithoutRopeScalingAndWithItsWindowOf2047() throws Exception {
        // Phi-3-mini-4k-instruct's config.json as published (transformers 4.40)
        ModelConfig c = ModelConfig.parse((ObjectNode) JSON.readTree("""
                {"architectures": ["Phi3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 1,
                 "embd_pdrop": 0.0, "eos_token_id": 32000, "hidden_act": "silu", "hidden_size": 3072, "initializer_range": 0.02,
                 "intermediate_size": 8192, "max_position_embeddings": 4096, "model_type": "phi3", "num_attention_heads": 32,
                 "num_hidden_layers": 32, "num_key_value_heads": 32, "original_max_position_embeddings": 4096,
                 "pad_token_id": 32000, "resid_pdrop": 0.0, "rms_norm_eps": 1e-05, "rope_scaling": null, "rope_theta": 10000.0,
                 "sliding_window": 2047, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_cache": true,
                 "vocab_size": 32064}"""));
        assertEquals(Architecture.PHI3, c.architecture());
        assertEquals(96, c.headDim());
        assertEquals(96, c.rotaryDim(), "no partial_rotary_factor: the whole head rotates");
        assertEquals(null, c.ropeScaling());
        assertEquals(2047, c.windowFor(0));
        assertEquals(2047, c.windowFor(31));
        assertEquals(32, c.numKvHeads());
    }

    @Test
    void longropeUsesShortFactorsUpToTheOriginalMaxAndLongOnesBeyondScaledByTheAttentionFactor() {
        ModelConfig c = ModelConfig.parse(phi4Mini());
        Rope rope = new Rope(c);
        assertEquals(48, rope.pairs());
        double attention = Math.sqrt(1 + Math.log(131072.0 / 4096) / Math.log(4096));
        float[] cos = new float[48];
        float[] sin = new float[48];
        int position = 1000;
        int pair = 47; // short 1.47, long 48
        double invFreq = Math.pow(10000.0, -(2.0 * pair) / 96);
        rope.angles(position, 4096, cos, sin, 0);
        assertEquals(Math.cos(position * invFreq / 1.47) * attention, cos[pair], 1e-6, "a sequence of 4096: short factors");
        rope.angles(position, 4097, cos, sin, 0);
        assertEquals(Math.sin(position * invFreq / 48) * attention, sin[pair], 1e-6, "a sequence of 4097: long factors");
    }

    @Test
    void refusesLongropeFactorsThatDoNotMatchTheRotaryDim() {
        ObjectNode bad = phi4Mini();
        ((ArrayNode) bad.get("rope_scaling").get("short_factor")).remove(0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelConfig.parse(bad));
        assertTrue(e.getMessage().contains("short_factor and long_factor of equal"), e.getMessage());
        ObjectNode both = phi4Mini();
        ((ArrayNode) both.get("rope_scaling").get("short_factor")).remove(0);
        ((ArrayNode) both.get("rope_scaling").get("long_factor")).remove(0);
        e = assertThrows(IllegalArgumentException.class, () -> ModelConfig.parse(both));
        assertEquals("rope_scaling.short_factor and long_factor must have rotary_dim/2 = 48 values, got 47", e.getMessage());
        ObjectNode missing = phi4Mini();
        ((ObjectNode) missing.get("rope_scaling")).remove("long_factor");
        e = assertThrows(IllegalArgumentException.class, () -> ModelConfig.parse(missing));
        assertEquals("rope_scaling longrope needs 'long_factor' as a list of numbers, got null", e.getMessage());
    }

    @Test
    void anUnsupportedArchitectureIsRefusedListingPhi3AmongTheSupported() {
        ObjectNode gpt = phi4Mini();
        gpt.putArray("architectures").add("GPTNeoXForCausalLM");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelConfig.parse(gpt));
        assertTrue(e.getMessage().startsWith("unsupported architecture 'GPTNeoXForCausalLM' (supported: LlamaForCausalLM, "),
                e.getMessage());
        assertTrue(e.getMessage().contains("Phi3ForCausalLM"), e.getMessage());
    }

    @Test
    void theFusedWeightsAreSplitIntoQKVAndGateUpRowViews(@TempDir Path dir) throws IOException {
        ModelConfig cfg = TestModels.phi3(DType.F32);
        TestModels.write(dir, cfg, 3);
        try (BaseModel model = BaseModel.load(dir)) {
            ModelWeights w = model.weights();
            Tensor qkv = w.files().tensor("model.layers.1.self_attn.qkv_proj.weight");
            Tensor gateUp = w.files().tensor("model.layers.1.mlp.gate_up_proj.weight");
            int c = cfg.hiddenSize();
            // first element of k = row qDim of the fused tensor; first of up = row I of gate_up
            assertEquals(qkv.get((long) cfg.qDim() * c), w.wk(1).get(0));
            assertEquals(qkv.get((long) (cfg.qDim() + cfg.kvDim()) * c + 5), w.wv(1).get(5));
            assertEquals(gateUp.get((long) cfg.intermediateSize() * c + 7), w.wUp(1).get(7));
            assertTrue(w.wq(1).hasShape(cfg.qDim(), c) && w.wGate(1).hasShape(cfg.intermediateSize(), c));
        }
    }

    @Test
    void aFusedWeightOfTheWrongShapeIsRefusedNamingTheTensorAndBothShapes(@TempDir Path dir) throws IOException {
        ModelConfig cfg = TestModels.phi3(DType.F32);
        TestModels.write(dir, cfg, 3);
        ObjectNode json = (ObjectNode) JSON.readTree(Files.readString(dir.resolve("config.json")));
        json.put("num_key_value_heads", 4);
        Files.writeString(dir.resolve("config.json"), json.toString());
        IOException e = assertThrows(IOException.class, () -> BaseModel.load(dir));
        assertTrue(e.getMessage().contains("weight tensor 'model.layers.0.self_attn.qkv_proj.weight' has shape [128, 64], "
                + "config.json implies [192, 64]"), e.getMessage());
    }
}
