package io.loraplex.engine.lora;

import static io.loraplex.engine.lora.AdapterException.Reason.ARCHITECTURE_MISMATCH;
import static io.loraplex.engine.lora.AdapterException.Reason.MALFORMED;
import static io.loraplex.engine.lora.AdapterException.Reason.MISSING_FILE;
import static io.loraplex.engine.lora.AdapterException.Reason.NON_FINITE;
import static io.loraplex.engine.lora.AdapterException.Reason.NOT_FOUND;
import static io.loraplex.engine.lora.AdapterException.Reason.OUT_OF_BOUNDS;
import static io.loraplex.engine.lora.AdapterException.Reason.PICKLE;
import static io.loraplex.engine.lora.AdapterException.Reason.RANK_TOO_LARGE;
import static io.loraplex.engine.lora.AdapterException.Reason.SHAPE_MISMATCH;
import static io.loraplex.engine.lora.AdapterException.Reason.TRUNCATED;
import static io.loraplex.engine.lora.AdapterException.Reason.UNKNOWN_TARGET;
import static io.loraplex.engine.lora.AdapterException.Reason.UNSUPPORTED;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.SafetensorsFile;
import io.loraplex.engine.model.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Loads a PEFT LoRA adapter directory and checks it against the base model's config, refusing
 * anything it cannot apply exactly with an {@link AdapterException} naming file, tensor and reason.
 */
public final class AdapterLoader {

    /**
     * {@code base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight} (PEFT saves without the adapter name);
     * an adapter of a multimodal Gemma 3 names its language model's layers under
     * {@code language_model.model.} or {@code model.language_model.} instead (named groups, as the
     * engine's weights are found).
     */
    private static final Pattern LORA_TENSOR = Pattern.compile(
            "base_model\\.model\\.(?<decoder>model\\.|language_model\\.model\\.|model\\.language_model\\.)layers\\.(?<layer>\\d+)"
                    + "\\.(?<block>\\w+)\\.(?<proj>\\w+)\\.lora_(?<ab>[AB])(?:\\.default)?\\.weight");
    /** Module paths of other architectures, which say the adapter was trained for another base. */
    private static final Pattern FOREIGN_ARCHITECTURE = Pattern.compile(
            ".*(\\.transformer\\.h\\.|\\.gpt_neox\\.|\\.c_attn\\.|\\.c_proj\\.|\\.c_fc\\.|query_key_value|\\.qkv_proj\\.|"
                    + "\\.gate_up_proj\\.|\\.Wqkv\\.|\\.dense_h_to_4h\\.|\\.fc1\\.|\\.fc2\\.|\\.out_proj\\.).*");

    /** A key given twice is refused: parsers disagree on which value wins. */
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(com.fasterxml.jackson.core.JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    private final ModelConfig base;
    private final int maxRank;
    private final AdapterBounds bounds;

    /** A loader with the engine's default {@link AdapterBounds}. */
    public AdapterLoader(ModelConfig base, int maxRank) {
        this(base, maxRank, AdapterBounds.DEFAULTS);
    }

    /**
     * @param base    the config of the base model the adapter must fit
     * @param maxRank the largest rank the engine accepts
     * @param bounds  how large alpha, weights and gain may be
     */
    public AdapterLoader(ModelConfig base, int maxRank, AdapterBounds bounds) {
        this.base = base;
        this.maxRank = maxRank;
        this.bounds = java.util.Objects.requireNonNull(bounds, "bounds");
    }

    public int maxRank() {
        return maxRank;
    }

    /** Loads {@code dir}, named {@code name} in logs and errors. */
    public LoraAdapter load(String name, Path dir) throws AdapterException {
        if (!Files.isDirectory(dir)) {
            throw new AdapterException(NOT_FOUND, dir + ": adapter directory not found");
        }
        Path configFile = dir.resolve(ContentHash.CONFIG_FILE);
        Path weightsFile = dir.resolve(ContentHash.WEIGHTS_FILE);
        if (!Files.exists(weightsFile)) {
            if (Files.exists(dir.resolve("adapter_model.bin"))) {
                throw new AdapterException(PICKLE, dir.resolve("adapter_model.bin")
                        + ": pickled weights are refused (loading a pickle can run code); convert the adapter to "
                        + ContentHash.WEIGHTS_FILE);
            }
            throw new AdapterException(MISSING_FILE, weightsFile + ": missing (a PEFT adapter needs "
                    + ContentHash.CONFIG_FILE + " and " + ContentHash.WEIGHTS_FILE + ")");
        }
        if (!Files.exists(configFile)) {
            throw new AdapterException(MISSING_FILE, configFile + ": missing (a PEFT adapter needs "
                    + ContentHash.CONFIG_FILE + " and " + ContentHash.WEIGHTS_FILE + ")");
        }
        byte[] configBytes;
        try {
            configBytes = Files.readAllBytes(configFile);
        } catch (IOException e) {
            throw new AdapterException(MISSING_FILE, configFile + ": cannot read: " + e.getMessage(), e);
        }
        JsonNode configJson;
        try {
            configJson = JSON.readTree(new String(configBytes, StandardCharsets.UTF_8));
        } catch (IOException e) {
            String why = e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
            throw new AdapterException(MALFORMED, configFile + ": malformed JSON: " + why, e);
        }
        AdapterConfig config = AdapterConfig.parse(configJson, configFile.toString());
        checkBounds(config, configFile);
        checkBaseClass(config, configFile);
        checkTargets(config, configFile);

        ContentHash hash;
        try {
            hash = ContentHash.ofDirectory(dir);
        } catch (IOException e) {
            throw new AdapterException(MISSING_FILE, dir + ": cannot hash adapter files: " + e.getMessage(), e);
        }
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile file;
            try {
                file = SafetensorsFile.open(weightsFile, arena);
            } catch (IOException e) {
                String msg = e.getMessage();
                throw new AdapterException(msg != null && msg.contains("truncated") ? TRUNCATED : MALFORMED, msg, e);
            }
            return new LoraAdapter(name, hash, config, readWeights(config, file, weightsFile));
        }
    }

