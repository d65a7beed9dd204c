package io.loraplex.router.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Iterator;
import java.util.Set;

/**
 * Typed reads of one JSON object's fields with OpenAI-style errors that name the field by its full
 * path ({@code messages[2].content[0].type}). A JSON {@code null} reads as "not given".
 */
final class Fields {

    private final ObjectNode node;
    private final String prefix;

    Fields(ObjectNode node, String prefix) {
        this.node = node;
        this.prefix = prefix;
    }

    /** The object of {@code value}, or a 400 naming {@code param}. */
    static Fields of(JsonNode value, String param) {
        if (!(value instanceof ObjectNode object)) {
            throw ApiError.wrongType(param, "an object").toException();
        }
        return new Fields(object, param.isEmpty() ? "" : param + ".");
    }

    String param(String name) {
        return prefix + name;
    }

    /**
     * Refuses every field that is neither {@code known} nor, when null, {@code unsupported}: fields
     * OpenAI has that this server lacks get "not supported", others "unrecognized". Never silence.
     */
    void allowOnly(Set<String> known, Set<String> unsupported) {
        for (Iterator<String> names = node.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (known.contains(name)) {
                continue;
            }
            if (unsupported.contains(name)) {
                if (!node.get(name).isNull()) {
                    throw ApiError.unsupported(param(name)).toException();
                }
                continue;
            }
            throw ApiError.unknown(param(name)).toException();
        }
    }

    /**
     * The {@code function} of a {@code {"type": "function", "function": {...}}} wrapper (a tool, an
     * assistant's tool call, a named tool choice), after checking the type and that it is there.
     */
    Fields function() {
        String type = requiredString("type");
        if (!type.equals("function")) {
            throw ApiError.invalid(param("type"), "'" + param("type") + "' must be 'function'; got '" + type + "'").toException();
        }
        if (!has("function")) {
            throw ApiError.invalid(param("function"), "you must provide '" + param("function") + "'").toException();
        }
        return Fields.of(get("function"), param("function"));
    }

    /** The field's value, or null when absent or JSON null. */
    JsonNode get(String name) {
        JsonNode v = node.get(name);
        return v == null || v.isNull() ? null : v;
    }

    boolean has(String name) {
        return get(name) != null;
    }

    String string(String name) {
        JsonNode v = get(name);
        if (v == null) {
            return null;
        }
        if (!v.isTextual()) {
            throw ApiError.wrongType(param(name), "a string").toException();
        }
        return v.textValue();
    }

    String requiredString(String name) {
        String s = string(name);
        if (s == null) {
            throw ApiError.invalid(param(name), "you must provide '" + param(name) + "'").toException();
        }
        return s;
    }

    Boolean bool(String name) {
        JsonNode v = get(name);
        if (v == null) {
            return null;
        }
        if (!v.isBoolean()) {
            throw ApiError.wrongType(param(name), "a boolean").toException();
        }
        return v.booleanValue();
    }

    boolean bool(String name, boolean orElse) {
        Boolean b = bool(name);
        return b == null ? orElse : b;
    }

    /** A number in [min, max]. */
    Double number(String name, double min, double max) {
        JsonNode v = get(name);
        if (v == null) {
            return null;
        }
        if (!v.isNumber()) {
            throw ApiError.wrongType(param(name), "a number").toException();
        }
        double d = v.doubleValue();
        if (!(d >= min && d <= max)) {
            throw ApiError.invalid(param(name), "'" + param(name) + "' must be a number between " + fmt(min) + " and "
                    + fmt(max) + ", got " + v.asText()).toException();
        }
        return d;
    }

    /** A number above {@code exclusiveMin} and at most {@code max}. */
    Double numberAbove(String name, double exclusiveMin, double max) {
        Double d = number(name, -Double.MAX_VALUE, Double.MAX_VALUE);
        if (d != null && !(d > exclusiveMin && d <= max)) {
            throw ApiError.invalid(param(name), "'" + param(name) + "' must be greater than " + fmt(exclusiveMin)
                    + " and at most " + fmt(max) + ", got " + get(name).asText()).toException();
        }
        return d;
    }

    /** An integer in [min, max] (1.0 counts as 1). */
    Long integer(String name, long min, long max) {
        JsonNode v = get(name);
        if (v == null) {
            return null;
        }
        if (!v.isNumber() || !(v.isIntegralNumber() || v.canConvertToExactIntegral()) || !v.canConvertToLong()) {
            throw ApiError.wrongType(param(name), "an integer").toException();
        }
        long l = v.longValue();
        if (l < min || l > max) {
            throw ApiError.invalid(param(name), "'" + param(name) + "' must be an integer between " + min + " and " + max
                    + ", got " + v.asText()).toException();
        }
        return l;
    }

    Integer integer32(String name, int min, int max) {
        Long l = integer(name, min, max);
        return l == null ? null : l.intValue();
    }

    private static String fmt(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }
}
