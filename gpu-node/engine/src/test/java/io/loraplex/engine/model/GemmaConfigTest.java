package io.loraplex.engine.model;

import static io.loraplex.engine.LogitAsserts.assertBitwise;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.engine.TestModels;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.backend.BatchLogits;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Gemma 2 and 3 configs as their checkpoints ship them (Gemma3ForConditionalGeneration's text_config
 * with Gemma3TextConfig's defaults filling what it omits), the layer types and RoPE bases they imply,
 * the refusals of what the engine does not implement, and a multimodal checkpoint's language model.
 */
class GemmaConfigTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** google/gemma-2-9b-it's config.json (the keys the engine reads). */
    private static ObjectNode gemma2_9b() {
        ObjectNode o = JSON.createObjectNode();
        o.putArray("architectures").add("Gemma2ForCausalLM");
        o.put("model_type", "gemma2").put("hidden_size", 3584).put("intermediate_size", 14336).put("num_hidden_layers", 42)
                .put("num_attention_heads", 16).put("num_key_value_heads", 8).put("head_dim", 256).put("vocab_size", 256000)
                .put("rms_norm_eps", 1e-6).put("rope_theta", 10000.0).put("max_position_embeddings", 8192)
                .put("query_pre_attn_scalar", 256).put("sliding_window", 4096).put("attn_logit_softcapping", 50.0)
                .put("final_logit_softcapping", 30.0).put("hidden_act", "gelu_pytorch_tanh")
                .put("hidden_activation", "gelu_pytorch_tanh").put("attention_bias", false).put("torch_dtype", "float32")
                .put("bos_token_id", 2).put("eos_token_id", 1).put("pad_token_id", 0).put("cache_implementation", "hybrid");
        return o;
    }

    /** google/gemma-3-1b-it's config.json (the keys the engine reads). */
    private static ObjectNode gemma3_1b() {
        ObjectNode o = JSON.createObjectNode();
        o.putArray("architectures").add("Gemma3ForCausalLM");
        o.put("model_type", "gemma3_text").put("hidden_size", 1152).put("intermediate_size", 6912).put("num_hidden_layers", 26)
                .put("num_attention_heads", 4).put("num_key_value_heads", 1).put("head_dim", 256).put("vocab_size", 262144)
                .put("rms_norm_eps", 1e-6).put("rope_theta", 1000000.0).put("rope_local_base_freq", 10000.0)
                .put("max_position_embeddings", 32768).put("query_pre_attn_scalar", 256).put("sliding_window", 512)
                .put("sliding_window_pattern", 6).putNull("attn_logit_softcapping").putNull("final_logit_softcapping")
                .put("hidden_activation", "gelu_pytorch_tanh").putNull("rope_scaling").put("torch_dtype", "bfloat16")
                .put("bos_token_id", 2).putArray("eos_token_id").add(1).add(106);
        return o;
    }

    /** google/gemma-3-4b-it's config.json: the language model under text_config, which leaves most keys to the defaults. */
    private static ObjectNode gemma3_4bMultimodal() {
        ObjectNode o = JSON.createObjectNode();
        o.putArray("architectures").add("Gemma3ForConditionalGeneration");
        o.put("model_type", "gemma3").put("torch_dtype", "bfloat16").put("image_token_index", 262144);
        o.putArray("eos_token_id").add(1).add(106);
        ObjectNode text = o.putObject("text_config");
        text.put("hidden_size", 2560).put("intermediate_size", 10240).put("model_type", "gemma3_text")
                .put("num_hidden_layers", 34).put("sliding_window", 1024);
        text.putObject("rope_scaling").put("factor", 8.0).put("rope_type", "linear");
        o.putObject("vision_config").put("hidden_size", 1152).put("model_type", "siglip_vision_model");
        return o;
    }

    @Test
    void gemma2SlidesOnEvenLayersScalesByQueryPreAttnScalarAndSoftCapsBothLogits() {
        ModelConfig c = ModelConfig.parse(gemma2_9b());
        assertEquals(Architecture.GEMMA2, c.architecture());
        assertEquals(4096, c.windowFor(0));
        assertEquals(0, c.windowFor(1));
        assertEquals(4096, c.windowFor(40));
        assertEquals(0, c.windowFor(41));
        assertEquals(1 / 16f, c.attentionScale(), "256^-0.5");
        assertEquals(50f, c.attnLogitSoftcap());
        assertEquals(30f, c.finalLogitSoftcap());
        assertTrue(c.tieWordEmbeddings(), "Gemma2Config ties by default");
        assertFalse(c.localRope(0), "Gemma 2 has one RoPE base");
        assertEquals((float) Math.sqrt(3584), c.embeddingScale(), "f32 checkpoint: √C in f32");
        assertEquals(c, ModelConfig.parse(c.toJson()), "config.json round trip");
    }

    @Test
    void gemma3MakesEverySixthLayerGlobalWithItsOwnRopeBaseAndHasNoSoftCaps() {
        ModelConfig c = ModelConfig.parse(gemma3_1b());
        assertEquals(Architecture.GEMMA3, c.architecture());
        assertTrue(c.qkNorm());
        for (int l = 0; l < 26; l++) {
            boolean global = (l + 1) % 6 == 0;
            assertEquals(global ? 0 : 512, c.windowFor(l), "layer " + l);
            assertEquals(!global, c.localRope(l), "layer " + l);
        }
        assertEquals(0f, c.attnLogitSoftcap());
        assertEquals(0f, c.finalLogitSoftcap());
        assertEquals(34.0f, c.embeddingScale(), "√1152 = 33.941 rounds to 34 in bf16 (steps of 0.25), as torch.tensor(C**0.5, bfloat16)");
        assertEquals(List.of(1, 106), c.eosTokenIds());
        double[] global = new Rope(c).inverseFrequencies(1);
        double[] local = new Rope(c.localRopeConfig()).inverseFrequencies(1);
        assertEquals(1.0 / Math.pow(1e6, 2.0 / 256), global[1], 1e-15);
        assertEquals(1.0 / Math.pow(1e4, 2.0 / 256), local[1], 1e-15);
        assertEquals(c, ModelConfig.parse(c.toJson()), "config.json round trip (layer_types written)");
    }

    @Test
    void aMultimodalGemma3IsReadFromItsTextConfigWithTheDefaultsAndRopeScalingOnlyOnGlobalLayers() {
        ModelConfig c = ModelConfig.parse(gemma3_4bMultimodal());
        assertEquals(Architecture.GEMMA3, c.architecture());
        assertEquals(2560, c.hiddenSize());
        assertEquals(8, c.numHeads(), "Gemma3TextConfig's default");
        assertEquals(4, c.numKvHeads());
        assertEquals(256, c.headDim());
        assertEquals(262208, c.vocabSize());
        assertEquals(DType.BF16, c.torchDtype(), "taken from the top level");
        assertEquals(List.of(1, 106), c.eosTokenIds());
        assertEquals(1024, c.windowFor(0));
        assertEquals(0, c.windowFor(5));
        double[] global = new Rope(c).inverseFrequencies(1);
        double[] local = new Rope(c.localRopeConfig()).inverseFrequencies(1);
        assertEquals(1.0 / Math.pow(1e6, 2.0 / 256) / 8, global[1], 1e-15, "linear factor 8 on the global layers");
        assertEquals(1.0 / Math.pow(1e4, 2.0 / 256), local[1], 1e-15, "the sliding layers unscaled");
    }

    @Test
    void transformers5RopeParametersPerLayerTypeAreRead() {
        ObjectNode o = gemma3_1b();
        o.remove("rope_theta");
        o.remove("rope_local_base_freq");
        ObjectNode params = o.putObject("rope_parameters");
        params.putObject("full_attention").put("rope_type", "linear").put("factor", 8.0).put("rope_theta", 1000000.0);
        params.putObject("sliding_attention").put("rope_type", "default").put("rope_theta", 20000.0);
        ModelConfig c = ModelConfig.parse(o);
        assertEquals(RopeScaling.Type.LINEAR, c.ropeScaling().type());
        assertEquals(20000.0, c.gemma().localRopeTheta());
    }

    @Test
    void layerTypesOverrideTheSlidingWindowPattern() {
        ObjectNode o = gemma3_1b().put("num_hidden_layers", 3);
        o.putArray("layer_types").add("full_attention").add("sliding_attention").add("full_attention");
        ModelConfig c = ModelConfig.parse(o);
        assertEquals(0, c.windowFor(0));
        assertEquals(512, c.windowFor(1));
        assertEquals(0, c.windowFor(2));
    }

    @Test
    void anActivationOtherThanTanhGeluIsRefusedNamingIt() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelConfig.parse(gemma2_9b().put("hidden_activation", "gelu")));
        assertEquals("hidden_activation 'gelu' is not supported for Gemma2ForCausalLM (only gelu_pytorch_tanh)", e.getMessage());
    }

    @Test
    void bidirectionalAttentionIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelConfig.parse(gemma3_1b().put("use_bidirectional_attention", true)));
        assertEquals("use_bidirectional_attention: true is not supported (only causal attention)", e.getMessage());
    }

    @Test
    void aMultimodalConfigWithoutTextConfigIsRefused() {
        ObjectNode o = gemma3_4bMultimodal();
        o.remove("text_config");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelConfig.parse(o));
        assertEquals("Gemma3ForConditionalGeneration needs 'text_config' (its language model's config) as an object, got null",
                e.getMessage());
    }

    @Test
    void anUnknownLayerTypeIsRefusedNamingItsIndex() {
        ObjectNode o = gemma3_1b().put("num_hidden_layers", 2);
        o.putArray("layer_types").add("full_attention").add("chunked_attention");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelConfig.parse(o));
        assertEquals("layer_types[1] 'chunked_attention' is not supported (sliding_attention or full_attention)", e.getMessage());
    }

    @Test
    void ropeScalingOnGemma2IsRefused() {
        ObjectNode o = gemma2_9b();
        o.putObject("rope_scaling").put("rope_type", "linear").put("factor", 2.0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelConfig.parse(o));
        assertTrue(e.getMessage().startsWith("rope_scaling {\"rope_type\":\"linear\",\"factor\":2.0} is not supported for Gemma 2"),
                e.getMessage());
    }

    @Test
    void anUnsupportedArchitectureIsRefusedListingGemmaAmongTheSupported() {
        ObjectNode o = gemma2_9b();
        o.putArray("architectures").add("GemmaForCausalLM");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelConfig.parse(o));
        assertTrue(e.getMessage().startsWith("unsupported architecture 'GemmaForCausalLM' (supported: "), e.getMessage());
        assertTrue(e.getMessage().contains("Gemma2ForCausalLM, Gemma3ForCausalLM, Gemma3ForConditionalGeneration"), e.getMessage());
    }

    /** Both layouts a Gemma3ForConditionalGeneration checkpoint keeps its language model in. */
    @ParameterizedTest
    @ValueSource(strings = {"language_model.model.", "model.language_model."})
    void aMultimodalCheckpointsLanguageModelGivesTheSameLogitsAsTheCausalLayout(String prefix, @TempDir Path dir)
            throws Exception {
        ModelConfig cfg = TestModels.gemma3(DType.BF16);
        Path causal = TestModels.write(dir.resolve("causal"), cfg, 5);
        Path multimodal = dir.resolve("multimodal");
        Files.createDirectories(multimodal);
        SafetensorsWriter out = new SafetensorsWriter();
        try (WeightFiles files = WeightFiles.open(causal)) {
            for (String name : new java.util.TreeSet<>(files.names())) {
                Tensor t = files.tensor(name);
                out.add(prefix + name.substring("model.".length()), t.dtype(), t.toFloatArray(), t.shape());
            }
        }
        // a vision tower the engine must leave alone
        out.add("vision_tower.vision_model.post_layernorm.weight", DType.BF16, new float[] {1f, 2f}, 2);
        out.write(multimodal.resolve(WeightFiles.SINGLE));
        ObjectNode config = JSON.createObjectNode();
        config.putArray("architectures").add("Gemma3ForConditionalGeneration");
        config.put("model_type", "gemma3").put("torch_dtype", "bfloat16");
        ObjectNode text = cfg.toJson();
        text.remove("architectures");
        text.remove("torch_dtype");
        config.set("text_config", text);
        Files.writeString(multimodal.resolve("config.json"), config.toString());

        int[] prompt = TestModels.tokens(12, cfg.vocabSize(), 9);
        try (BaseModel a = BaseModel.load(causal); BaseModel b = BaseModel.load(multimodal);
                Backend ca = Backends.create(Backends.CPU, a, 2); Backend cb = Backends.create(Backends.CPU, b, 2)) {
            assertEquals(a.config(), b.config());
            assertBitwise(BatchLogits.run(ca, List.of(new BatchLogits.Request(null, prompt)), 4).getFirst(),
                    BatchLogits.run(cb, List.of(new BatchLogits.Request(null, prompt)), 4).getFirst(), prefix);
        }
    }

    @Test
    void aMissingPostFeedforwardNormIsNamed(@TempDir Path dir) throws IOException {
        ModelConfig cfg = TestModels.gemma2(DType.F32);
        Path model = TestModels.write(dir.resolve("m"), cfg, 1);
        SafetensorsWriter out = new SafetensorsWriter();
        try (WeightFiles files = WeightFiles.open(model)) {
            for (String name : new java.util.TreeSet<>(files.names())) {
                if (!name.equals("model.layers.1.post_feedforward_layernorm.weight")) {
                    Tensor t = files.tensor(name);
                    out.add(name, t.dtype(), t.toFloatArray(), t.shape());
                }
            }
        }
        out.write(model.resolve(WeightFiles.SINGLE));
        IOException e = assertThrows(IOException.class, () -> BaseModel.load(model).close());
        assertTrue(e.getMessage().contains("model.layers.1.post_feedforward_layernorm.weight"), e.getMessage());
    }
}
