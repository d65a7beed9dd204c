package io.loraplex.engine.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Rewrites Jinja2 template source where Jinjava would read it differently:
 * <ul>
 *   <li>newlines: Jinja2 reads {@code \r\n} and {@code \r} as {@code \n} and drops one final newline
 *       (no {@code keep_trailing_newline});</li>
 *   <li>{@code not}: in Jinja2 it binds looser than comparisons, {@code in} and {@code is} tests
 *       ({@code not x is defined} is {@code not (x is defined)}); Jinjava binds it tighter. Its
 *       operand is therefore parenthesized up to the next {@code and}, {@code or}, {@code if},
 *       {@code else}, comma or closing bracket. {@code is not} and {@code not in} are left alone.</li>
 *   <li>string literals: Jinja2 decodes Python escapes (backslash-u, backslash-x, octal, ...);
 *       Jinjava's lexer accepts only a few. Literals are decoded here and written back
 *       with the characters themselves, escaping only the backslash and the quote.</li>
 *   <li>keyword arguments: Jinja2 reads {@code f(n=a|length - 1)} as {@code n=(a|length - 1)}; Jinjava
 *       binds {@code =} tighter and subtracts 1 from the named parameter (Qwen3's
 *       {@code namespace(last_query_index=messages|length - 1)}). A keyword argument's value of more
 *       than one token is therefore parenthesized up to the next comma or closing bracket.</li>
 *   <li>reversing slices: Jinjava has no slice step; {@code x[::-1]} (Qwen3 walks its messages
 *       backwards so) becomes {@code (x|reverse)}, which Jinja2 gives the same items.</li>
 * </ul>
 * Only the inside of {@code {{ }}} and {@code {% %}} is touched; text, comments and raw blocks are copied.
 */
final class JinjaSource {

    private static final Set<String> ENDS_NOT = Set.of("and", "or", "if", "else");

    private JinjaSource() {
    }

    static String rewrite(String template) {
        String s = template.replace("\r\n", "\n").replace('\r', '\n');
        if (s.endsWith("\n")) {
            s = s.substring(0, s.length() - 1);
        }
        StringBuilder out = new StringBuilder(s.length() + 32);
        int i = 0;
        while (i < s.length()) {
            if (s.startsWith("{#", i)) {
                int end = s.indexOf("#}", i + 2);
                end = end < 0 ? s.length() : end + 2;
                out.append(s, i, end);
                i = end;
            } else if (s.startsWith("{{", i) || s.startsWith("{%", i)) {
                String close = s.startsWith("{{", i) ? "}}" : "%}";
                int end = tagEnd(s, i + 2, close);
                String inner = s.substring(i + 2, end);
                out.append(s, i, i + 2).append(rewriteTag(inner)).append(s, end, Math.min(s.length(), end + 2));
                i = Math.min(s.length(), end + 2);
                if (close.equals("%}") && inner.strip().replaceAll("^[-+]|[-+]$", "").strip().equals("raw")) {
                    int endRaw = s.indexOf("endraw", i);
                    int after = endRaw < 0 ? s.length() : tagEnd(s, endRaw, "%}") + 2;
                    out.append(s, i, Math.min(after, s.length()));
                    i = Math.min(after, s.length());
                }
            } else {
                out.append(s.charAt(i++));
            }
        }
        return out.toString();
    }

