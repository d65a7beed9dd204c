package io.loraplex.engine.tokenizer;

import java.lang.reflect.Array;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Python's {@code json.dumps} output for the values a template sees, because transformers' chat
 * templates render {@code tojson} with it: {@code ", "} and {@code ": "} separators (or {@code ","}
 * with an indent), non-ASCII kept unless {@code ensure_ascii}, floats as Python's {@code repr}.
 */
final class PythonJson {

    private final Integer indent;      // null: single line
    private final String itemSeparator;
    private final String keySeparator;
    private final boolean sortKeys;
    private final boolean ensureAscii;

    PythonJson(Integer indent, String itemSeparator, String keySeparator, boolean sortKeys, boolean ensureAscii) {
        this.indent = indent;
        this.itemSeparator = itemSeparator != null ? itemSeparator : (indent == null ? ", " : ",");
        this.keySeparator = keySeparator != null ? keySeparator : ": ";
        this.sortKeys = sortKeys;
        this.ensureAscii = ensureAscii;
    }

    static String dumps(Object value) {
        return new PythonJson(null, null, null, false, false).write(value);
    }

    String write(Object value) {
        StringBuilder out = new StringBuilder();
        write(value, 0, out);
        return out.toString();
    }

    private void write(Object value, int depth, StringBuilder out) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof Boolean b) {
            out.append(b ? "true" : "false");
        } else if (value instanceof Double || value instanceof Float) {
            out.append(floatRepr(((Number) value).doubleValue()));
        } else if (value instanceof BigDecimal d) {
            out.append(floatRepr(d.doubleValue()));
        } else if (value instanceof Number n) {
            out.append(n);
        } else if (value instanceof Map<?, ?> map) {
            List<Map.Entry<?, ?>> entries = new ArrayList<>(map.entrySet());
            if (sortKeys) {
                entries.sort((a, b) -> String.valueOf(a.getKey()).compareTo(String.valueOf(b.getKey())));
            }
            container('{', '}', entries.size(), depth, out, i -> {
                string(String.valueOf(entries.get(i).getKey()), out);
                out.append(keySeparator);
                write(entries.get(i).getValue(), depth + 1, out);
            });
        } else if (value instanceof Iterable<?> it) {
            List<Object> items = new ArrayList<>();
            it.forEach(items::add);
            container('[', ']', items.size(), depth, out, i -> write(items.get(i), depth + 1, out));
        } else if (value.getClass().isArray()) {
            int n = Array.getLength(value);
            container('[', ']', n, depth, out, i -> write(Array.get(value, i), depth + 1, out));
        } else {
            string(value.toString(), out);
        }
    }

    private void container(char open, char close, int size, int depth, StringBuilder out, java.util.function.IntConsumer item) {
        if (size == 0) {
            out.append(open).append(close);
            return;
        }
        out.append(open);
        for (int i = 0; i < size; i++) {
            if (i > 0) {
                out.append(itemSeparator);
            }
            if (indent != null) {
                out.append('\n').repeat(" ", indent * (depth + 1));
            }
            item.accept(i);
        }
        if (indent != null) {
            out.append('\n').repeat(" ", indent * depth);
        }
        out.append(close);
    }

    private void string(String s, StringBuilder out) {
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
                    if (c < 0x20 || (ensureAscii && c > 0x7E)) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /** Python's {@code repr(float)}: shortest digits, fixed notation for exponents -4..15, else "1e-05". */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) {
            return "NaN";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "Infinity" : "-Infinity";
        }
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        BigDecimal shortest = new BigDecimal(Double.toString(d)).stripTrailingZeros();
        int exponent = shortest.precision() - shortest.scale() - 1; // position of the leading digit
        if (exponent >= -4 && exponent < 16) {
            String plain = shortest.toPlainString();
            return plain.contains(".") ? plain : plain + ".0";
        }
        String digits = shortest.unscaledValue().abs().toString();
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        return (d < 0 ? "-" : "") + mantissa + "e" + (exponent < 0 ? "-" : "+") + String.format("%02d", Math.abs(exponent));
    }
}
