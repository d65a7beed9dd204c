package io.loraplex.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.MissingNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A JSON node together with the file and JSON path it came from, so that every complaint about a
 * tokenizer file names both ({@code tokenizer.json: $.model.merges[3]: ...}).
 */
record Json(JsonNode node, Path file, String path) {

    static final ObjectMapper MAPPER = new ObjectMapper();

    /** Parses {@code file}; malformed JSON becomes an IOException naming the file and the position. */
    static Json read(Path file) throws IOException {
        try {
            return new Json(MAPPER.readTree(Files.readAllBytes(file)), file, "$");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            var at = e.getLocation();
            throw new IOException(file + ": malformed JSON: " + e.getOriginalMessage()
                    + (at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")"), e);
        }
    }

    /** The member {@code name}, or a missing node (never null) when absent. */
    Json get(String name) {
        JsonNode child = node.get(name);
        return new Json(child == null ? MissingNode.getInstance() : child, file, path + "." + name);
    }

    /** True when the member exists and is not JSON null. */
    boolean has(String name) {
        JsonNode child = node.get(name);
        return child != null && !child.isNull();
    }

    boolean isAbsentOrNull() {
        return node.isMissingNode() || node.isNull();
    }

    Json required(String name) throws IOException {
        if (!has(name)) {
            throw error("missing required field '" + name + "'");
        }
        return get(name);
    }

    String string(String name) throws IOException {
        Json child = required(name);
        if (!child.node.isTextual()) {
            throw child.error("expected a string, found " + child.node.getNodeType());
        }
        return child.node.asText();
    }

    /** The string member {@code name}, or null when absent or JSON null. */
    String optString(String name) throws IOException {
        return has(name) ? string(name) : null;
    }

    boolean bool(String name, boolean absent) throws IOException {
        if (!has(name)) {
            return absent;
        }
        Json child = get(name);
        if (!child.node.isBoolean()) {
            throw child.error("expected true or false, found " + child.node.getNodeType());
        }
        return child.node.booleanValue();
    }

    int integer(String name) throws IOException {
        return required(name).asInt();
    }

    int asInt() throws IOException {
        if (!node.isIntegralNumber() || !node.canConvertToInt()) {
            throw error("expected an integer, found " + (node.isNumber() ? node.asText() : node.getNodeType()));
        }
        return node.intValue();
    }

    String asString() throws IOException {
        if (!node.isTextual()) {
            throw error("expected a string, found " + node.getNodeType());
        }
        return node.asText();
    }

    /** The elements of the required array member {@code name}. */
    List<Json> elements(String name) throws IOException {
        return required(name).elements();
    }

    List<Json> elements() throws IOException {
        if (!node.isArray()) {
            throw error("expected an array, found " + node.getNodeType());
        }
        List<Json> out = new ArrayList<>(node.size());
        for (int i = 0; i < node.size(); i++) {
            out.add(new Json(node.get(i), file, path + "[" + i + "]"));
        }
        return out;
    }

    /** The component's {@code type} discriminator. */
    String type() throws IOException {
        if (!node.isObject()) {
            throw error("expected an object with a 'type', found " + node.getNodeType());
        }
        return string("type");
    }

    IOException error(String message) {
        return new IOException(file + ": " + path + ": " + message);
    }

    /** The refusal for a component type this package does not implement. */
    IOException unsupported(String component, String type, String supported) {
        return error("unsupported " + component + " type '" + type + "' (supported: " + supported + ")");
    }
}