    /** Rank and alpha against the engine's limits, before a byte of the weights is read. */
    private void checkBounds(AdapterConfig config, Path configFile) throws AdapterException {
        if (config.r() > maxRank) {
            throw new AdapterException(RANK_TOO_LARGE, configFile + ": 'r' (rank " + config.r()
                    + ") is above the engine's limit of " + maxRank);
        }
        for (var e : config.rankPattern().entrySet()) {
            if (e.getValue() > maxRank) {
                throw new AdapterException(RANK_TOO_LARGE, configFile + ": rank_pattern['" + e.getKey() + "'] (rank "
                        + e.getValue() + ") is above the engine's limit of " + maxRank);
            }
        }
        if (config.loraAlpha() > bounds.maxAlpha()) {
            throw new AdapterException(OUT_OF_BOUNDS, configFile + ": 'lora_alpha' is " + config.loraAlpha()
                    + ", above the engine's limit of " + bounds.maxAlpha());
        }
        for (var e : config.alphaPattern().entrySet()) {
            if (e.getValue() > bounds.maxAlpha()) {
                throw new AdapterException(OUT_OF_BOUNDS, configFile + ": alpha_pattern['" + e.getKey() + "'] is "
                        + e.getValue() + ", above the engine's limit of " + bounds.maxAlpha());
            }
        }
    }

    private void checkBaseClass(AdapterConfig config, Path configFile) throws AdapterException {
        String baseClass = config.baseModelClass();
        if (baseClass != null && !baseClass.equals(base.architecture().hfClass())) {
            throw new AdapterException(ARCHITECTURE_MISMATCH, configFile + ": auto_mapping.base_model_class is '"
                    + baseClass + "' but the base model is " + base.architecture().hfClass());
        }
    }

    /** Every target must name something this base has (PEFT itself fails on a target it cannot find). */
    private void checkTargets(AdapterConfig config, Path configFile) throws AdapterException {
        List<PeftModule> modules = PeftModule.of(base.architecture());
        Set<String> known = new LinkedHashSet<>();
        for (PeftModule m : modules) {
            known.add(m.shortName());
        }
        if (config.targetList() != null) {
            for (String target : config.targetList()) {
                boolean found = false;
                for (int l = 0; l < base.numLayers() && !found; l++) {
                    for (PeftModule m : modules) {
                        String module = m.moduleName(l);
                        if (module.equals(target) || module.endsWith("." + target)) {
                            found = true;
                            break;
                        }
                    }
                }
                if (!found) {
                    String why = target.equals("embed_tokens") || target.equals("lm_head")
                            ? " (adapting " + target + " is not supported)"
                            : " (" + base.architecture().hfClass() + " has " + String.join(", ", known) + ")";
                    throw new AdapterException(UNKNOWN_TARGET, configFile + ": target_modules names unknown module '"
                            + target + "'" + why);
                }
            }
        } else if (!config.targetRegex().equals(AdapterConfig.ALL_LINEAR)) {
            boolean any = false;
            for (int l = 0; l < base.numLayers() && !any; l++) {
                for (PeftModule m : modules) {
                    any |= config.targets(m.moduleName(l), l);
                }
            }
            if (!any) {
                throw new AdapterException(UNKNOWN_TARGET, configFile + ": target_modules regex '" + config.targetRegex()
                        + "' matches no module of " + base.architecture().hfClass());
            }
        }
        for (int layer : config.layersToTransform()) {
            if (layer < 0 || layer >= base.numLayers()) {
                throw new AdapterException(ARCHITECTURE_MISMATCH, configFile + ": layers_to_transform names layer "
                        + layer + " but the base has " + base.numLayers() + " layers");
            }
        }
    }

