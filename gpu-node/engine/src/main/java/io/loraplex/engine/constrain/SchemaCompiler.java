package io.loraplex.engine.constrain;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Compiles a JSON schema of OpenAI's strict-mode subset to a {@link Node} graph: objects with
 * {@code properties}/{@code required} ({@code additionalProperties} only false), arrays with
 * {@code items} (and {@code minItems}/{@code maxItems}), strings with {@code enum} or {@code pattern},
 * numbers, integers, booleans, null, {@code enum}, {@code const}, {@code anyOf}, {@code $defs} /
 * {@code definitions} with local {@code $ref}s (recursion allowed). Annotations ({@code title},
 * {@code description}, …) are ignored. Any other keyword is refused with a {@link ConstraintException}
 * naming it and where it sits, since silently dropping it would let the output break it.
 */
public final class SchemaCompiler {

    static final ObjectMapper JSON = new ObjectMapper();

    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "$schema", "$id", "$comment", "examples",
            "default", "deprecated", "readOnly", "writeOnly", "strict", "name");
    private static final Set<String> SUPPORTED = Set.of("type", "properties", "required", "additionalProperties", "items",
            "minItems", "maxItems", "enum", "const", "pattern", "anyOf", "$defs", "definitions", "$ref");
    private static final Set<String> TYPES = Set.of("object", "array", "string", "number", "integer", "boolean", "null");

    private final JsonNode root;
    private final Map<String, Node.Ref> refs = new HashMap<>();

    private SchemaCompiler(JsonNode root) {
        this.root = root;
    }

    /** The node of any JSON object ({@code response_format: json_object}). */
    public static Node anyObject() {
        return Node.AnyObject.INSTANCE;
    }

    /** Compiles schema text, or throws a {@link ConstraintException} naming the keyword at fault. */
    static Node compile(String schemaJson) {
        JsonNode root;
        try {
            root = JSON.readTree(schemaJson);
        } catch (JsonProcessingException e) {
            throw new ConstraintException("schema", "the schema is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            throw new ConstraintException("schema", "the schema must be a JSON object");
        }
        SchemaCompiler c = new SchemaCompiler(root);
        Node.Ref top = c.ref("#");
        c.requireFiniteDocuments(top.get());
        return top.get();
    }

    /**
     * Refuses a schema with a part that no finite document satisfies: a {@code $ref} cycle with no way
     * out ({@code {"$ref": "#"}}, a property that requires itself). Constrained decoding would have
     * nowhere to go there: it would end the answer empty or run to {@code max_tokens}.
     */
    private void requireFiniteDocuments(Node root) {
        // a definition is named by its own place ($.$defs.x) wherever it is reached; the root is $
        Map<Node, String> defined = new IdentityHashMap<>();
        defined.put(root, "$");
        refs.forEach((target, holder) -> {
            if (!target.equals("#")) {
                defined.put(holder.get(), "$." + target.substring(2).replace('/', '.'));
            }
        });
        Map<Node, String> reachable = new LinkedHashMap<>(); // nodes compare by identity
        collect(root, "$", defined, reachable);
        Set<Node> finite = Collections.newSetFromMap(new IdentityHashMap<>());
        for (boolean grew = true; grew; ) {
            grew = false;
            for (Node n : reachable.keySet()) {
                if (!finite.contains(n) && finite(n, finite)) {
                    finite.add(n);
                    grew = true;
                }
            }
        }
        // name a definition (or the root) that has no finite document rather than a place that only uses one,
        // so a tool's parameters are named as the client wrote them, not by the call schema around them
        String where = null;
        for (Map.Entry<Node, String> e : reachable.entrySet()) {
            if (!finite.contains(e.getKey()) && (where == null || defined.containsKey(e.getKey()))) {
                where = e.getValue();
                if (defined.containsKey(e.getKey())) {
                    break;
                }
            }
        }
        if (where != null) {
            throw new ConstraintException("$ref", "the schema at " + where
                    + " admits no finite JSON document: every way through it leads back into a $ref");
        }
    }

    /** Every node reachable from {@code n}, each with the place it is first reached at, or its definition's name. */
    private static void collect(Node n, String reachedAt, Map<Node, String> defined, Map<Node, String> reachable) {
        if (reachable.containsKey(n)) {
            return;
        }
        String where = defined.getOrDefault(n, reachedAt);
        reachable.put(n, where);
        switch (n) {
            case Node.ObjectNode object -> object.properties.forEach(p ->
                    collect(p.value().get(), where + ".properties." + p.name(), defined, reachable));
            case Node.ArrayNode array -> collect(array.items.get(), where + ".items", defined, reachable);
            case Node.AnyOf anyOf -> {
                for (int i = 0; i < anyOf.options.size(); i++) {
                    collect(anyOf.options.get(i).get(), where + ".anyOf[" + i + "]", defined, reachable);
                }
            }
            case Node.AnyValue any -> { }
            case Node.AnyObject any -> { }
            case Node.StringNode string -> { }
            case Node.NumberNode number -> { }
            case Node.Literals literals -> { }
        }
    }

    /** Whether {@code n} has a finite document, given the nodes already known to have one. */
    private static boolean finite(Node n, Set<Node> finite) {
        return switch (n) {
            case Node.AnyValue any -> true;
            case Node.AnyObject any -> true;
            case Node.StringNode string -> true;
            case Node.NumberNode number -> true;
            case Node.Literals literals -> !literals.texts.isEmpty();
            case Node.ObjectNode object -> object.properties.stream()
                    .allMatch(p -> !p.required() || finite.contains(p.value().get()));
            case Node.ArrayNode array -> array.minItems == 0 || finite.contains(array.items.get());
            case Node.AnyOf anyOf -> anyOf.options.stream().anyMatch(o -> finite.contains(o.get()));
        };
    }

    /** The definition a {@code $ref} names, compiled once (recursive references share the holder). */
    private Node.Ref ref(String target) {
        Node.Ref known = refs.get(target);
        if (known != null) {
            return known;
        }
        JsonNode at;
        String where;
        if (target.equals("#")) {
            at = root;
            where = "$";
        } else if (target.startsWith("#/$defs/") || target.startsWith("#/definitions/")) {
            String section = target.startsWith("#/$defs/") ? "$defs" : "definitions";
            String name = target.substring(section.length() + 3).replace("~1", "/").replace("~0", "~");
            at = root.path(section).get(name);
            where = "$." + section + "." + name;
            if (at == null) {
                throw new ConstraintException("$ref", "$ref " + target + " names no definition in the schema's " + section);
            }
        } else {
            throw new ConstraintException("$ref", "$ref " + target
                    + " is not supported: only local references (#, #/$defs/<name>, #/definitions/<name>) are");
        }
        Node.Ref holder = new Node.Ref(null);
        refs.put(target, holder);
        holder.node = node(at, where);
        return holder;
    }

    private Node node(JsonNode s, String where) {
        if (s.isBoolean() && s.booleanValue()) {
            return Node.AnyValue.INSTANCE;
        }
        if (!s.isObject()) {
            throw new ConstraintException("schema", "the schema at " + where + " must be a JSON object");
        }
        for (Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!SUPPORTED.contains(k) && !ANNOTATIONS.contains(k)) {
                throw new ConstraintException(k, "the schema keyword '" + k + "' (at " + where
                        + ") is not supported in response_format; supported: " + String.join(", ", sorted(SUPPORTED)));
            }
        }
        if (s.has("$ref")) {
            if (!s.get("$ref").isTextual()) {
                throw new ConstraintException("$ref", "$ref at " + where + " must be a string");
            }
            Node.Ref target = ref(s.get("$ref").asText());
            // a definition still being compiled (a recursive schema) is reached through its holder, filled later
            return target.get() == null ? new Node.AnyOf(List.of(target)) : target.get();
        }
        if (s.has("const")) {
            return new Node.Literals(List.of(compact(s.get("const"))));
        }
        if (s.has("enum")) {
            JsonNode values = s.get("enum");
            if (!values.isArray() || values.isEmpty()) {
                throw new ConstraintException("enum", "enum at " + where + " must be a non-empty array");
            }
            List<String> texts = new ArrayList<>();
            values.forEach(v -> texts.add(compact(v)));
            return new Node.Literals(List.copyOf(texts));
        }
        if (s.has("anyOf")) {
            JsonNode options = s.get("anyOf");
            if (!options.isArray() || options.isEmpty()) {
                throw new ConstraintException("anyOf", "anyOf at " + where + " must be a non-empty array of schemas");
            }
            List<Node.Ref> alternatives = new ArrayList<>();
            for (int i = 0; i < options.size(); i++) {
                alternatives.add(new Node.Ref(node(options.get(i), where + ".anyOf[" + i + "]")));
            }
            return new Node.AnyOf(List.copyOf(alternatives));
        }
        JsonNode type = s.get("type");
        if (type == null) {
            return s.has("properties") ? object(s, where) : s.has("items") ? array(s, where) : Node.AnyValue.INSTANCE;
        }
        if (type.isArray()) {
            List<Node.Ref> options = new ArrayList<>();
            for (JsonNode t : type) {
                options.add(new Node.Ref(typed(typeName(t, where), s, where)));
            }
            if (options.isEmpty()) {
                throw new ConstraintException("type", "type at " + where + " must name at least one type");
            }
            return options.size() == 1 ? options.getFirst().get() : new Node.AnyOf(List.copyOf(options));
        }
        return typed(typeName(type, where), s, where);
    }

    private static String typeName(JsonNode t, String where) {
        if (!t.isTextual() || !TYPES.contains(t.asText())) {
            throw new ConstraintException("type", "type at " + where + " must be one of " + String.join(", ", sorted(TYPES))
                    + ", got " + t);
        }
        return t.asText();
    }

    private Node typed(String type, JsonNode s, String where) {
        return switch (type) {
            case "object" -> object(s, where);
            case "array" -> array(s, where);
            case "string" -> {
                JsonNode pattern = s.get("pattern");
                if (pattern != null && !pattern.isTextual()) {
                    throw new ConstraintException("pattern", "pattern at " + where + " must be a string");
                }
                yield pattern == null ? Grammar.ANY_STRING : new Node.StringNode(Regex.compile(pattern.asText()));
            }
            case "number" -> Node.NumberNode.NUMBER;
            case "integer" -> Node.NumberNode.INTEGER;
            case "boolean" -> new Node.Literals(List.of("true", "false"));
            case "null" -> new Node.Literals(List.of("null"));
            default -> throw new IllegalStateException("unreachable: " + type);
        };
    }

    private Node object(JsonNode s, String where) {
        JsonNode additional = s.get("additionalProperties");
        JsonNode properties = s.get("properties");
        if (additional != null && !(additional.isBoolean() && !additional.booleanValue())
                && !(additional.isBoolean() && properties == null)) {
            throw new ConstraintException("additionalProperties", "additionalProperties at " + where
                    + " must be false (strict mode): the output has only the declared properties");
        }
        if (properties == null) {
            return additional != null && !additional.booleanValue() ? new Node.ObjectNode(List.of()) : Node.AnyObject.INSTANCE;
        }
        if (!properties.isObject()) {
            throw new ConstraintException("properties", "properties at " + where + " must be an object");
        }
        Set<String> required = new java.util.HashSet<>();
        JsonNode req = s.get("required");
        if (req != null) {
            if (!req.isArray()) {
                throw new ConstraintException("required", "required at " + where + " must be an array of property names");
            }
            for (JsonNode r : req) {
                if (!properties.has(r.asText())) {
                    throw new ConstraintException("required", "required at " + where + " names '" + r.asText()
                            + "', which is not among its properties");
                }
                required.add(r.asText());
            }
        }
        List<Node.Property> props = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = properties.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = compact(JSON.getNodeFactory().textNode(e.getKey())) + ":";
            Node value = node(e.getValue(), where + ".properties." + e.getKey());
            props.add(new Node.Property(e.getKey(), key, new Node.Ref(value), required.contains(e.getKey())));
        }
        return new Node.ObjectNode(List.copyOf(props));
    }

    private Node array(JsonNode s, String where) {
        JsonNode items = s.get("items");
        Node itemNode = items == null ? Node.AnyValue.INSTANCE : node(items, where + ".items");
        int min = count(s, "minItems", where, 0);
        int max = count(s, "maxItems", where, -1);
        if (max >= 0 && max < min) {
            throw new ConstraintException("maxItems", "maxItems at " + where + " (" + max + ") is below minItems (" + min + ")");
        }
        return new Node.ArrayNode(new Node.Ref(itemNode), min, max);
    }

    private static int count(JsonNode s, String keyword, String where, int absent) {
        JsonNode v = s.get(keyword);
        if (v == null) {
            return absent;
        }
        if (!v.canConvertToInt() || !v.isIntegralNumber() || v.intValue() < 0 || v.intValue() > 10_000) {
            throw new ConstraintException(keyword, keyword + " at " + where + " must be an integer in 0..10000, got " + v);
        }
        return v.intValue();
    }

    private static String compact(JsonNode v) {
        try {
            return JSON.writeValueAsString(v);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a parsed JSON value failed to serialise", e);
        }
    }

    private static List<String> sorted(Set<String> s) {
        return s.stream().sorted().toList();
    }
}
