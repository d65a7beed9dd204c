package io.loraplex.engine.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.lora.AdapterConfig;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.LoraWeights;
import io.loraplex.engine.lora.PeftModule;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelIdentity;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * A trained adapter: its weights, the options it was trained with, the run's record and the base
 * it was trained on. {@link #adapter} serves it from memory; {@link #write} makes the PEFT
 * directory (with {@code training.json} beside it).
 *
 * <p>Training runs on the engine's seven projections; a base whose checkpoint fuses some (Phi-3's
 * qkv_proj, gate_up_proj) gets its adapter written on the fused modules, as PEFT would train it:
 * each fused LoRA is the exact block-diagonal fusion of its parts' ({@link AdapterWriter#fuse}),
 * its rank and alpha in rank_pattern / alpha_pattern, so the engine reads back the same deltas.
 */
public final class TrainedAdapter {

    public static final String TRAINING_FILE = "training.json";

    private final TrainingOptions options;
    private final LoraWeights[][] weights; // (L, TargetModule.COUNT), null where not adapted
    private final TrainingStats stats;
    private final String baseModel;
    private final ModelIdentity baseIdentity;
    private final AdapterConfig config;
    private final ModelConfig base;

    TrainedAdapter(TrainingOptions options, LoraWeights[][] weights, TrainingStats stats, String baseModel,
            ModelIdentity baseIdentity, ModelConfig base) {
        this.options = options;
        this.weights = weights;
        this.stats = stats;
        this.baseModel = baseModel;
        this.baseIdentity = baseIdentity;
        this.base = base;
        this.config = new AdapterConfig(options.rank(), options.alpha(), options.dropout(), options.rslora(),
                peftTargets().stream().map(PeftModule::shortName).toList(), null, Map.of(), Map.of(), List.of(), baseModel,
                null);
    }

    /** (L, TargetModule.COUNT) the trained weights, null where not adapted (for tests). */
    LoraWeights[][] weights() {
        return weights;
    }

    /** The checkpoint's modules that hold a trained projection, in layer order. */
    private List<PeftModule> peftTargets() {
        return PeftModule.of(base.architecture()).stream()
                .filter(m -> m.parts().stream().anyMatch(options.targets()::contains)).toList();
    }

    private boolean fusedLayout() {
        return base.architecture() == Architecture.PHI3;
    }

    /** (L, peftTargets) the weights as the checkpoint's modules: fused ones fused, others as trained. */
    private LoraWeights[][] peftWeights() {
        List<PeftModule> modules = peftTargets();
        LoraWeights[][] out = new LoraWeights[weights.length][modules.size()];
        for (int l = 0; l < weights.length; l++) {
            for (int i = 0; i < modules.size(); i++) {
                PeftModule m = modules.get(i);
                LoraWeights[] parts = new LoraWeights[m.parts().size()];
                for (int p = 0; p < parts.length; p++) {
                    parts[p] = weights[l][m.parts().get(p).ordinal()];
                }
                out[l][i] = m.fused() ? AdapterWriter.fuse(base, m, parts, options.rslora()).weights() : parts[0];
            }
        }
        return out;
    }

    public TrainingOptions options() {
        return options;
    }

    public TrainingStats stats() {
        return stats;
    }

    public ModelIdentity baseIdentity() {
        return baseIdentity;
    }

    /** The adapter_config.json contents. */
    public ObjectNode adapterConfigJson() {
        if (!fusedLayout()) {
            return config.toJson(baseModel, options.targetNames());
        }
        List<PeftModule> modules = peftTargets();
        ObjectNode o = config.toJson(baseModel, modules.stream().map(PeftModule::shortName).toList());
        for (PeftModule m : modules) {
            long parts = m.parts().stream().filter(options.targets()::contains).count();
            if (m.fused() && parts > 0) {
                // the fused LoRA stacks its parts' ranks; alpha keeps PEFT's scale equal to the parts'
                int rank = (int) parts * options.rank();
                ((ObjectNode) o.get("rank_pattern")).put(m.shortName(), rank);
                ((ObjectNode) o.get("alpha_pattern")).put(m.shortName(),
                        options.rslora() ? options.scale() * Math.sqrt(rank) : options.scale() * rank);
            }
        }
        return o;
    }

    /**
     * The adapter in memory, named {@code name}. Its content hash is over the config and the float
     * weights in memory, so it differs from the hash of the written files.
     */
    public LoraAdapter adapter(String name) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(adapterConfigJson().toString().getBytes(StandardCharsets.UTF_8));
            ByteBuffer buf = ByteBuffer.allocate(4);
            for (LoraWeights[] layer : weights) {
                for (LoraWeights w : layer) {
                    if (w != null) {
                        for (float[] values : new float[][] {w.a(), w.b()}) {
                            for (float v : values) {
                                d.update(buf.clear().putFloat(v).array());
                            }
                        }
                    }
                }
            }
            return new LoraAdapter(name, new ContentHash(HexFormat.of().formatHex(d.digest())), config, weights);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Writes the PEFT directory: adapter_config.json, adapter_model.safetensors (f32) and
     * training.json (data hash, options, losses, base identity). Returns the content hash of the
     * adapter files.
     *
     * @param dataSha256 hex SHA-256 of the dataset file's bytes
     */
    public ContentHash write(Path dir, String dataSha256) throws IOException {
        if (fusedLayout()) {
            AdapterWriter.writeModules(dir, adapterConfigJson(), peftTargets(), peftWeights(), DType.F32);
        } else {
            AdapterWriter.write(dir, adapterConfigJson(), weights, DType.F32);
        }
        ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        ObjectNode t = json.createObjectNode();
        t.put("data_sha256", dataSha256);
        t.put("base_model", baseModel);
        ObjectNode base = t.putObject("base_identity");
        base.put("weights", baseIdentity.weights());
        base.put("tokenizer", baseIdentity.tokenizer());
        t.set("options", options.toJson());
        t.put("train_examples", stats.trainExamples());
        t.put("val_examples", stats.valExamples());
        ArrayNode steps = t.putArray("step_losses");
        stats.stepLosses().forEach(steps::add);
        ArrayNode epochs = t.putArray("epochs");
        for (ProgressListener.Epoch e : stats.epochs()) {
            ObjectNode o = epochs.addObject();
            o.put("epoch", e.epoch());
            o.put("train_loss", e.trainLoss());
            putLoss(o, "val_loss", e.valLoss());
            o.put("stopped_early", e.stoppedEarly());
        }
        t.put("final_train_loss", stats.finalTrainLoss());
        putLoss(t, "final_val_loss", stats.finalValLoss());
        putLoss(t, "base_val_loss", stats.baseValLoss());
        t.put("tokens", stats.tokens());
        t.put("seconds", stats.seconds());
        Files.writeString(dir.resolve(TRAINING_FILE), json.writeValueAsString(t));
        return ContentHash.ofDirectory(dir);
    }

    private static void putLoss(ObjectNode o, String field, double loss) {
        if (Double.isNaN(loss)) {
            o.putNull(field);
        } else {
            o.put(field, loss);
        }
    }

    /** Hex SHA-256 of a file's bytes (the dataset's hash in training.json). */
    public static String sha256(Path file) throws IOException {
        return HexFormat.of().formatHex(ContentHash.digestFile(file));
    }
}