    private LoraWeights[][] readWeights(AdapterConfig config, SafetensorsFile file, Path weightsFile)
            throws AdapterException {
        int layers = base.numLayers();
        List<PeftModule> modules = PeftModule.of(base.architecture());
        Tensor[][] a = new Tensor[layers][modules.size()];
        Tensor[][] b = new Tensor[layers][modules.size()];
        for (String tensorName : new TreeSet<>(file.tensors().keySet())) {
            String where = weightsFile + ": tensor '" + tensorName + "'";
            Matcher m = LORA_TENSOR.matcher(tensorName);
            if (!m.matches()) {
                throw refusalForUnexpected(tensorName, where);
            }
            if (!m.group("decoder").equals("model.") && base.architecture() != Architecture.GEMMA3) {
                throw new AdapterException(ARCHITECTURE_MISMATCH, where + " names a multimodal model's language model; the base is "
                        + base.architecture().hfClass());
            }
            int layer = Integer.parseInt(m.group("layer"));
            PeftModule module = PeftModule.find(base.architecture(), m.group("block"), m.group("proj"));
            if (module == null) {
                throw new AdapterException(ARCHITECTURE_MISMATCH, where + " names module '" + m.group("block") + "."
                        + m.group("proj") + "', which " + base.architecture().hfClass() + " does not have");
            }
            if (layer >= layers) {
                throw new AdapterException(ARCHITECTURE_MISMATCH, where + " is for layer " + layer
                        + " but the base has " + layers + " layers");
            }
            if (!config.targets(module.moduleName(layer), layer)) {
                throw new AdapterException(UNKNOWN_TARGET, where + " adapts " + module.moduleName(layer)
                        + ", which adapter_config.json's target_modules does not include");
            }
            Tensor t = file.tensor(tensorName);
            Tensor[][] slot = m.group("ab").equals("A") ? a : b;
            if (slot[layer][modules.indexOf(module)] != null) {
                throw new AdapterException(MALFORMED, where + " gives lora_" + m.group("ab") + " of " + module.moduleName(layer)
                        + " a second time (under another prefix)");
            }
            slot[layer][modules.indexOf(module)] = t;
        }

        LoraWeights[][] out = new LoraWeights[layers][TargetModule.COUNT];
        int adapted = 0;
        for (int l = 0; l < layers; l++) {
            for (int mi = 0; mi < modules.size(); mi++) {
                PeftModule module = modules.get(mi);
                String moduleName = module.moduleName(l);
                Tensor ta = a[l][mi];
                Tensor tb = b[l][mi];
                if (ta == null && tb == null) {
                    if (config.targets(moduleName, l)) {
                        throw new AdapterException(MALFORMED, weightsFile + ": adapter_config.json targets "
                                + moduleName + " but the file has no lora_A/lora_B tensors for it");
                    }
                    continue;
                }
                String prefix = "base_model.model." + moduleName;
                if (ta == null || tb == null) {
                    throw new AdapterException(MALFORMED, weightsFile + ": " + prefix + " has lora_"
                            + (ta == null ? "B" : "A") + " but no lora_" + (ta == null ? "A" : "B"));
                }
                LoraWeights fusedOrSingle = toWeights(config, module, moduleName, prefix, ta, tb, weightsFile);
                for (TargetModule part : module.parts()) {
                    out[l][part.ordinal()] = module.fused() ? split(fusedOrSingle, module, part) : fusedOrSingle;
                }
                adapted++;
            }
        }
        if (adapted == 0) {
            throw new AdapterException(MALFORMED, weightsFile + ": no LoRA tensors");
        }
        return out;
    }

    /** One part of a fused module's LoRA: B's rows of that part, A shared (copied, so parts stay independent). */
    private LoraWeights split(LoraWeights fused, PeftModule module, TargetModule part) {
        int rank = fused.rank();
        int rows = part.outFeatures(base);
        int first = module.rowOffset(base, part);
        float[] b = java.util.Arrays.copyOfRange(fused.b(), first * rank, (first + rows) * rank);
        return new LoraWeights(rank, fused.in(), rows, fused.scale(), fused.a().clone(), b);
    }