    /** The index of {@code close} ending the tag that starts before {@code from}, skipping string literals. */
    private static int tagEnd(String s, int from, String close) {
        int i = from;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '\'' || c == '"') {
                i = stringEnd(s, i);
            } else if (s.startsWith(close, i)) {
                return i;
            } else {
                i++;
            }
        }
        return s.length();
    }

    private static int stringEnd(String s, int open) {
        char quote = s.charAt(open);
        int i = open + 1;
        while (i < s.length() && s.charAt(i) != quote) {
            i += s.charAt(i) == '\\' ? 2 : 1;
        }
        return Math.min(i + 1, s.length());
    }

    /** The inside of one tag; whitespace-control markers at either end stay outside the rewrite. */
    private static String rewriteTag(String inner) {
        int start = 0;
        int end = inner.length();
        if (start < end && (inner.charAt(start) == '-' || inner.charAt(start) == '+')) {
            start++;
        }
        if (end > start && (inner.charAt(end - 1) == '-' || inner.charAt(end - 1) == '+')) {
            end--;
        }
        List<String> tokens = reverseSlices(tokenize(inner.substring(start, end)));
        return inner.substring(0, start) + emit(tokens, 0, tokens.size()) + inner.substring(end);
    }

    private static final List<String> REVERSE_SLICE = List.of("[", ":", ":", "-", "1", "]");

    /** Each {@code primary[::-1]} as {@code (primary|reverse)}, the primary being the chain of names, dots, calls and subscripts before it. */
    private static List<String> reverseSlices(List<String> tokens) {
        List<String> out = new ArrayList<>(tokens);
        for (int k = 0; k + REVERSE_SLICE.size() <= out.size(); k++) {
            if (!out.subList(k, k + REVERSE_SLICE.size()).equals(REVERSE_SLICE)) {
                continue;
            }
            int start = k;
            while (start > 0) {
                String t = out.get(start - 1);
                if (t.equals(")") || t.equals("]")) {
                    start = opening(out, start - 1);
                } else if (t.equals(".") || Character.isLetterOrDigit(t.charAt(0)) || t.charAt(0) == '_') {
                    start--;
                } else {
                    break;
                }
            }
            out.subList(k, k + REVERSE_SLICE.size()).clear();
            out.addAll(k, List.of("|", "reverse", ")"));
            out.add(start, "(");
        }
        return out;
    }

    /** The index of the bracket that {@code out.get(close)} closes. */
    private static int opening(List<String> out, int close) {
        int depth = 0;
        for (int j = close; j >= 0; j--) {
            switch (out.get(j)) {
                case ")", "]", "}" -> depth++;
                case "(", "[", "{" -> {
                    if (--depth == 0) {
                        return j;
                    }
                }
                default -> { }
            }
        }
        return 0;
    }

    /** Tokens: string literals, names, numbers, single other characters (whitespace included). */
    private static List<String> tokenize(String expr) {
        List<String> tokens = new ArrayList<>();
        int i = 0;
        while (i < expr.length()) {
            char c = expr.charAt(i);
            int j;
            if (c == '\'' || c == '"') {
                j = stringEnd(expr, i);
            } else if (Character.isLetterOrDigit(c) || c == '_') {
                j = i;
                while (j < expr.length() && (Character.isLetterOrDigit(expr.charAt(j)) || expr.charAt(j) == '_')) {
                    j++;
                }
            } else {
                j = i + 1;
            }
            tokens.add(expr.substring(i, j));
            i = j;
        }
        return tokens;
    }

    private static String emit(List<String> tokens, int from, int to) {
        StringBuilder out = new StringBuilder();
        int k = from;
        while (k < to) {
            String t = tokens.get(k);
            if (t.equals("not") && !"is".equals(neighbour(tokens, k, -1)) && !"in".equals(neighbour(tokens, k, +1))) {
                int end = operandEnd(tokens, k + 1, to);
                out.append("not (").append(emit(tokens, k + 1, end).strip()).append(")");
                k = end;
            } else if (isKeywordArgument(tokens, k)) {
                int end = argumentEnd(tokens, k + 1, to);
                String value = emit(tokens, k + 1, end);
                out.append('=');
                if (tokens.subList(k + 1, end).stream().filter(x -> !x.isBlank()).count() > 1) {
                    out.append('(').append(value.strip()).append(')');
                } else {
                    out.append(value);
                }
                k = end;
            } else {
                out.append(t.startsWith("'") || t.startsWith("\"") ? jinjavaLiteral(t) : t);
                k++;
            }
        }
        return out.toString();
    }

    /** A string literal (with its quotes) decoded as Python does, then quoted for Jinjava. */
    static String jinjavaLiteral(String literal) {
        char quote = literal.charAt(0);
        boolean closed = literal.length() >= 2 && literal.charAt(literal.length() - 1) == quote;
        String body = pythonUnescape(literal.substring(1, closed ? literal.length() - 1 : literal.length()));
        StringBuilder out = new StringBuilder(body.length() + 2).append(quote);
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (c == '\\' || c == quote) {
                out.append('\\');
            }
            out.append(c);
        }
        return out.append(closed ? String.valueOf(quote) : "").toString();
    }

    /** Python's unicode-escape decoding of a literal's body; unknown escapes stay as written. */
    static String pythonUnescape(String body) {
        StringBuilder out = new StringBuilder(body.length());
        for (int i = 0; i < body.length(); i++) {
            char c = body.charAt(i);
            if (c != '\\' || i + 1 >= body.length()) {
                out.append(c);
                continue;
            }
            char e = body.charAt(++i);
            switch (e) {
                case '\n' -> { } // a backslash before a line break continues the line
                case 't' -> out.append('\t');
                case 'r' -> out.append('\r');
                case 'n' -> out.append('\n');
                case 'a' -> out.append('\u0007');
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'v' -> out.append('\u000B');
                case '\\', '\'', '"' -> out.append(e);
                case 'x', 'u', 'U' -> {
                    int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    int end = i + 1 + digits;
                    if (end <= body.length() && body.substring(i + 1, end).chars().allMatch(h -> Character.digit(h, 16) >= 0)) {
                        out.appendCodePoint(Integer.parseInt(body.substring(i + 1, end), 16));
                        i = end - 1;
                    } else {
                        out.append('\\').append(e);
                    }
                }
                default -> {
                    if (e >= '0' && e <= '7') {
                        int end = i;
                        while (end < body.length() && end < i + 3 && body.charAt(end) >= '0' && body.charAt(end) <= '7') {
                            end++;
                        }
                        out.append((char) Integer.parseInt(body.substring(i, end), 8));
                        i = end - 1;
                    } else {
                        out.append('\\').append(e);
                    }
                }
            }
        }
        return out.toString();
    }

    /**
     * Whether token {@code k} is the {@code =} of a keyword argument {@code (name=} or {@code , name=}:
     * not part of {@code ==}, {@code !=}, {@code <=}, {@code >=}, and not a {@code set} assignment.
     */
    private static boolean isKeywordArgument(List<String> tokens, int k) {
        if (!tokens.get(k).equals("=") || k == 0 || k + 1 >= tokens.size() || tokens.get(k + 1).equals("=")) {
            return false;
        }
        int nameAt = k - 1;
        while (nameAt > 0 && tokens.get(nameAt).isBlank()) {
            nameAt--;
        }
        String name = tokens.get(nameAt);
        if (!(Character.isLetter(name.charAt(0)) || name.charAt(0) == '_')) {
            return false;
        }
        String opener = neighbour(tokens, nameAt, -1);
        return "(".equals(opener) || ",".equals(opener);
    }

    /** The end of a keyword argument's value: the next comma or closing bracket at its own depth. */
    private static int argumentEnd(List<String> tokens, int from, int to) {
        int depth = 0;
        for (int j = from; j < to; j++) {
            switch (tokens.get(j)) {
                case "(", "[", "{" -> depth++;
                case ")", "]", "}" -> {
                    if (depth == 0) {
                        return j;
                    }
                    depth--;
                }
                case "," -> {
                    if (depth == 0) {
                        return j;
                    }
                }
                default -> { }
            }
        }
        return to;
    }

    /** The nearest non-blank token before (-1) or after (+1) index {@code k}, or null. */
    private static String neighbour(List<String> tokens, int k, int step) {
        for (int j = k + step; j >= 0 && j < tokens.size(); j += step) {
            if (!tokens.get(j).isBlank()) {
                return tokens.get(j);
            }
        }
        return null;
    }

    private static int operandEnd(List<String> tokens, int from, int to) {
        int depth = 0;
        for (int j = from; j < to; j++) {
            String t = tokens.get(j);
            switch (t) {
                case "(", "[", "{" -> depth++;
                case ")", "]", "}" -> {
                    if (depth == 0) {
                        return j;
                    }
                    depth--;
                }
                default -> {
                    if (depth == 0 && (t.equals(",") || ENDS_NOT.contains(t))) {
                        return j;
                    }
                }
            }
        }
        return to;
    }
}
