package io.loraplex.engine.lora;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The fields of a PEFT {@code adapter_config.json} that decide how an adapter applies.
 *
 * @param targetList    target_modules given as a list (null when given as a string)
 * @param targetRegex   target_modules given as a string: a regex full-matched on module names, or
 *                      {@code all-linear} (null when given as a list)
 * @param layersToTransform only these layer indices are adapted (empty: all)
 */
public record AdapterConfig(
        int r,
        double loraAlpha,
        double loraDropout,
        boolean useRslora,
        List<String> targetList,
        String targetRegex,
        Map<String, Integer> rankPattern,
        Map<String, Double> alphaPattern,
        List<Integer> layersToTransform,
        String baseModelNameOrPath,
        String baseModelClass) {

    public static final String ALL_LINEAR = "all-linear";

    public AdapterConfig {
        targetList = targetList == null ? null : List.copyOf(targetList);
        rankPattern = Map.copyOf(rankPattern);
        alphaPattern = Map.copyOf(alphaPattern);
        layersToTransform = List.copyOf(layersToTransform);
    }

    /** Parses and checks an adapter_config.json; refusals name the file and the field. */
    static AdapterConfig parse(JsonNode root, String file) throws AdapterException {
        if (root == null || !root.isObject()) {
            throw malformed(file + ": not a JSON object");
        }
        String peftType = text(root, "peft_type", "LORA", file);
        if (!peftType.equals("LORA")) {
            throw unsupported(file + ": peft_type '" + peftType + "' is not supported (only LORA)");
        }
        if (bool(root, "use_dora", file)) {
            throw unsupported(file + ": use_dora is true; DoRA adapters are not supported");
        }
        JsonNode modulesToSave = root.get("modules_to_save");
        if (modulesToSave != null && !modulesToSave.isNull() && !(modulesToSave.isArray() && modulesToSave.isEmpty())) {
            throw unsupported(file + ": modules_to_save " + modulesToSave
                    + " is not supported (the adapter would replace whole base modules)");
        }
        String bias = text(root, "bias", "none", file);
        if (!bias.equals("none")) {
            throw unsupported(file + ": bias '" + bias + "' is not supported (only \"none\")");
        }
        if (bool(root, "fan_in_fan_out", file)) {
            throw unsupported(file + ": fan_in_fan_out is true, which is for GPT-2 style Conv1D layers, not this base");
        }
        // strict JSON types: "r": "16" or "lora_alpha": "8" is a broken writer, not a value to coerce
        JsonNode rNode = root.get("r");
        if (rNode == null || !rNode.isIntegralNumber() || !rNode.canConvertToInt() || rNode.asInt() <= 0) {
            throw malformed(file + ": 'r' must be a positive integer, got " + rNode);
        }
        JsonNode alphaNode = root.get("lora_alpha");
        if (alphaNode != null && !alphaNode.isNull() && !alphaNode.isNumber()) {
            throw malformed(file + ": 'lora_alpha' must be a positive number, got " + alphaNode);
        }
        double alpha = alphaNode == null || alphaNode.isNull() ? 8.0 : alphaNode.asDouble();
        if (!(alpha > 0) || Double.isInfinite(alpha)) {
            throw malformed(file + ": 'lora_alpha' must be a positive number, got " + alphaNode);
        }
        JsonNode dropoutNode = root.get("lora_dropout");
        if (dropoutNode != null && !dropoutNode.isNull() && !dropoutNode.isNumber()) {
            throw malformed(file + ": 'lora_dropout' must be a number, got " + dropoutNode);
        }

        List<String> targetList = null;
        String targetRegex = null;
        JsonNode targets = root.get("target_modules");
        if (targets == null || targets.isNull()) {
            throw malformed(file + ": 'target_modules' is missing");
        } else if (targets.isArray()) {
            targetList = new ArrayList<>();
            for (int i = 0; i < targets.size(); i++) {
                JsonNode t = targets.get(i);
                if (!t.isTextual()) {
                    throw malformed(file + ": 'target_modules' must be a list of strings, but element " + i + " is " + t);
                }
                targetList.add(t.asText());
            }
            if (targetList.isEmpty()) {
                throw malformed(file + ": 'target_modules' is an empty list");
            }
        } else if (targets.isTextual()) {
            targetRegex = targets.asText();
            if (!targetRegex.equals(ALL_LINEAR)) {
                try {
                    Pattern.compile(targetRegex);
                } catch (PatternSyntaxException e) {
                    throw malformed(file + ": 'target_modules' regex does not compile: " + e.getDescription());
                }
            }
        } else {
            throw malformed(file + ": 'target_modules' must be a list of strings or a string, got " + targets);
        }

        Map<String, Integer> rankPattern = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : object(root, "rank_pattern", file).properties()) {
            if (!e.getValue().isIntegralNumber() || !e.getValue().canConvertToInt() || e.getValue().asInt() <= 0) {
                throw malformed(file + ": rank_pattern['" + e.getKey() + "'] must be a positive integer, got " + e.getValue());
            }
            rankPattern.put(e.getKey(), e.getValue().asInt());
        }
        Map<String, Double> alphaPattern = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : object(root, "alpha_pattern", file).properties()) {
            if (!e.getValue().isNumber() || !(e.getValue().asDouble() > 0) || Double.isInfinite(e.getValue().asDouble())) {
                throw malformed(file + ": alpha_pattern['" + e.getKey() + "'] must be a positive number, got " + e.getValue());
            }
            alphaPattern.put(e.getKey(), e.getValue().asDouble());
        }
        List<Integer> layers = new ArrayList<>();
        JsonNode ltt = root.get("layers_to_transform");
        if (ltt != null && !ltt.isNull()) {
            for (JsonNode n : ltt.isArray() ? ltt : List.of(ltt)) {
                if (!n.isIntegralNumber() || !n.canConvertToInt()) {
                    throw malformed(file + ": 'layers_to_transform' must be an integer or a list of integers, got " + ltt);
                }
                layers.add(n.asInt());
            }
        }
        JsonNode autoMapping = object(root, "auto_mapping", file);
        String baseClass = autoMapping.has("base_model_class") ? text(autoMapping, "base_model_class", null, file) : null;
        return new AdapterConfig(rNode.asInt(), alpha, dropoutNode == null ? 0.0 : dropoutNode.asDouble(0.0),
                bool(root, "use_rslora", file), targetList, targetRegex, rankPattern, alphaPattern, layers,
                text(root, "base_model_name_or_path", null, file), baseClass);
    }

    /** A string field, {@code fallback} when absent or null; any other JSON type is refused naming the key. */
    private static String text(JsonNode parent, String key, String fallback, String file) throws AdapterException {
        JsonNode n = parent.get(key);
        if (n == null || n.isNull()) {
            return fallback;
        }
        if (!n.isTextual()) {
            throw malformed(file + ": '" + key + "' must be a string, got " + n);
        }
        return n.asText();
    }

    /** A boolean field, false when absent or null. */
    private static boolean bool(JsonNode parent, String key, String file) throws AdapterException {
        JsonNode n = parent.get(key);
        if (n == null || n.isNull()) {
            return false;
        }
        if (!n.isBoolean()) {
            throw malformed(file + ": '" + key + "' must be true or false, got " + n);
        }
        return n.asBoolean();
    }

    /** An object field, empty when absent or null. */
    private static JsonNode object(JsonNode parent, String key, String file) throws AdapterException {
        JsonNode n = parent.get(key);
        if (n == null || n.isNull()) {
            return com.fasterxml.jackson.databind.node.MissingNode.getInstance();
        }
        if (!n.isObject()) {
            throw malformed(file + ": '" + key + "' must be an object, got " + n);
        }
        return n;
    }

    /** Does PEFT adapt the module with this full name ("model.layers.3.self_attn.q_proj")? */
    public boolean targets(String moduleName, int layer) {
        if (!layersToTransform.isEmpty() && !layersToTransform.contains(layer)) {
            return false;
        }
        if (targetList != null) {
            for (String t : targetList) {
                if (moduleName.equals(t) || moduleName.endsWith("." + t)) {
                    return true;
                }
            }
            return false;
        }
        return targetRegex.equals(ALL_LINEAR) || Pattern.compile(targetRegex).matcher(moduleName).matches();
    }

    /** The rank of a module: the first rank_pattern key matching it (as PEFT), else r. */
    public int rankFor(String moduleName) {
        String key = patternKey(rankPattern.keySet(), moduleName);
        return key == null ? r : rankPattern.get(key);
    }

    /** The alpha of a module: the first alpha_pattern key matching it (as PEFT), else lora_alpha. */
    public double alphaFor(String moduleName) {
        String key = patternKey(alphaPattern.keySet(), moduleName);
        return key == null ? loraAlpha : alphaPattern.get(key);
    }

    /** scale = alpha / r, or alpha / √r with rsLoRA. */
    public float scaleFor(String moduleName) {
        int rank = rankFor(moduleName);
        double alpha = alphaFor(moduleName);
        return (float) (useRslora ? alpha / Math.sqrt(rank) : alpha / rank);
    }

    /** PEFT's rule: a key applies when the module name matches {@code (^|.*\.)key$}. */
    static String patternKey(Set<String> keys, String moduleName) {
        for (String key : keys) {
            if (Pattern.compile("(?:.*\\.)?(?:" + key + ")").matcher(moduleName).matches()) {
                return key;
            }
        }
        return null;
    }

    /** The adapter_config.json a trainer writes for these settings (PEFT's field names). */
    public ObjectNode toJson(String baseModel, List<String> targets) {
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("peft_type", "LORA");
        o.put("task_type", "CAUSAL_LM");
        o.put("r", r);
        o.put("lora_alpha", loraAlpha);
        o.put("lora_dropout", loraDropout);
        var t = o.putArray("target_modules");
        targets.forEach(t::add);
        o.put("use_rslora", useRslora);
        o.put("use_dora", false);
        o.put("bias", "none");
        o.put("fan_in_fan_out", false);
        o.putNull("modules_to_save");
        o.put("inference_mode", true);
        o.put("init_lora_weights", true);
        o.putObject("rank_pattern");
        o.putObject("alpha_pattern");
        if (baseModel != null) {
            o.put("base_model_name_or_path", baseModel);
        } else {
            o.putNull("base_model_name_or_path");
        }
        return o;
    }

    private static AdapterException malformed(String message) {
        return new AdapterException(AdapterException.Reason.MALFORMED, message);
    }

    private static AdapterException unsupported(String message) {
        return new AdapterException(AdapterException.Reason.UNSUPPORTED, message);
    }
}
