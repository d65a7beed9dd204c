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
     * Writes {@code weights} (L, modules; nulls skipped) of the checkpoint's own modules, fused ones
     * (Phi-3's qkv_proj, gate_up_proj) included, with PEFT's tensor names.
     */
    public static void writeModules(Path dir, ObjectNode config, List<PeftModule> modules, LoraWeights[][] weights,
            DType dtype) throws IOException {
        Files.createDirectories(dir);
        SafetensorsWriter out = new SafetensorsWriter();
        for (int l = 0; l < weights.length; l++) {
            for (int i = 0; i < modules.size(); i++) {
                LoraWeights w = weights[l][i];
                if (w != null) {
                    String prefix = "base_model.model." + modules.get(i).moduleName(l);
                    out.add(prefix + ".lora_A.weight", dtype, w.a(), w.rank(), w.in());
                    out.add(prefix + ".lora_B.weight", dtype, w.b(), w.out(), w.rank());
                }
            }
        }
        out.write(dir.resolve(ContentHash.WEIGHTS_FILE));
        Files.writeString(dir.resolve(ContentHash.CONFIG_FILE),
                new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(config));
    }

    /**
     * A random adapter on the checkpoint's modules ({@code modules}, fused ones as one LoRA each: B
     * spans all the fused rows), deterministic by seed; see {@link #writeRandom}.
     */
    public static void writeRandomModules(Path dir, ModelConfig base, List<PeftModule> modules, int rank, double alpha,
            boolean rslora, DType dtype, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        LoraWeights[][] weights = new LoraWeights[base.numLayers()][modules.size()];
        float scale = (float) (rslora ? alpha / Math.sqrt(rank) : alpha / rank);
        for (int l = 0; l < base.numLayers(); l++) {
            for (int i = 0; i < modules.size(); i++) {
                int in = modules.get(i).inFeatures(base);
                int out = modules.get(i).outFeatures(base);
                float[] a = RandomWeights.gaussian(random, (long) rank * in, 1.0 / Math.sqrt(in));
                float[] b = RandomWeights.gaussian(random, (long) out * rank, 0.5 / Math.sqrt(rank));
                weights[l][i] = new LoraWeights(rank, in, out, scale, a, b);
            }
        }
        List<String> targets = modules.stream().map(PeftModule::shortName).toList();
        AdapterConfig cfg = new AdapterConfig(rank, alpha, 0.0, rslora, targets, null, java.util.Map.of(),
                java.util.Map.of(), List.of(), null, null);
        writeModules(dir, cfg.toJson(null, targets), modules, weights, dtype);
    }

    /** A fused module's LoRA made of its parts' LoRAs, with the rank and alpha PEFT must be told. */
    public record Fused(LoraWeights weights, int rank, double alpha) {
    }

    /**
     * The exact fused equivalent of per-part LoRAs (absent parts are zero): {@code A} the parts' A
     * stacked (ΣR, in), {@code B} block-diagonal (Σout, ΣR) with each part's B in its rows and its
     * rank's columns, rescaled so one scale serves all; alpha = scale·ΣR (·√ΣR with rsLoRA), so
     * PEFT's {@code alpha/r} gives that scale back. Splitting it at load (B by rows, A shared)
     * returns each part's delta: the zero blocks drop the other parts' ranks.
     *
     * @param parts (module.parts()) each part's LoRA, or null where not adapted; at least one non-null
     */
    public static Fused fuse(ModelConfig base, PeftModule module, LoraWeights[] parts, boolean rslora) {
        int in = module.inFeatures(base);
        int outTotal = module.outFeatures(base);
        int rank = 0;
        float scale = 0;
        for (LoraWeights p : parts) {
            if (p != null) {
                scale = scale == 0 ? p.scale() : scale;
                rank += p.rank();
            }
        }
        if (rank == 0) {
            throw new IllegalArgumentException("fuse needs at least one adapted part of " + module.shortName());
        }
        float[] a = new float[rank * in];     // (ΣR, in)
        float[] b = new float[outTotal * rank]; // (Σout, ΣR)
        int r0 = 0;
        for (int i = 0; i < parts.length; i++) {
            LoraWeights p = parts[i];
            if (p == null) {
                continue;
            }
            System.arraycopy(p.a(), 0, a, r0 * in, p.rank() * in);
            int row0 = module.rowOffset(base, module.parts().get(i));
            float rescale = p.scale() / scale;
            for (int o = 0; o < p.out(); o++) {
                for (int r = 0; r < p.rank(); r++) {
                    b[(row0 + o) * rank + r0 + r] = p.b()[o * p.rank() + r] * rescale;
                }
            }
            r0 += p.rank();
        }
        double alpha = rslora ? scale * Math.sqrt(rank) : (double) scale * rank;
        return new Fused(new LoraWeights(rank, in, outTotal, scale, a, b), rank, alpha);
    }

    /**
     * A random adapter of rank {@code rank} on {@code modules} of every layer, B non-zero so it
     * changes the output (a trained adapter, not a fresh one), deterministic by seed.
     */
    public static void writeRandom(Path dir, ModelConfig base, Set<TargetModule> modules, int rank, double alpha,
            boolean rslora, DType dtype, long seed) throws IOException {
        if (base.architecture() == io.loraplex.engine.model.Architecture.PHI3) {
            // its checkpoint has fused modules: adapt each that holds one of the asked projections
            writeRandomModules(dir, base, PeftModule.of(base.architecture()).stream()
                    .filter(m -> m.parts().stream().anyMatch(modules::contains)).toList(), rank, alpha, rslora, dtype, seed);
            return;
        }
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
