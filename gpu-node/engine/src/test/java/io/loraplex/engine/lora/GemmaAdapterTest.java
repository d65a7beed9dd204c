package io.loraplex.engine.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.engine.TestModels;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.SafetensorsFile;
import io.loraplex.engine.model.SafetensorsWriter;
import io.loraplex.engine.model.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.TreeSet;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** PEFT adapters of a multimodal Gemma 3 name its language model's layers under another prefix; they load the same. */
class GemmaAdapterTest {

    private static final String FILE = "adapter_model.safetensors";

    /** Copies an adapter with "base_model.model.model." in its tensor names replaced by {@code prefix}. */
    private static Path renamed(Path from, Path to, String prefix) throws IOException {
        Files.createDirectories(to);
        Files.copy(from.resolve("adapter_config.json"), to.resolve("adapter_config.json"));
        SafetensorsWriter out = new SafetensorsWriter();
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile file = SafetensorsFile.open(from.resolve(FILE), arena);
            for (String name : new TreeSet<>(file.tensors().keySet())) {
                Tensor t = file.tensor(name);
                out.add(name.replace("base_model.model.model.", prefix), t.dtype(), t.toFloatArray(), t.shape());
            }
        }
        out.write(to.resolve(FILE));
        return to;
    }

    @ParameterizedTest
    @ValueSource(strings = {"base_model.model.language_model.model.", "base_model.model.model.language_model."})
    void aMultimodalGemma3AdapterLoadsAsItsCausalLayout(String prefix, @TempDir Path dir) throws Exception {
        ModelConfig cfg = TestModels.gemma3(DType.F32);
        Path plain = dir.resolve("plain");
        AdapterWriter.writeRandomModules(plain, cfg, PeftModule.of(cfg.architecture()), 4, 8, false, DType.F32, 1);
        Path multimodal = renamed(plain, dir.resolve("multimodal"), prefix);
        AdapterLoader loader = new AdapterLoader(cfg, 64);
        LoraAdapter a = loader.load("plain", plain);
        LoraAdapter b = loader.load("multimodal", multimodal);
        int checked = 0;
        for (int l = 0; l < cfg.numLayers(); l++) {
            for (TargetModule m : TargetModule.values()) {
                assertArrayEquals(a.weights(l, m).a(), b.weights(l, m).a(), "layer " + l + " " + m);
                assertArrayEquals(a.weights(l, m).b(), b.weights(l, m).b(), "layer " + l + " " + m);
                checked++;
            }
        }
        assertEquals(cfg.numLayers() * TargetModule.COUNT, checked);
    }

    @ParameterizedTest
    @ValueSource(strings = {"gemma2", "llama"})
    void aMultimodalPrefixOnAnotherBaseIsRefusedAsAnotherArchitecture(String arch, @TempDir Path dir) throws Exception {
        ModelConfig cfg = arch.equals("gemma2") ? TestModels.gemma2(DType.F32) : TestModels.llama(DType.F32);
        Path plain = dir.resolve("plain");
        AdapterWriter.writeRandomModules(plain, cfg, PeftModule.of(cfg.architecture()), 4, 8, false, DType.F32, 1);
        Path multimodal = renamed(plain, dir.resolve("multimodal"), "base_model.model.language_model.model.");
        AdapterException e = assertThrows(AdapterException.class, () -> new AdapterLoader(cfg, 64).load("m", multimodal));
        assertEquals(AdapterException.Reason.ARCHITECTURE_MISMATCH, e.reason());
        assertTrue(e.getMessage().endsWith("names a multimodal model's language model; the base is "
                + cfg.architecture().hfClass()), e.getMessage());
    }
}
