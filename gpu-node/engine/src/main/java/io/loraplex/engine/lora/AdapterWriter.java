package io.loraplex.engine.lora;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.RandomWeights;
import io.loraplex.engine.model.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/** Writes PEFT adapter directories: {@code adapter_config.json} and {@code adapter_model.safetensors}. */
public final class AdapterWriter {

    private AdapterWriter() {
    }

    /**
     * Writes {@code weights} (L, modules; nulls skipped) with PEFT's tensor names.
     *
     * @param config the adapter_config.json to write as is
     */
    public static void write(Path dir, ObjectNode config, LoraWeights[][] weights, DType dtype) throws IOException {
        Files.createDirectories(dir);
        SafetensorsWriter out = new SafetensorsWriter();
        for (int l = 0; l < weights.length; l++) {
            for (TargetModule m : TargetModule.values()) {
                LoraWeights w = weights[l][m.ordinal()];
                if (w == null) {
                    continue;
                }
                List<String> names = AdapterLoader.tensorNames(l, m);
                out.add(names.get(0), dtype, w.a(), w.rank(), w.in());
                out.add(names.get(1), dtype, w.b(), w.out(), w.rank());
            }
        }
        out.write(dir.resolve(ContentHash.WEIGHTS_FILE));
        Files.writeString(dir.resolve(ContentHash.CONFIG_FILE),
                new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(config));
    }

    /**
     * A random adapter of rank {@code rank} on {@code modules} of every layer, B non-zero so it
     * changes the output (a trained adapter, not a fresh one), deterministic by seed.
     */
    public static void writeRandom(Path dir, ModelConfig base, Set<TargetModule> modules, int rank, double alpha,
            boolean rslora, DType dtype, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        LoraWeights[][] weights = new LoraWeights[base.numLayers()][TargetModule.COUNT];
        float scale = (float) (rslora ? alpha / Math.sqrt(rank) : alpha / rank);
        for (int l = 0; l < base.numLayers(); l++) {
            for (TargetModule m : modules) {
                int in = m.inFeatures(base);
                int out = m.outFeatures(base);
                float[] a = RandomWeights.gaussian(random, (long) rank * in, 1.0 / Math.sqrt(in));
                float[] b = RandomWeights.gaussian(random, (long) out * rank, 0.5 / Math.sqrt(rank));
                weights[l][m.ordinal()] = new LoraWeights(rank, in, out, scale, a, b);
            }
        }
        List<String> targets = new ArrayList<>();
        for (TargetModule m : new LinkedHashSet<>(modules)) {
            targets.add(m.shortName());
        }
        AdapterConfig cfg = new AdapterConfig(rank, alpha, 0.0, rslora, targets, null, java.util.Map.of(),
                java.util.Map.of(), List.of(), null, null);
        write(dir, cfg.toJson(null, targets), weights, dtype);
    }
}
