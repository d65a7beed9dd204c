package io.loraplex.engine.model;

import static io.loraplex.engine.LogitAsserts.assertBitwise;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
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
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelLoadingTest {

    @TempDir
    Path dir;

    private static void assertMessage(IOException e, String... fragments) {
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' should mention '" + f + "'");
        }
    }

    @Test
    void shardedEqualsSingleFile() throws Exception {
        ModelConfig cfg = TestModels.llama(DType.BF16);
        RandomWeights.write(dir.resolve("single"), cfg, 1, 9);
        RandomWeights.write(dir.resolve("sharded"), cfg, 3, 9);
        assertTrue(Files.exists(dir.resolve("sharded/model-00003-of-00003.safetensors")));
        assertTrue(Files.exists(dir.resolve("sharded/" + WeightFiles.INDEX)));
        int[] tokens = TestModels.tokens(9, cfg.vocabSize(), 1);
        try (BaseModel single = BaseModel.load(dir.resolve("single")); BaseModel sharded = BaseModel.load(dir.resolve("sharded"));
                Backend b1 = Backends.create(Backends.CPU, single, 2); Backend b2 = Backends.create(Backends.CPU, sharded, 2)) {
            float[] a = BatchLogits.run(b1, List.of(new BatchLogits.Request(null, tokens)), 8).getFirst();
            float[] b = BatchLogits.run(b2, List.of(new BatchLogits.Request(null, tokens)), 8).getFirst();
            assertBitwise(a, b, "sharded vs single file");
            assertEquals(single.identity().weights().length(), 64);
            assertNotEquals(single.identity().weights(), sharded.identity().weights(), "different files, different identity");
        }
    }

    @Test
    void identityChangesWithConfigOrTokenizer() throws Exception {
        ModelConfig cfg = TestModels.qwen2(DType.F32);
        RandomWeights.write(dir.resolve("m"), cfg, 1, 1);
        ModelIdentity first;
        try (BaseModel m = BaseModel.load(dir.resolve("m"))) {
            first = m.identity();
        }
        Files.writeString(dir.resolve("m/tokenizer.json"), "{}");
        try (BaseModel m = BaseModel.load(dir.resolve("m"))) {
            assertEquals(first.weights(), m.identity().weights());
            assertNotEquals(first.tokenizer(), m.identity().tokenizer());
        }
    }

    @Test
    void parsesHuggingFaceConfigs() throws Exception {
        ObjectMapper json = new ObjectMapper();
        ModelConfig llama31 = ModelConfig.parse(json.readTree("""
                {"architectures":["LlamaForCausalLM"],"hidden_size":4096,"intermediate_size":14336,"num_hidden_layers":32,
                 "num_attention_heads":32,"num_key_value_heads":8,"vocab_size":128256,"rms_norm_eps":1e-05,
                 "rope_theta":500000.0,"rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
                 "original_max_position_embeddings":8192,"rope_type":"llama3"},"tie_word_embeddings":false,
                 "torch_dtype":"bfloat16","bos_token_id":128000,"eos_token_id":[128001,128008,128009]}"""));
        assertEquals(128, llama31.headDim());
        assertEquals(RopeScaling.Type.LLAMA3, llama31.ropeScaling().type());
        assertEquals(List.of(128001, 128008, 128009), llama31.eosTokenIds());
        assertEquals(DType.BF16, llama31.torchDtype());
        ModelConfig qwen = ModelConfig.parse(json.readTree("""
                {"architectures":["Qwen2ForCausalLM"],"hidden_size":896,"intermediate_size":4864,"num_hidden_layers":24,
                 "num_attention_heads":14,"num_key_value_heads":2,"vocab_size":151936,"rms_norm_eps":1e-06,
                 "rope_theta":1000000.0,"sliding_window":32768,"use_sliding_window":false,"max_window_layers":21,
                 "tie_word_embeddings":true,"torch_dtype":"bfloat16"}"""));
        assertTrue(qwen.qkvBias() && !qwen.oBias() && qwen.tieWordEmbeddings());
        assertEquals(0, qwen.windowFor(23), "use_sliding_window false: no window");
        ModelConfig qwenWindow = ModelConfig.parse(json.readTree("""
                {"architectures":["Qwen2ForCausalLM"],"hidden_size":64,"intermediate_size":64,"num_hidden_layers":4,
                 "num_attention_heads":4,"vocab_size":10,"sliding_window":8,"use_sliding_window":true,"max_window_layers":2}"""));
        assertEquals(0, qwenWindow.windowFor(1));
        assertEquals(8, qwenWindow.windowFor(2));
        ModelConfig mistral = ModelConfig.parse(json.readTree("""
                {"architectures":["MistralForCausalLM"],"hidden_size":64,"intermediate_size":64,"num_hidden_layers":2,
                 "num_attention_heads":4,"vocab_size":10}"""));
        assertEquals(4096, mistral.windowFor(0), "MistralConfig's default window");
        ModelConfig mistralNull = ModelConfig.parse(json.readTree("""
                {"architectures":["MistralForCausalLM"],"hidden_size":64,"intermediate_size":64,"num_hidden_layers":2,
                 "num_attention_heads":4,"vocab_size":10,"sliding_window":null,"head_dim":32,"rope_scaling":{"type":"linear","factor":2}}"""));
        assertEquals(0, mistralNull.windowFor(0));
        assertEquals(32, mistralNull.headDim());
        assertEquals(RopeScaling.Type.LINEAR, mistralNull.ropeScaling().type());
        assertNull(ModelConfig.parse(json.readTree("""
                {"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":64,"num_hidden_layers":2,
                 "num_attention_heads":4,"vocab_size":10}""")).ropeScaling());
        ModelConfig roundTrip = ModelConfig.parse(llama31.toJson());
        assertEquals(llama31, roundTrip);
    }

    @Test
    void refusesBadConfigs() throws Exception {
        ModelConfig cfg = TestModels.llama(DType.F32);
        Path m = dir.resolve("m");
        RandomWeights.write(m, cfg, 1, 1);
        ObjectNode good = (ObjectNode) new ObjectMapper().readTree(Files.readString(m.resolve("config.json")));

        assertMessage(assertThrows(IOException.class, () -> BaseModel.load(dir.resolve("none"))), "config.json", "missing");
        writeConfig(m, good.deepCopy().put("hidden_act", "gelu"));
        assertMessage(assertThrows(IOException.class, () -> BaseModel.load(m)), "hidden_act", "gelu");
        ObjectNode gpt = good.deepCopy();
        gpt.putArray("architectures").add("GPT2LMHeadModel");
        writeConfig(m, gpt);
        assertMessage(assertThrows(IOException.class, () -> BaseModel.load(m)), "unsupported architecture 'GPT2LMHeadModel'",
                "supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM");
        ObjectNode yarn = good.deepCopy();
        yarn.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4);
        writeConfig(m, yarn);
        assertMessage(assertThrows(IOException.class, () -> BaseModel.load(m)), "yarn", "not supported");
        writeConfig(m, good.deepCopy().put("num_key_value_heads", 3));
        assertMessage(assertThrows(IOException.class, () -> BaseModel.load(m)), "num_key_value_heads");
        writeConfig(m, good.deepCopy().put("intermediate_size", 128));
        assertMessage(assertThrows(IOException.class, () -> BaseModel.load(m)), "mlp.gate_proj.weight", "[160, 64]", "[128, 64]");
        Files.writeString(m.resolve("config.json"), "{not json");
        assertMessage(assertThrows(IOException.class, () -> BaseModel.load(m)), "config.json", "malformed JSON");
    }

    @Test
    void refusesBrokenWeightFiles() throws Exception {
        ModelConfig cfg = TestModels.llama(DType.F32);
        Path m = dir.resolve("m");
        RandomWeights.write(m, cfg, 1, 1);
        byte[] bytes = Files.readAllBytes(m.resolve(WeightFiles.SINGLE));
        Files.write(m.resolve(WeightFiles.SINGLE), java.util.Arrays.copyOf(bytes, bytes.length / 2));
        assertMessage(assertThrows(IOException.class, () -> BaseModel.load(m)), "model.safetensors", "truncated");
        Files.delete(m.resolve(WeightFiles.SINGLE));
        Files.write(m.resolve("pytorch_model.bin"), new byte[] {1});
        assertMessage(assertThrows(IOException.class, () -> BaseModel.load(m)), "pytorch_model.bin", "safetensors only");

        ModelConfig untied = TestModels.llama(DType.F32);
        Path noHead = dir.resolve("nohead");
        RandomWeights.write(noHead, new ModelConfig(untied.architecture(), 64, 160, 2, 4, 2, 16, 97, 1e-5, 10000, null, 2048,
                true, false, false, false, 0, Set.of(), DType.F32, 1, List.of(2)), 1, 1);
        ObjectNode c = (ObjectNode) new ObjectMapper().readTree(Files.readString(noHead.resolve("config.json")));
        writeConfig(noHead, c.put("tie_word_embeddings", false));
        assertMessage(assertThrows(IOException.class, () -> BaseModel.load(noHead)), "lm_head.weight", "tie_word_embeddings");
    }

    @Test
    void bf16RoundingIsToNearestEven() {
        assertEquals((short) 0x3f80, DType.floatToBf16(1.0f));
        assertEquals(1.0f, DType.bf16ToFloat(DType.floatToBf16(1.0f)));
        float justAboveHalf = Float.intBitsToFloat(0x3f808001); // rounds up
        assertEquals((short) 0x3f81, DType.floatToBf16(justAboveHalf));
        float tie = Float.intBitsToFloat(0x3f808000); // tie, even mantissa stays
        assertEquals((short) 0x3f80, DType.floatToBf16(tie));
        assertTrue(Float.isNaN(DType.bf16ToFloat(DType.floatToBf16(Float.NaN))));
    }

    private static void writeConfig(Path m, ObjectNode config) throws IOException {
        Files.writeString(m.resolve("config.json"), config.toString());
    }
}
