package io.loraplex.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The parts of a Hugging Face {@code config.json} the engine uses, for Llama, Mistral, Qwen2 and Qwen3.
 *
 * @param qkvBias      q/k/v projections carry a bias (Qwen2 always; Llama with {@code attention_bias})
 * @param oBias        o projection carries a bias (Llama with {@code attention_bias})
 * @param mlpBias      gate/up/down carry a bias (Llama with {@code mlp_bias})
 * @param slidingWindow keys further back than this are not attended to, in the layers of
 *                      {@code slidingLayers}; 0 means no window
 * @param slidingLayers the layers that use the window (Mistral: all; Qwen2: per {@code layer_types},
 *                      else those from {@code max_window_layers} on)
 * @param partialRotaryFactor the share of each head's dimensions that RoPE rotates (Phi-3's
 *                      {@code partial_rotary_factor}, 0.75 in Phi-4-mini); 1 elsewhere
 * @param gemma         Gemma 2 and 3's additions (scaling, soft-capping, the local RoPE base); null
 *                      for every other architecture
 */
public record ModelConfig(
        Architecture architecture,
        int hiddenSize,           // C
        int intermediateSize,     // I
        int numLayers,            // L
        int numHeads,             // NH
        int numKvHeads,           // NKV
        int headDim,              // HS
        int vocabSize,            // V
        double rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,  // null: plain RoPE
        int maxPositionEmbeddings,
        boolean tieWordEmbeddings,
        boolean qkvBias,
        boolean oBias,
        boolean mlpBias,
        int slidingWindow,
        java.util.Set<Integer> slidingLayers,
        DType torchDtype,
        Integer bosTokenId,
        List<Integer> eosTokenIds,
        double partialRotaryFactor,
        GemmaFeatures gemma) {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A config of an architecture other than Gemma's. */
    public ModelConfig(Architecture architecture, int hiddenSize, int intermediateSize, int numLayers, int numHeads,
            int numKvHeads, int headDim, int vocabSize, double rmsNormEps, double ropeTheta, RopeScaling ropeScaling,
            int maxPositionEmbeddings, boolean tieWordEmbeddings, boolean qkvBias, boolean oBias, boolean mlpBias,
            int slidingWindow, java.util.Set<Integer> slidingLayers, DType torchDtype, Integer bosTokenId,
            List<Integer> eosTokenIds, double partialRotaryFactor) {
        this(architecture, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, vocabSize, rmsNormEps,
                ropeTheta, ropeScaling, maxPositionEmbeddings, tieWordEmbeddings, qkvBias, oBias, mlpBias, slidingWindow,
                slidingLayers, torchDtype, bosTokenId, eosTokenIds, partialRotaryFactor, null);
    }

    /** A config whose RoPE rotates whole heads (every architecture but Phi-3's partial rotary). */
    public ModelConfig(Architecture architecture, int hiddenSize, int intermediateSize, int numLayers, int numHeads,
            int numKvHeads, int headDim, int vocabSize, double rmsNormEps, double ropeTheta, RopeScaling ropeScaling,
            int maxPositionEmbeddings, boolean tieWordEmbeddings, boolean qkvBias, boolean oBias, boolean mlpBias,
            int slidingWindow, java.util.Set<Integer> slidingLayers, DType torchDtype, Integer bosTokenId,
            List<Integer> eosTokenIds) {
        this(architecture, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, vocabSize, rmsNormEps,
                ropeTheta, ropeScaling, maxPositionEmbeddings, tieWordEmbeddings, qkvBias, oBias, mlpBias, slidingWindow,
                slidingLayers, torchDtype, bosTokenId, eosTokenIds, 1.0, null);
    }

    public ModelConfig {
        requirePositive("hidden_size", hiddenSize);
        requirePositive("intermediate_size", intermediateSize);
        requirePositive("num_hidden_layers", numLayers);
        requirePositive("num_attention_heads", numHeads);
        requirePositive("num_key_value_heads", numKvHeads);
        requirePositive("head_dim", headDim);
        requirePositive("vocab_size", vocabSize);
        if (numHeads % numKvHeads != 0) {
            throw new IllegalArgumentException("num_attention_heads (" + numHeads
                    + ") must be a multiple of num_key_value_heads (" + numKvHeads + ")");
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("head_dim must be even for RoPE, got " + headDim);
        }
        if (!(rmsNormEps > 0)) {
            throw new IllegalArgumentException("rms_norm_eps must be > 0, got " + rmsNormEps);
        }
        if (!(ropeTheta > 0)) {
            throw new IllegalArgumentException("rope_theta must be > 0, got " + ropeTheta);
        }
        eosTokenIds = List.copyOf(eosTokenIds);
        if ((gemma != null) != architecture.gemma()) {
            throw new IllegalArgumentException(architecture.hfClass() + (architecture.gemma()
                    ? " needs Gemma's settings (query_pre_attn_scalar, soft-capping)" : " takes no Gemma settings"));
        }
        slidingLayers = java.util.Set.copyOf(slidingLayers);
        int rotary = (int) (headDim * partialRotaryFactor);
        if (!(partialRotaryFactor > 0 && partialRotaryFactor <= 1) || rotary < 2 || rotary % 2 != 0) {
            throw new IllegalArgumentException("partial_rotary_factor must be in (0, 1] and give an even rotary dimension, got "
                    + partialRotaryFactor + " (head_dim " + headDim + " -> " + rotary + ")");
        }
        if (ropeScaling != null && ropeScaling.type() == RopeScaling.Type.LONGROPE
                && ropeScaling.shortFactor().size() != rotary / 2) {
            throw new IllegalArgumentException("rope_scaling.short_factor and long_factor must have rotary_dim/2 = "
                    + rotary / 2 + " values, got " + ropeScaling.shortFactor().size());
        }
    }

    /** The dimensions of each head that RoPE rotates (the first ones): HS · partial_rotary_factor. */
    public int rotaryDim() {
        return (int) (headDim * partialRotaryFactor);
    }

    /** The attention window of a layer, 0 for full attention. */
    public int windowFor(int layer) {
        return slidingWindow > 0 && slidingLayers.contains(layer) ? slidingWindow : 0;
    }

    private static void requirePositive(String field, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(field + " must be > 0, got " + value);
        }
    }

    /** Each head of q and k is RMS-normed over HS before RoPE (Qwen3's {@code q_norm}, {@code k_norm}). */
    public boolean qkNorm() {
        return architecture.qkNorm();
    }

    /**
     * Gemma's RMSNorm {@code x/rms(x) · (1 + w)}: its weights are stored zero-centred. The backends
     * and the trainer multiply by {@code 1 + w} (computed in f32, as HF does) wherever this holds.
     */
    public boolean normAddsOne() {
        return architecture.gemma();
    }

    /**
     * Gemma's post-norms: {@code post_attention_layernorm} on the attention output and
     * {@code post_feedforward_layernorm} on the MLP output, each before its residual add (the MLP's
     * pre-norm is then {@code pre_feedforward_layernorm}).
     */
    public boolean postNorms() {
        return architecture.gemma();
    }

    /** The MLP's gate is {@code gelu_tanh(gate)·up} (GeGLU, Gemma) rather than {@code silu(gate)·up}. */
    public boolean gelu() {
        return architecture.gemma();
    }

    /** The attention scores' scale: {@code query_pre_attn_scalar^-0.5} for Gemma, {@code HS^-0.5} elsewhere. */
    public float attentionScale() {
        return (float) (1.0 / Math.sqrt(gemma != null ? gemma.queryPreAttnScalar() : headDim));
    }

    /** The attention logit soft-cap, or 0 for none. */
    public float attnLogitSoftcap() {
        return gemma != null && gemma.attnLogitSoftcap() != null ? (float) (double) gemma.attnLogitSoftcap() : 0f;
    }

    /** The final logit soft-cap, or 0 for none. */
    public float finalLogitSoftcap() {
        return gemma != null && gemma.finalLogitSoftcap() != null ? (float) (double) gemma.finalLogitSoftcap() : 0f;
    }

    /**
     * Gemma's embedding multiplier √C, rounded to the checkpoint's dtype as HF's
     * {@code torch.tensor(hidden_size**0.5, dtype=hidden_states.dtype)} is when the model runs in it
     * (bf16: 2048 hidden gives 45.25, not 45.2548); 1 for every other architecture.
     */
    public float embeddingScale() {
        if (!architecture.gemma()) {
            return 1f;
        }
        float scale = (float) Math.sqrt(hiddenSize);
        return switch (torchDtype) {
            case F32 -> scale;
            case BF16 -> DType.bf16ToFloat(DType.floatToBf16(scale));
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(scale));
            case Q8_0, Q4_0 -> throw new IllegalStateException("torch_dtype is never " + torchDtype);
        };
    }

    /**
     * Whether {@code layer} rotates by the local RoPE (Gemma 3's sliding layers: base
     * {@code rope_local_base_freq}, no scaling) rather than the global one.
     */
    public boolean localRope(int layer) {
        return gemma != null && gemma.localRopeTheta() != null && slidingLayers.contains(layer);
    }

    /** This config with Gemma 3's local RoPE as its only RoPE: what a sliding layer's {@link Rope} is built from. */
    public ModelConfig localRopeConfig() {
        if (gemma == null || gemma.localRopeTheta() == null) {
            throw new IllegalStateException(architecture.hfClass() + " has no local RoPE");
        }
        return new ModelConfig(architecture, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim, vocabSize,
                rmsNormEps, gemma.localRopeTheta(), null, maxPositionEmbeddings, tieWordEmbeddings, qkvBias, oBias, mlpBias,
                slidingWindow, slidingLayers, torchDtype, bosTokenId, eosTokenIds, partialRotaryFactor, gemma);
    }

    /** NH · HS: the width of q and of the attention output. */
    public int qDim() {
        return numHeads * headDim;
    }

    /** NKV · HS: the width of k and v. */
    public int kvDim() {
        return numKvHeads * headDim;
    }

    /** Approximate parameter count, for reports. */
    public long parameterCount() {
        long c = hiddenSize;
        long perLayer = c * qDim() + 2 * c * kvDim() + (long) qDim() * c + 3 * c * intermediateSize + (postNorms() ? 4 : 2) * c
                + (qkNorm() ? 2L * headDim : 0);
        long embed = (long) vocabSize * c;
        return numLayers * perLayer + embed + (tieWordEmbeddings ? 0 : embed) + c;
    }

    /** Reads {@code dir/config.json}. */
    public static ModelConfig load(Path dir) throws IOException {
        Path file = dir.resolve("config.json");
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new IOException(file + ": missing (a Hugging Face model directory needs config.json)", e);
        } catch (IOException e) {
            throw new IOException(file + ": malformed JSON: " + e.getMessage(), e);
        }
        try {
            return parse(root);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    static ModelConfig parse(JsonNode root) {
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("not a JSON object");
        }
        JsonNode archs = root.get("architectures");
        if (archs == null || !archs.isArray() || archs.isEmpty()) {
            throw new IllegalArgumentException("missing 'architectures' (e.g. [\"LlamaForCausalLM\"])");
        }
        Architecture arch = Architecture.fromHfClass(archs.get(0).asText());
        if (archs.size() > 1 && (arch == Architecture.PHI3 || arch.gemma())) {
            throw new IllegalArgumentException("'architectures' must name one class, got " + archs);
        }
        if (arch.gemma()) {
            root = GemmaConfigs.textConfig(root, archs.get(0).asText());
        } else {
            String act = text(root, "hidden_act", "silu");
            if (!act.equals("silu")) {
                throw new IllegalArgumentException("hidden_act '" + act + "' is not supported (only silu)");
            }
        }
        int hidden = requiredInt(root, "hidden_size");
        int heads = requiredInt(root, "num_attention_heads");
        int kvHeads = intOr(root, "num_key_value_heads", heads);
        // Qwen3Config defaults head_dim to 128 rather than deriving it: its head size is its own setting
        // Gemma's configs default it to 256 likewise
        int headDim = intOr(root, "head_dim", arch == Architecture.QWEN3 ? 128 : arch.gemma() ? 256
                : heads > 0 ? hidden / heads : 0);
        boolean attentionBias = root.path("attention_bias").asBoolean(false);
        boolean qkvBias = arch == Architecture.QWEN2 || attentionBias;
        // Gemma's attention_bias, like Llama's, puts a bias on q, k, v and o
        boolean oBias = arch != Architecture.QWEN2 && attentionBias;
        boolean mlpBias = root.path("mlp_bias").asBoolean(false);
        int layers = requiredInt(root, "num_hidden_layers");
        int slidingWindow = 0;
        java.util.Set<Integer> slidingLayers = new java.util.TreeSet<>();
        JsonNode sw = root.get("sliding_window");
        if (arch == Architecture.MISTRAL) {
            // MistralConfig defaults the window to 4096 when the key is absent; null turns it off
            slidingWindow = sw == null ? 4096 : sw.isNull() ? 0 : sw.asInt();
            for (int l = 0; l < layers; l++) {
                slidingLayers.add(l);
            }
        } else if (arch == Architecture.PHI3 && sw != null && !sw.isNull()) {
            // Phi3Config: a window, when set, applies to every layer (Phi-3-mini-4k has 2047)
            slidingWindow = sw.asInt();
            for (int l = 0; l < layers; l++) {
                slidingLayers.add(l);
            }
        } else if (arch.gemma()) {
            // the layer types hold without a window too: Gemma 3's sliding layers keep their local RoPE
            slidingWindow = sw == null || sw.isNull() ? 0 : sw.asInt();
            slidingLayers.addAll(GemmaConfigs.slidingLayers(root, arch, layers));
        } else if ((arch == Architecture.QWEN2 || arch == Architecture.QWEN3) && root.path("use_sliding_window").asBoolean(false) && sw != null && !sw.isNull()) {
            slidingWindow = sw.asInt();
            JsonNode layerTypes = root.get("layer_types");
            int fromLayer = intOr(root, "max_window_layers", 28);
            for (int l = 0; l < layers; l++) {
                boolean sliding = layerTypes != null && layerTypes.isArray() && layerTypes.size() == layers
                        ? layerTypes.get(l).asText().equals("sliding_attention")
                        : l >= fromLayer;
                if (sliding) {
                    slidingLayers.add(l);
                }
            }
        }
        if (sw != null && !sw.isNull() && slidingWindow <= 0 && !slidingLayers.isEmpty()) {
            throw new IllegalArgumentException("sliding_window must be > 0 or null, got " + sw);
        }
        DType dtype = root.hasNonNull("torch_dtype") ? DType.fromTorchName(root.get("torch_dtype").asText())
                : root.hasNonNull("dtype") ? DType.fromTorchName(root.get("dtype").asText()) : DType.F32;
        Integer bos = root.hasNonNull("bos_token_id") ? root.get("bos_token_id").asInt() : null;
        // only Phi-3 rotates part of each head; the Llama family ignores the key, as transformers does
        double partialRotary = arch == Architecture.PHI3 ? root.path("partial_rotary_factor").asDouble(1.0) : 1.0;
        JsonNode scalingNode = root.get("rope_scaling");
        RopeScaling scaling = isLongrope(scalingNode) ? parseLongrope(root, scalingNode) : parseRopeScaling(scalingNode);
        if (scaling != null && arch == Architecture.GEMMA2) {
            throw new IllegalArgumentException("rope_scaling " + scalingNode + " is not supported for Gemma 2 (it has none)");
        }
        GemmaFeatures gemma = arch.gemma() ? GemmaConfigs.features(root, arch) : null;
        return new ModelConfig(
                arch,
                hidden,
                requiredInt(root, "intermediate_size"),
                layers,
                heads,
                kvHeads,
                headDim,
                requiredInt(root, "vocab_size"),
                root.path("rms_norm_eps").asDouble(1e-6),
                root.path("rope_theta").asDouble(10000.0),
                scaling,
                intOr(root, "max_position_embeddings", 2048),
                root.path("tie_word_embeddings").asBoolean(false),
                qkvBias,
                oBias,
                mlpBias,
                slidingWindow,
                slidingLayers,
                dtype,
                bos,
                intList(root.get("eos_token_id")),
                partialRotary,
                gemma);
    }

    private static boolean isLongrope(JsonNode node) {
        return node != null && node.isObject()
                && "longrope".equals(node.hasNonNull("rope_type") ? node.get("rope_type").asText() : node.path("type").asText(""));
    }

    /**
     * Phi-3's LongRoPE, as transformers' {@code _compute_longrope_parameters}: the original max is the
     * config's {@code original_max_position_embeddings} (top level, or inside rope_scaling), and the
     * attention factor defaults from {@code max_position_embeddings / original_max}.
     */
    static RopeScaling parseLongrope(JsonNode root, JsonNode node) {
        int maxPositions = intOr(root, "max_position_embeddings", 2048);
        int originalMax = root.hasNonNull("original_max_position_embeddings")
                ? intOr(root, "original_max_position_embeddings", maxPositions)
                : intOr(node, "original_max_position_embeddings", maxPositions);
        Double attentionFactor = node.hasNonNull("attention_factor") ? node.get("attention_factor").asDouble() : null;
        return RopeScaling.longrope(doubles(node, "short_factor"), doubles(node, "long_factor"), originalMax,
                (double) maxPositions / originalMax, attentionFactor);
    }

    private static List<Double> doubles(JsonNode node, String field) {
        JsonNode n = node.get(field);
        if (n == null || !n.isArray()) {
            throw new IllegalArgumentException("rope_scaling longrope needs '" + field + "' as a list of numbers, got " + n);
        }
        List<Double> out = new ArrayList<>();
        for (JsonNode v : n) {
            if (!v.isNumber()) {
                throw new IllegalArgumentException("rope_scaling." + field + " must hold numbers, got " + v);
            }
            out.add(v.asDouble());
        }
        return out;
    }

    static RopeScaling parseRopeScaling(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = node.hasNonNull("rope_type") ? node.get("rope_type").asText() : node.path("type").asText("");
        return switch (type) {
            case "default" -> null;
            case "linear" -> RopeScaling.linear(node.path("factor").asDouble(1.0));
            case "llama3" -> RopeScaling.llama3(
                    node.path("factor").asDouble(8.0),
                    node.path("low_freq_factor").asDouble(1.0),
                    node.path("high_freq_factor").asDouble(4.0),
                    node.path("original_max_position_embeddings").asInt(8192));
            default -> throw new IllegalArgumentException("rope_scaling type '" + type
                    + "' is not supported (supported: linear, llama3, longrope)");
        };
    }

    /** The config.json that {@link #parse} reads back to this record. */
    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.putArray("architectures").add(architecture.hfClass());
        o.put("model_type", architecture.modelType());
        o.put("hidden_size", hiddenSize);
        o.put("intermediate_size", intermediateSize);
        o.put("num_hidden_layers", numLayers);
        o.put("num_attention_heads", numHeads);
        o.put("num_key_value_heads", numKvHeads);
        o.put("head_dim", headDim);
        o.put("vocab_size", vocabSize);
        o.put("hidden_act", architecture.gemma() ? GemmaConfigs.ACTIVATION : "silu");
        o.put("rms_norm_eps", rmsNormEps);
        o.put("rope_theta", ropeTheta);
        if (ropeScaling == null) {
            o.putNull("rope_scaling");
        } else {
            ObjectNode rs = o.putObject("rope_scaling");
            if (ropeScaling.type() == RopeScaling.Type.LONGROPE) {
                // Phi3Config's layout: the type under the legacy key, the original max at the top level
                rs.put("type", "longrope");
                ropeScaling.shortFactor().forEach(rs.putArray("short_factor")::add);
                ropeScaling.longFactor().forEach(rs.putArray("long_factor")::add);
                if (ropeScaling.attentionFactor() != null) {
                    rs.put("attention_factor", ropeScaling.attentionFactor());
                }
                o.put("original_max_position_embeddings", ropeScaling.originalMaxPositions());
            } else if (ropeScaling.type() == RopeScaling.Type.LLAMA3) {
                rs.put("factor", ropeScaling.factor());
                rs.put("rope_type", "llama3");
                rs.put("low_freq_factor", ropeScaling.lowFreqFactor());
                rs.put("high_freq_factor", ropeScaling.highFreqFactor());
                rs.put("original_max_position_embeddings", ropeScaling.originalMaxPositions());
            } else {
                rs.put("factor", ropeScaling.factor());
                rs.put("rope_type", "linear");
            }
        }
        o.put("max_position_embeddings", maxPositionEmbeddings);
        if (architecture == Architecture.PHI3) {
            o.put("partial_rotary_factor", partialRotaryFactor);
        }
        o.put("tie_word_embeddings", tieWordEmbeddings);
        if (architecture == Architecture.LLAMA) {
            o.put("attention_bias", qkvBias);
            o.put("mlp_bias", mlpBias);
        }
        if (architecture == Architecture.QWEN3) {
            o.put("attention_bias", qkvBias);
        }
        if (architecture == Architecture.QWEN2 || architecture == Architecture.QWEN3) {
            o.put("use_sliding_window", slidingWindow > 0);
            o.put("max_window_layers", slidingLayers.isEmpty() ? numLayers
                    : slidingLayers.stream().mapToInt(Integer::intValue).min().getAsInt());
        }
        if (architecture != Architecture.LLAMA) {
            if (slidingWindow > 0) {
                o.put("sliding_window", slidingWindow);
            } else {
                o.putNull("sliding_window");
            }
        }
        if (gemma != null) {
            GemmaConfigs.write(this, o);
        }
        o.put("torch_dtype", torchDtype.torchName());
        if (bosTokenId != null) {
            o.put("bos_token_id", bosTokenId);
        }
        if (eosTokenIds.size() == 1) {
            o.put("eos_token_id", eosTokenIds.getFirst());
        } else if (!eosTokenIds.isEmpty()) {
            ArrayNode eos = o.putArray("eos_token_id");
            eosTokenIds.forEach(eos::add);
        }
        return o;
    }

    private static int requiredInt(JsonNode root, String field) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            throw new IllegalArgumentException("missing '" + field + "'");
        }
        if (!n.canConvertToInt()) {
            throw new IllegalArgumentException("'" + field + "' must be an integer, got " + n);
        }
        return n.asInt();
    }

    private static int intOr(JsonNode root, String field, int fallback) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            return fallback;
        }
        if (!n.canConvertToInt()) {
            throw new IllegalArgumentException("'" + field + "' must be an integer, got " + n);
        }
        return n.asInt();
    }

    private static String text(JsonNode root, String field, String fallback) {
        JsonNode n = root.get(field);
        return n == null || n.isNull() ? fallback : n.asText();
    }

    static List<Integer> intList(JsonNode node) {
        List<Integer> out = new ArrayList<>();
        if (node == null || node.isNull()) {
            return out;
        }
        if (node.isArray()) {
            node.forEach(n -> out.add(n.asInt()));
        } else {
            out.add(node.asInt());
        }
        return out;
    }
}
