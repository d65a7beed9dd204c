package io.loraplex.engine.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Both backends, now running the one {@link LayerSequence} through their operations, give the very
 * bits they gave when each had its own forward pass (issue 16). The expected values are checksums
 * of the logits (every float's raw bits) of a mixed-adapter batch, recorded from the code before the
 * split; regenerate them only for a deliberate change of arithmetic, by printing
 * {@code String.format("0x%016xL", checksum(...))} in the test. The CPU rows were recorded again for
 * issue 17's panel kernels, a deliberate change of order (each projection output one fma per input
 * in input order, where it was a per-lane sum folded by a shuffle tree); the reference rows did not move.
 */
class LayerSequenceGoldenTest {

    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of("llama-f32", TestModels.llama(DType.F32), Backends.REFERENCE, 0x1cef6faa0c35948cL),
                Arguments.of("llama-f32", TestModels.llama(DType.F32), Backends.CPU, 0xb53f76995e09b1f7L),
                Arguments.of("qwen2-bf16", TestModels.qwen2(DType.BF16), Backends.REFERENCE, 0xc83dafc1071e417fL),
                Arguments.of("qwen2-bf16", TestModels.qwen2(DType.BF16), Backends.CPU, 0x3cdb1d7df94dbbb0L),
                Arguments.of("mistral-f16", TestModels.mistral(DType.F16), Backends.REFERENCE, 0xb582e51b771a5ce3L),
                Arguments.of("mistral-f16", TestModels.mistral(DType.F16), Backends.CPU, 0x1a009ccfc0503e26L),
                Arguments.of("llama-biased-f32", TestModels.llamaBiased(DType.F32), Backends.REFERENCE, 0x4a6b582c66ab8d0aL),
                Arguments.of("llama-biased-f32", TestModels.llamaBiased(DType.F32), Backends.CPU, 0x9396d4b3eafaf16cL));
    }

    @ParameterizedTest(name = "{0} on {2}")
    @MethodSource("cases")
    void logitsAreBitIdenticalToThoseOfTheBackendsOwnForwardPassBeforeTheSplit(String name, ModelConfig cfg,
            String backend, long expected, @TempDir Path dir) throws Exception {
        TestModels.write(dir.resolve("model"), cfg, 11);
        AdapterWriter.writeRandom(dir.resolve("a1"), cfg, EnumSet.allOf(TargetModule.class), 8, 16, false, DType.F32, 1);
        AdapterWriter.writeRandom(dir.resolve("a2"), cfg, EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ,
                TargetModule.DOWN_PROJ), 4, 8, true, DType.BF16, 2);
        try (BaseModel model = BaseModel.load(dir.resolve("model")); Backend b = Backends.create(backend, model, 2)) {
            AdapterLoader loader = new AdapterLoader(cfg, 64);
            LoraAdapter a1 = loader.load("a1", dir.resolve("a1"));
            LoraAdapter a2 = loader.load("a2", dir.resolve("a2"));
            List<BatchLogits.Request> requests = new ArrayList<>();
            // prefill runs longer than one CPU LoRA segment (16 tokens), lone tokens, base and two adapters
            requests.add(new BatchLogits.Request(null, TestModels.tokens(9, cfg.vocabSize(), 1)));
            requests.add(new BatchLogits.Request(a1, TestModels.tokens(21, cfg.vocabSize(), 2)));
            requests.add(new BatchLogits.Request(a2, TestModels.tokens(1, cfg.vocabSize(), 3)));
            requests.add(new BatchLogits.Request(a1, TestModels.tokens(6, cfg.vocabSize(), 4)));
            requests.add(new BatchLogits.Request(a2, TestModels.tokens(7, cfg.vocabSize(), 5)));
            long actual = checksum(BatchLogits.run(b, requests, 4));
            assertEquals(Long.toHexString(expected), Long.toHexString(actual), name + " on " + backend);
        }
    }

    /** A 64-bit checksum over the raw bits of every logit, in order. */
    static long checksum(List<float[]> logits) {
        long h = 1125899906842597L;
        for (float[] row : logits) {
            for (float v : row) {
                h = 31 * h + Float.floatToRawIntBits(v);
                h ^= h >>> 29;
            }
        }
        return h;
    }
}
