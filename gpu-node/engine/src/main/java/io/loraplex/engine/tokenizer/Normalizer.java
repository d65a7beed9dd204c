package io.loraplex.engine.tokenizer;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The {@code normalizer} of tokenizer.json: rewrites text before it is split. */
sealed interface Normalizer {

    String normalize(String text);

    String SUPPORTED = "Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase, Strip";

    /** Parses a normalizer; null JSON means none (null is returned). */
    static Normalizer parse(Json json) throws IOException {
        if (json.isAbsentOrNull()) {
            return null;
        }
        String type = json.type();
        return switch (type) {
            case "Sequence" -> {
                List<Normalizer> steps = new ArrayList<>();
                for (Json step : json.elements("normalizers")) {
                    steps.add(parse(step));
                }
                yield new Sequence(List.copyOf(steps));
            }
            case "Prepend" -> new Prepend(json.string("prepend"));
            case "Replace" -> new Replace(ReplacePattern.parse(json.required("pattern")), json.string("content"));
            case "NFC" -> new UnicodeForm(java.text.Normalizer.Form.NFC);
            case "NFD" -> new UnicodeForm(java.text.Normalizer.Form.NFD);
            case "NFKC" -> new UnicodeForm(java.text.Normalizer.Form.NFKC);
            case "NFKD" -> new UnicodeForm(java.text.Normalizer.Form.NFKD);
            case "Lowercase" -> new Lowercase();
            case "Strip" -> new Strip(json.bool("strip_left", true), json.bool("strip_right", true));
            default -> throw json.unsupported("normalizer", type, SUPPORTED);
        };
    }

    record Sequence(List<Normalizer> normalizers) implements Normalizer {
        @Override
        public String normalize(String text) {
            for (Normalizer n : normalizers) {
                text = n.normalize(text);
            }
            return text;
        }
    }

    /** Prepends to non-empty text only: an empty split stays empty and is dropped. */
    record Prepend(String prepend) implements Normalizer {
        @Override
        public String normalize(String text) {
            return text.isEmpty() ? text : prepend + text;
        }
    }

    record Replace(Pattern pattern, String content) implements Normalizer {
        @Override
        public String normalize(String text) {
            return pattern.matcher(text).replaceAll(Matcher.quoteReplacement(content));
        }
    }

    record UnicodeForm(java.text.Normalizer.Form form) implements Normalizer {
        @Override
        public String normalize(String text) {
            return java.text.Normalizer.normalize(text, form);
        }
    }

    /**
     * Lowercases character by character as Rust's {@code char::to_lowercase} does: without the
     * context rules of {@link String#toLowerCase} (a word-final 'Σ' stays 'σ'), but with
     * one-to-many mappings ('İ' becomes "i̇").
     */
    record Lowercase() implements Normalizer {
        @Override
        public String normalize(String text) {
            StringBuilder out = new StringBuilder(text.length());
            text.codePoints().forEach(cp -> {
                if (cp < 0x80) {
                    out.append((char) Character.toLowerCase(cp));
                } else {
                    out.append(new String(Character.toChars(cp)).toLowerCase(Locale.ROOT));
                }
            });
            return out.toString();
        }
    }

    record Strip(boolean left, boolean right) implements Normalizer {
        @Override
        public String normalize(String text) {
            int start = 0;
            int end = text.length();
            while (left && start < end && RustChars.isWhitespace(text.codePointAt(start))) {
                start += Character.charCount(text.codePointAt(start));
            }
            while (right && end > start && RustChars.isWhitespace(text.codePointBefore(end))) {
                end -= Character.charCount(text.codePointBefore(end));
            }
            return text.substring(start, end);
        }
    }

    /** HF's {@code {"String": "..."}} or {@code {"Regex": "..."}} pattern object. */
    final class ReplacePattern {
        private ReplacePattern() {
        }

        static Pattern parse(Json pattern) throws IOException {
            if (pattern.has("String")) {
                return RustRegex.literal(pattern.string("String"));
            }
            if (pattern.has("Regex")) {
                return RustRegex.compile(pattern.string("Regex"), pattern.get("Regex"));
            }
            throw pattern.error("expected {\"String\": ...} or {\"Regex\": ...}");
        }
    }
}