    private LoraWeights toWeights(AdapterConfig config, PeftModule module, String moduleName, String prefix,
            Tensor ta, Tensor tb, Path weightsFile) throws AdapterException {
        int in = module.inFeatures(base);
        int outDim = module.outFeatures(base);
        int rank = config.rankFor(moduleName);
        String whereA = weightsFile + ": tensor '" + prefix + ".lora_A.weight'";
        String whereB = weightsFile + ": tensor '" + prefix + ".lora_B.weight'";
        if (ta.rank() != 2 || ta.dim(1) != in) {
            throw new AdapterException(SHAPE_MISMATCH, whereA + " has shape " + ta.shapeString() + " but the base's "
                    + module.shortName() + " takes " + in + " inputs: expected [" + rank + ", " + in + "]");
        }
        if (tb.rank() != 2 || tb.dim(0) != outDim) {
            throw new AdapterException(SHAPE_MISMATCH, whereB + " has shape " + tb.shapeString() + " but the base's "
                    + module.shortName() + " has " + outDim + " outputs: expected [" + outDim + ", " + rank + "]");
        }
        if (ta.dim(0) != rank || tb.dim(1) != rank) {
            throw new AdapterException(SHAPE_MISMATCH, whereA + " and lora_B have rank " + ta.dim(0) + "/" + tb.dim(1)
                    + " but adapter_config.json gives rank " + rank + " for " + moduleName);
        }
        if (rank > maxRank) {
            throw new AdapterException(RANK_TOO_LARGE, whereA + ": rank " + rank + " is above the engine's limit of "
                    + maxRank);
        }
        float[] av = ta.toFloatArray();
        float[] bv = tb.toFloatArray();
        double normA = checkedNorm(av, whereA);
        double normB = checkedNorm(bv, whereB);
        float scale = config.scaleFor(moduleName);
        double gain = scale * normB * normA;
        if (!(gain <= bounds.maxGain())) {
            throw new AdapterException(OUT_OF_BOUNDS, whereB + ": scale·‖B‖·‖A‖ of " + moduleName + " is " + gain
                    + " (scale " + scale + ", ‖lora_B‖_F " + normB + ", ‖lora_A‖_F " + normA
                    + "), above the engine's limit of " + bounds.maxGain());
        }
        return new LoraWeights(rank, in, outDim, scale, av, bv);
    }

    /**
     * Refuses a non-finite element or one above the weight bound, and returns the tensor's
     * Frobenius norm (accumulated in double: f32 elements of up to 1e3 cannot overflow it).
     */
    private double checkedNorm(float[] values, String where) throws AdapterException {
        double sumSquares = 0;
        for (int i = 0; i < values.length; i++) {
            float v = values[i];
            if (!Float.isFinite(v)) {
                throw new AdapterException(NON_FINITE, where + " has " + (Float.isNaN(v) ? "NaN" : "Inf")
                        + " at element " + i);
            }
            if (Math.abs(v) > bounds.maxWeight()) {
                throw new AdapterException(OUT_OF_BOUNDS, where + " has " + v + " at element " + i
                        + ", beyond the engine's limit of ±" + bounds.maxWeight());
            }
            sumSquares += (double) v * v;
        }
        return Math.sqrt(sumSquares);
    }

    private AdapterException refusalForUnexpected(String tensorName, String where) {
        if (tensorName.contains("lora_magnitude_vector")) {
            return new AdapterException(UNSUPPORTED, where + " is a DoRA magnitude vector; DoRA adapters are not supported");
        }
        if (tensorName.contains("lora_embedding_")) {
            return new AdapterException(UNSUPPORTED, where + " adapts an embedding; only linear projections are supported");
        }
        if (FOREIGN_ARCHITECTURE.matcher("." + tensorName).matches()) {
            return new AdapterException(ARCHITECTURE_MISMATCH, where + " names a module of another architecture; the base is "
                    + base.architecture().hfClass());
        }
        if (!tensorName.contains("lora_")) {
            return new AdapterException(UNSUPPORTED, where + " is a full module weight (modules_to_save); not supported");
        }
        return new AdapterException(ARCHITECTURE_MISMATCH, where + " is not a LoRA tensor of "
                + base.architecture().hfClass() + " (expected base_model.model.model.layers.N.<self_attn|mlp>.<proj>.lora_<A|B>.weight)");
    }

    /** The tensor names a PEFT adapter of these modules has, for writers and tests. */
    public static List<String> tensorNames(int layer, TargetModule module) {
        String prefix = "base_model.model." + module.moduleName(layer);
        List<String> names = new ArrayList<>();
        names.add(prefix + ".lora_A.weight");
        names.add(prefix + ".lora_B.weight");
        return names;
    }
}
