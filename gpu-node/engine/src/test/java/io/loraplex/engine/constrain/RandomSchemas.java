package io.loraplex.engine.constrain;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * Seeded random schemas of the supported subset, documents drawn from them (written compactly, keys
 * in schema order, as constrained decoding writes them), and an independent validator
 * (networknt's json-schema-validator) to judge outputs.
 */
final class RandomSchemas {

    static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final SchemaRegistry REGISTRY = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);

    /** Patterns with a generator of strings they match. */
    static final Map<String, Function<SplittableRandom, String>> PATTERNS = Map.of(
            "^[a-z]{1,5}$", r -> word(r, 1 + r.nextInt(5)),
            "^\\d{3}-\\d{2}$", r -> String.format("%03d-%02d", r.nextInt(1000), r.nextInt(100)),
            "^(ab|cd){1,3}$", r -> "ab".repeat(1 + r.nextInt(2)) + "cd".repeat(r.nextInt(2)),
            "^[A-Z][a-z]{0,3}$", r -> Character.toString('A' + r.nextInt(26)) + word(r, r.nextInt(4)));
    private static final List<String> PATTERN_KEYS = PATTERNS.keySet().stream().sorted().toList();

    private RandomSchemas() {
    }

    /**
     * A random schema: objects of 1–4 properties (some optional unless {@code strict}), arrays of at
     * most 3, strings with enum or pattern (free strings only when {@code freeStrings}), numbers,
     * integers, booleans, null, anyOf, and now and then a {@code $defs} entry used through {@code $ref}.
     */
    static ObjectNode schema(SplittableRandom r, boolean strict, boolean freeStrings) {
        ObjectNode defs = F.objectNode();
        ObjectNode item = node(r, 2, strict, freeStrings, null);
        defs.set("item", item);
        ObjectNode root = object(r, 3, strict, freeStrings, defs);
        root.set("$defs", defs);
        return root;
    }

    private static ObjectNode node(SplittableRandom r, int depth, boolean strict, boolean freeStrings, ObjectNode defs) {
        int kind = r.nextInt(depth > 0 ? 11 : 7);
        ObjectNode s = F.objectNode();
        switch (kind) {
            case 0 -> s.put("type", "integer");
            case 1 -> s.put("type", "number");
            case 2 -> s.put("type", "boolean");
            case 3 -> {
                s.put("type", "string");
                ArrayNode e = s.putArray("enum");
                for (int i = 0; i < 1 + r.nextInt(3); i++) {
                    e.add(word(r, 1 + r.nextInt(6)) + (r.nextBoolean() ? " \"q\"" : ""));
                }
            }
            case 4 -> {
                s.put("type", "string");
                if (freeStrings && r.nextBoolean()) {
                    break;
                }
                s.put("pattern", PATTERN_KEYS.get(r.nextInt(PATTERN_KEYS.size())));
            }
            case 5 -> s.put("type", "null");
            case 6 -> {
                s.set("type", F.arrayNode().add("integer").add("null"));
            }
            case 7, 8 -> {
                return object(r, depth - 1, strict, freeStrings, defs);
            }
            case 9 -> {
                s.put("type", "array");
                s.set("items", node(r, depth - 1, strict, freeStrings, defs));
                s.put("maxItems", r.nextInt(4));
            }
            default -> {
                if (defs != null && r.nextBoolean()) {
                    s.put("$ref", "#/$defs/item");
                } else {
                    ArrayNode any = s.putArray("anyOf");
                    any.add(node(r, depth - 1, strict, freeStrings, defs));
                    any.add(node(r, depth - 1, strict, freeStrings, defs));
                }
            }
        }
        return s;
    }

    private static ObjectNode object(SplittableRandom r, int depth, boolean strict, boolean freeStrings, ObjectNode defs) {
        ObjectNode s = F.objectNode();
        s.put("type", "object");
        ObjectNode props = s.putObject("properties");
        ArrayNode required = s.putArray("required");
        int n = 1 + r.nextInt(4);
        for (int i = 0; i < n; i++) {
            String name = "p" + i + (r.nextInt(4) == 0 ? "_\"x\"" : "");
            props.set(name, node(r, Math.max(0, depth - 1), strict, freeStrings, defs));
            if (strict || r.nextInt(3) > 0) {
                required.add(name);
            }
        }
        s.put("additionalProperties", false);
        return s;
    }

    /** A document valid against {@code schema}, in the canonical form constrained decoding writes. */
    static JsonNode document(JsonNode schema, JsonNode root, SplittableRandom r) {
        if (schema.has("$ref")) {
            return document(root.get("$defs").get("item"), root, r);
        }
        if (schema.has("anyOf")) {
            JsonNode options = schema.get("anyOf");
            return document(options.get(r.nextInt(options.size())), root, r);
        }
        if (schema.has("enum")) {
            JsonNode e = schema.get("enum");
            return e.get(r.nextInt(e.size()));
        }
        JsonNode type = schema.get("type");
        String t = type.isArray() ? type.get(r.nextInt(type.size())).asText() : type.asText();
        return switch (t) {
            case "integer" -> F.numberNode(r.nextInt(-1000, 1000));
            case "number" -> r.nextBoolean() ? F.numberNode(r.nextInt(100)) : F.numberNode(Math.round((r.nextDouble() - 0.5) * 1e6) / 1e3 * Math.pow(10, r.nextInt(-8, 12)));
            case "boolean" -> F.booleanNode(r.nextBoolean());
            case "null" -> F.nullNode();
            case "string" -> F.textNode(schema.has("pattern") ? PATTERNS.get(schema.get("pattern").asText()).apply(r) : freeText(r));
            case "array" -> {
                ArrayNode a = F.arrayNode();
                int max = schema.has("maxItems") ? schema.get("maxItems").asInt() : 3;
                int n = max == 0 ? 0 : r.nextInt(max + 1);
                for (int i = 0; i < n; i++) {
                    a.add(document(schema.get("items"), root, r));
                }
                yield a;
            }
            case "object" -> {
                ObjectNode o = F.objectNode();
                java.util.Set<String> required = new java.util.HashSet<>();
                schema.path("required").forEach(n -> required.add(n.asText()));
                for (Iterator<Map.Entry<String, JsonNode>> it = schema.get("properties").fields(); it.hasNext(); ) {
                    Map.Entry<String, JsonNode> e = it.next();
                    if (required.contains(e.getKey()) || r.nextBoolean()) {
                        o.set(e.getKey(), document(e.getValue(), root, r));
                    }
                }
                yield o;
            }
            default -> throw new IllegalStateException(t);
        };
    }

    private static String freeText(SplittableRandom r) {
        String chars = "ab \"\\/\n\té€😀{}[],:";
        StringBuilder s = new StringBuilder();
        for (int i = r.nextInt(6); i > 0; i--) {
            s.append(chars.charAt(r.nextInt(chars.length())));
        }
        return s.toString();
    }

    private static String word(SplittableRandom r, int n) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < n; i++) {
            s.append((char) ('a' + r.nextInt(26)));
        }
        return s.toString();
    }

    /** The validator's errors for {@code document} against {@code schema}; empty when valid. */
    static List<?> errors(JsonNode schema, JsonNode document) {
        Schema s = REGISTRY.getSchema(schema);
        return s.validate(document);
    }

    static String compact(JsonNode n) {
        try {
            return JSON.writeValueAsString(n);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
