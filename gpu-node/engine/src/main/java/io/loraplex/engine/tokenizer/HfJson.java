package io.loraplex.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes JSON the way HF's files look: two-space indent, {@code "key": value}, one array element
 * per line, non-ASCII characters as is. That is both serde_json's pretty printer (tokenizer.json)
 * and Python's {@code json.dumps(indent=2, ensure_ascii=False)} (transformers' configs, which also
 * sort keys). Written by hand so the bytes depend on nothing but the tree.
 */
final class HfJson {

    private HfJson() {
    }

    static String write(JsonNode node, boolean sortKeys) {
        StringBuilder out = new StringBuilder(1 << 16);
        write(node, sortKeys, 0, out);
        return out.append('\n').toString();
    }

    private static void write(JsonNode node, boolean sortKeys, int depth, StringBuilder out) {
        if (node.isObject()) {
            List<Map.Entry<String, JsonNode>> fields = new ArrayList<>(node.properties());
            if (sortKeys) {
                fields.sort(Map.Entry.comparingByKey());
            }
            if (fields.isEmpty()) {
                out.append("{}");
                return;
            }
            out.append('{');
            for (int i = 0; i < fields.size(); i++) {
                newline(depth + 1, out);
                string(fields.get(i).getKey(), out);
                out.append(": ");
                write(fields.get(i).getValue(), sortKeys, depth + 1, out);
                if (i + 1 < fields.size()) {
                    out.append(',');
                }
            }
            newline(depth, out);
            out.append('}');
        } else if (node.isArray()) {
            if (node.isEmpty()) {
                out.append("[]");
                return;
            }
            out.append('[');
            for (int i = 0; i < node.size(); i++) {
                newline(depth + 1, out);
                write(node.get(i), sortKeys, depth + 1, out);
                if (i + 1 < node.size()) {
                    out.append(',');
                }
            }
            newline(depth, out);
            out.append(']');
        } else if (node.isTextual()) {
            string(node.asText(), out);
        } else {
            out.append(node.toString()); // numbers, booleans, null
        }
    }

    private static void newline(int depth, StringBuilder out) {
        out.append('\n');
        out.repeat("  ", depth);
    }

    private static void string(String s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
