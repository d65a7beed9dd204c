package io.loraplex.engine.tokenizer;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Compiles the Oniguruma/Rust regexes of tokenizer files with Java. With
 * {@link Pattern#UNICODE_CHARACTER_CLASS}, Java's {@code \s}, {@code \w}, {@code \d} and
 * {@code (?i)} mean what they mean there (White_Space, Unicode word characters, Nd, Unicode case
 * folding). Two spellings differ and are rewritten: script properties ({@code \p{Han}} is
 * {@code \p{IsHan}} in Java) and Oniguruma's {@code \h}/{@code \H} (hex digit; Java reads
 * horizontal space).
 */
final class RustRegex {

    private static final Pattern PROPERTY = Pattern.compile("\\\\([pP])\\{\\^?([A-Za-z_ =]+)}");
    private static final int FLAGS = Pattern.UNICODE_CHARACTER_CLASS;

    private RustRegex() {
    }

    /** Compiles {@code regex}; a pattern Java cannot read is an IOException naming where it came from. */
    static Pattern compile(String regex, Json where) throws java.io.IOException {
        try {
            return Pattern.compile(translate(regex), FLAGS);
        } catch (PatternSyntaxException e) {
            throw where.error("regex not supported: " + e.getDescription() + " in /" + regex + "/");
        }
    }

    /** A pattern matching {@code literal} exactly (HF's {@code String} patterns). */
    static Pattern literal(String literal) {
        return Pattern.compile(Pattern.quote(literal), FLAGS);
    }

    static String translate(String regex) {
        StringBuilder out = new StringBuilder(regex.length() + 8);
        for (int i = 0; i < regex.length(); i++) {
            char c = regex.charAt(i);
            if (c != '\\' || i + 1 >= regex.length()) {
                out.append(c);
                continue;
            }
            char next = regex.charAt(i + 1);
            if (next == 'h' || next == 'H') {
                out.append(next == 'h' ? "[0-9a-fA-F]" : "[^0-9a-fA-F]");
                i++;
            } else if (next == 'p' || next == 'P') {
                Matcher m = PROPERTY.matcher(regex).region(i, regex.length());
                if (m.lookingAt()) {
                    out.append(property(m.group(0), m.group(1), m.group(2)));
                    i = m.end() - 1;
                } else {
                    out.append(c);
                }
            } else {
                out.append(c).append(next);
                i++;
            }
        }
        return out.toString();
    }

    /** {@code \p{Name}} as Java understands it: as is when Java knows it, else as a script/property {@code IsName}. */
    private static String property(String original, String pOrP, String name) {
        boolean negated = original.startsWith("\\" + pOrP + "{^");
        String java = "\\" + (negated ? (pOrP.equals("p") ? "P" : "p") : pOrP) + "{" + name + "}";
        if (compiles(java)) {
            return java;
        }
        String is = "\\" + (negated ? (pOrP.equals("p") ? "P" : "p") : pOrP) + "{Is" + name + "}";
        return compiles(is) ? is : java;
    }

    private static boolean compiles(String regex) {
        try {
            Pattern.compile(regex, FLAGS);
            return true;
        } catch (PatternSyntaxException e) {
            return false;
        }
    }
}
