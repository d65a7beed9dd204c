package io.loraplex.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.engine.TestModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Qwen3 checkpoints: their config.json as published, the q/k norm weights they must carry. */
class Qwen3ConfigTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void theQwen3SmallConfigParsesWithItsOwnHeadSizeNoBiasAndTiedEmbeddings() throws Exception {
        // Qwen3-0.6B's config.json: 16 heads of 128 over a hidden size of 1024
        ModelConfig cfg = ModelConfig.parse(JSON.readTree("""
                {"architectures":["Qwen3ForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":151643,
                 "eos_token_id":151645,"head_dim":128,"hidden_act":"silu","hidden_size":1024,"initializer_range":0.02,
                 "intermediate_size":3072,"max_position_embeddings":40960,"max_window_layers":28,"model_type":"qwen3",
                 "num_attention_heads":16,"num_hidden_layers":28,"num_key_value_heads":8,"rms_norm_eps":1e-06,
                 "rope_scaling":null,"rope_theta":1000000,"sliding_window":null,"tie_word_embeddings":true,
                 "torch_dtype":"bfloat16","use_cache":true,"use_sliding_window":false,"vocab_size":151936}"""));
        assertEquals(Architecture.QWEN3, cfg.architecture());
        assertEquals(128, cfg.headDim());
        assertEquals(2048, cfg.qDim(), "q is NH·HS wide, not hidden");
        assertTrue(cfg.qkNorm());
        assertFalse(cfg.qkvBias() || cfg.oBias() || cfg.mlpBias(), "Qwen3 has no q/k/v bias, unlike Qwen2");
        assertTrue(cfg.tieWordEmbeddings());
        assertEquals(0, cfg.windowFor(27));
        assertEquals(cfg, ModelConfig.parse(cfg.toJson()), "toJson round trip");
    }

    @Test
    void aQwen3ConfigWithoutHeadDimTakesQwen3ConfigsDefaultOf128() throws Exception {
        ModelConfig cfg = ModelConfig.parse(JSON.readTree("""
                {"architectures":["Qwen3ForCausalLM"],"hidden_size":256,"intermediate_size":512,"num_hidden_layers":2,
                 "num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100,"tie_word_embeddings":false}"""));
        assertEquals(128, cfg.headDim(), "Qwen3Config(head_dim=128), not hidden / heads = 64");
        assertFalse(cfg.tieWordEmbeddings());
    }

    @Test
    void aQwen3CheckpointWithoutQNormIsRefusedNamingTheTensor() throws Exception {
        ModelConfig llama = TestModels.llama(DType.F32);
        Path m = TestModels.write(dir.resolve("m"), llama, 1);
        ObjectNode config = (ObjectNode) JSON.readTree(Files.readString(m.resolve("config.json")));
        config.putArray("architectures").add("Qwen3ForCausalLM");
        config.put("model_type", "qwen3");
        Files.writeString(m.resolve("config.json"), config.toString());
        IOException e = assertThrows(IOException.class, () -> BaseModel.load(m));
        assertTrue(e.getMessage().contains("missing weight tensor 'model.layers.0.self_attn.q_norm.weight'"), e.getMessage());
    }

    @Test
    void anUnsupportedArchitectureIsRefusedNamingItAndListingQwen3AmongTheSupported() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Architecture.fromHfClass("Qwen3MoeForCausalLM"));
        assertEquals("unsupported architecture 'Qwen3MoeForCausalLM' (supported: LlamaForCausalLM, MistralForCausalLM, "
                + "Qwen2ForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM, "
                + "Gemma3ForConditionalGeneration)", e.getMessage());
        IllegalArgumentException name = assertThrows(IllegalArgumentException.class, () -> Architecture.fromName("gemma9"));
        assertEquals("unknown architecture 'gemma9' (use llama, mistral, qwen2, qwen3, phi3, gemma2, gemma3)", name.getMessage());
        assertEquals(Architecture.QWEN3, Architecture.fromName("qwen3"));
    }
}
