package io.loraplex.engine.constrain;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/**
 * A JSON-schema {@code pattern} as a Thompson NFA over UTF-16 chars, matched a char at a time through
 * sets of NFA states. The subset: literals, escapes ({@code \d \w \s} and their negations, escaped
 * punctuation), classes with ranges and negation, {@code .}, groups ({@code (…)}, {@code (?:…)}),
 * {@code |}, the quantifiers {@code * + ? {n} {n,} {n,m}}, and {@code ^}/{@code $} at the ends.
 * Anything else (lookaround, back-references, lazy or possessive quantifiers, word boundaries,
 * Unicode classes) is refused by name. As in JSON Schema, a pattern without {@code ^} or {@code $} is
 * a search: it may match anywhere in the string.
 */
final class Regex {

    /** Copies of a counted repetition are spelled out; this bounds the NFA a pattern may build. */
    private static final int MAX_STATES = 20_000;

    private final String source;
    // NFA: state s reads a char of sets[s] and goes to next[s]; or (sets[s] == null) is a split to next[s] and alt[s]
    private final List<CharSet> sets = new ArrayList<>();
    private final List<Integer> next = new ArrayList<>();
    private final List<Integer> alt = new ArrayList<>();
    private final int start;
    private final int accept;
    private final BitSet initial;

    private Regex(String source) {
        this.source = source;
        Parser parser = new Parser(source);
        Ast ast = parser.parse();
        accept = newState(null, -1, -1);
        start = build(ast, accept);
        initial = closure(single(start));
    }

    /** Compiles a pattern or throws a {@link ConstraintException} naming the feature it does not support. */
    static Regex compile(String pattern) {
        return new Regex(pattern);
    }

    String source() {
        return source;
    }

    /** The state set before any char. */
    BitSet initial() {
        return initial;
    }

    /** The states after reading {@code c} from {@code states}; empty when the text can no longer match. */
    BitSet step(BitSet states, char c) {
        BitSet out = new BitSet();
        for (int s = states.nextSetBit(0); s >= 0; s = states.nextSetBit(s + 1)) {
            CharSet set = sets.get(s);
            if (set != null && set.contains(c)) {
                out.set(next.get(s));
            }
        }
        return closure(out);
    }

    boolean accepts(BitSet states) {
        return states.get(accept);
    }

    private BitSet single(int s) {
        BitSet b = new BitSet();
        b.set(s);
        return b;
    }

    private BitSet closure(BitSet states) {
        BitSet out = (BitSet) states.clone();
        ArrayList<Integer> work = new ArrayList<>();
        states.stream().forEach(work::add);
        while (!work.isEmpty()) {
            int s = work.removeLast();
            if (sets.get(s) == null && s != accept) {
                for (int t : new int[] {next.get(s), alt.get(s)}) {
                    if (t >= 0 && !out.get(t)) {
                        out.set(t);
                        work.add(t);
                    }
                }
            }
        }
        return out;
    }

    private int newState(CharSet set, int to, int other) {
        if (sets.size() >= MAX_STATES) {
            throw new ConstraintException("pattern", "pattern " + quoted(source) + " is too large (more than " + MAX_STATES
                    + " automaton states once its counted repetitions are spelled out)");
        }
        sets.add(set);
        next.add(to);
        alt.add(other);
        return sets.size() - 1;
    }

    /** Builds {@code ast} so that it continues to {@code then}; returns its entry state. */
    private int build(Ast ast, int then) {
        return switch (ast) {
            case Ast.Chars c -> newState(c.set(), then, -1);
            case Ast.Seq s -> {
                int entry = then;
                for (int i = s.parts().size() - 1; i >= 0; i--) {
                    entry = build(s.parts().get(i), entry);
                }
                yield entry;
            }
            case Ast.Alt a -> {
                int entry = build(a.options().getLast(), then);
                for (int i = a.options().size() - 2; i >= 0; i--) {
                    entry = newState(null, build(a.options().get(i), then), entry);
                }
                yield entry;
            }
            case Ast.Repeat r -> {
                int entry = then;
                if (r.max() < 0) {
                    // the loop: a split that either enters the body (which comes back to it) or leaves
                    int loop = newState(null, -1, then);
                    int body = build(r.body(), loop);
                    next.set(loop, body);
                    entry = loop;
                } else {
                    // each optional copy either runs (then offers the next) or skips to what follows them all
                    for (int i = r.min(); i < r.max(); i++) {
                        entry = newState(null, build(r.body(), entry), then);
                    }
                }
                for (int i = 0; i < r.min(); i++) {
                    entry = build(r.body(), entry);
                }
                yield entry;
            }
        };
    }

    static String quoted(String s) {
        return "'" + s + "'";
    }

    /** A set of chars: ranges, possibly negated. */
    record CharSet(char[] from, char[] to, boolean negated) {
        static CharSet of(char c) {
            return new CharSet(new char[] {c}, new char[] {c}, false);
        }

        static final CharSet DIGIT = new CharSet(new char[] {'0'}, new char[] {'9'}, false);
        static final CharSet WORD = new CharSet(new char[] {'a', 'A', '0', '_'}, new char[] {'z', 'Z', '9', '_'}, false);
        static final CharSet SPACE = new CharSet(new char[] {' ', '\t', '\n', '\r', '\f', 0x0B},
                new char[] {' ', '\t', '\n', '\r', '\f', 0x0B}, false);
        static final CharSet ANY = new CharSet(new char[0], new char[0], true);
        static final CharSet DOT = new CharSet(new char[] {'\n'}, new char[] {'\n'}, true);

        boolean contains(char c) {
            boolean in = false;
            for (int i = 0; i < from.length && !in; i++) {
                in = c >= from[i] && c <= to[i];
            }
            return in != negated;
        }

        CharSet negate() {
            return new CharSet(from, to, !negated);
        }
    }

    sealed interface Ast {
        record Chars(CharSet set) implements Ast {
        }

        record Seq(List<Ast> parts) implements Ast {
        }

        record Alt(List<Ast> options) implements Ast {
        }

        /** {@code max} -1: unbounded. */
        record Repeat(Ast body, int min, int max) implements Ast {
        }
    }

    /** Recursive descent over the supported subset; refusals name the construct and its position. */
    private static final class Parser {
        private final String p;
        private int i;

        Parser(String p) {
            this.p = p;
        }

        Ast parse() {
            boolean anchoredStart = p.startsWith("^");
            if (anchoredStart) {
                i = 1;
            }
            Ast body = alternation();
            boolean anchoredEnd = false;
            if (i < p.length() && p.charAt(i) == '$' && i == p.length() - 1) {
                anchoredEnd = true;
                i++;
            }
            if (i < p.length()) {
                throw refuse(p.charAt(i) == ')' ? "an unbalanced ')'" : "'" + p.charAt(i) + "' here");
            }
            List<Ast> parts = new ArrayList<>();
            if (!anchoredStart) {
                parts.add(new Ast.Repeat(new Ast.Chars(CharSet.ANY), 0, -1));
            }
            parts.add(body);
            if (!anchoredEnd) {
                parts.add(new Ast.Repeat(new Ast.Chars(CharSet.ANY), 0, -1));
            }
            return new Ast.Seq(parts);
        }

        private ConstraintException refuse(String what) {
            return new ConstraintException("pattern", "pattern " + quoted(p) + " uses " + what + " at position " + i
                    + ", which constrained decoding does not support");
        }

        private Ast alternation() {
            List<Ast> options = new ArrayList<>();
            options.add(sequence());
            while (i < p.length() && p.charAt(i) == '|') {
                i++;
                options.add(sequence());
            }
            return options.size() == 1 ? options.getFirst() : new Ast.Alt(options);
        }

        private Ast sequence() {
            List<Ast> parts = new ArrayList<>();
            while (i < p.length() && p.charAt(i) != '|' && p.charAt(i) != ')'
                    && !(p.charAt(i) == '$' && i == p.length() - 1)) {
                parts.add(repeat(atom()));
            }
            return new Ast.Seq(parts);
        }

        private Ast repeat(Ast atom) {
            if (i >= p.length()) {
                return atom;
            }
            int min;
            int max;
            char c = p.charAt(i);
            if (c == '*' || c == '+' || c == '?') {
                i++;
                min = c == '+' ? 1 : 0;
                max = c == '?' ? 1 : -1;
            } else if (c == '{' && i + 1 < p.length() && Character.isDigit(p.charAt(i + 1))) {
                int close = p.indexOf('}', i);
                if (close < 0) {
                    throw refuse("an unclosed '{'");
                }
                String[] bounds = p.substring(i + 1, close).split(",", -1);
                try {
                    min = Integer.parseInt(bounds[0]);
                    max = bounds.length == 1 ? min : bounds[1].isEmpty() ? -1 : Integer.parseInt(bounds[1]);
                } catch (NumberFormatException e) {
                    throw refuse("a malformed repetition '" + p.substring(i, close + 1) + "'");
                }
                if (bounds.length > 2 || (max >= 0 && max < min)) {
                    throw refuse("a malformed repetition '" + p.substring(i, close + 1) + "'");
                }
                i = close + 1;
            } else {
                return atom;
            }
            if (i < p.length() && (p.charAt(i) == '?' || p.charAt(i) == '+')) {
                throw refuse(p.charAt(i) == '?' ? "a lazy quantifier" : "a possessive quantifier");
            }
            if (i < p.length() && (p.charAt(i) == '*' || p.charAt(i) == '{')) {
                throw refuse("a repeated quantifier");
            }
            return new Ast.Repeat(atom, min, max);
        }

        private Ast atom() {
            char c = p.charAt(i);
            switch (c) {
                case '(' -> {
                    i++;
                    if (p.startsWith("?:", i)) {
                        i += 2;
                    } else if (i < p.length() && p.charAt(i) == '?') {
                        String what = p.startsWith("?=", i) || p.startsWith("?!", i) ? "a lookahead"
                                : p.startsWith("?<=", i) || p.startsWith("?<!", i) ? "a lookbehind"
                                : p.startsWith("?<", i) || p.startsWith("?P", i) ? "a named group" : "a group flag";
                        throw refuse(what);
                    }
                    Ast inner = alternation();
                    if (i >= p.length() || p.charAt(i) != ')') {
                        throw refuse("an unclosed '('");
                    }
                    i++;
                    return inner;
                }
                case '[' -> {
                    return new Ast.Chars(charClass());
                }
                case '.' -> {
                    i++;
                    return new Ast.Chars(CharSet.DOT);
                }
                case '\\' -> {
                    return new Ast.Chars(escape(false));
                }
                case '^' -> throw refuse("'^' other than at the start");
                case '$' -> throw refuse("'$' other than at the end");
                case '*', '+', '?' -> throw refuse("a quantifier with nothing to repeat");
                default -> {
                    i++;
                    return new Ast.Chars(CharSet.of(c));
                }
            }
        }

        private CharSet escape(boolean inClass) {
            i++; // the backslash
            if (i >= p.length()) {
                throw refuse("a trailing backslash");
            }
            char e = p.charAt(i++);
            return switch (e) {
                case 'd' -> CharSet.DIGIT;
                case 'D' -> CharSet.DIGIT.negate();
                case 'w' -> CharSet.WORD;
                case 'W' -> CharSet.WORD.negate();
                case 's' -> CharSet.SPACE;
                case 'S' -> CharSet.SPACE.negate();
                case 'n' -> CharSet.of('\n');
                case 't' -> CharSet.of('\t');
                case 'r' -> CharSet.of('\r');
                case 'f' -> CharSet.of('\f');
                case 'v' -> CharSet.of((char) 0x0B);
                case 'u' -> {
                    if (i + 4 > p.length()) {
                        throw refuse("a short \\u escape");
                    }
                    try {
                        char u = (char) Integer.parseInt(p.substring(i, i + 4), 16);
                        i += 4;
                        yield CharSet.of(u);
                    } catch (NumberFormatException ex) {
                        throw refuse("a malformed \\u escape");
                    }
                }
                case 'b' -> {
                    if (inClass) {
                        yield CharSet.of('\b');
                    }
                    i -= 2;
                    throw refuse("a word boundary '\\b'");
                }
                default -> {
                    if (Character.isLetterOrDigit(e)) {
                        i -= 2;
                        throw refuse(Character.isDigit(e) ? "a back-reference '\\" + e + "'" : "the escape '\\" + e + "'");
                    }
                    yield CharSet.of(e);
                }
            };
        }

        private CharSet charClass() {
            i++; // '['
            boolean negated = i < p.length() && p.charAt(i) == '^';
            if (negated) {
                i++;
            }
            StringBuilder from = new StringBuilder();
            StringBuilder to = new StringBuilder();
            List<CharSet> nested = new ArrayList<>();
            boolean first = true;
            while (i < p.length() && (p.charAt(i) != ']' || first)) {
                first = false;
                char lo;
                if (p.charAt(i) == '\\') {
                    CharSet e = escape(true);
                    if (e.from().length != 1 || e.negated() || e.from()[0] != e.to()[0]) {
                        nested.add(e);
                        continue;
                    }
                    lo = e.from()[0];
                } else if (p.startsWith("[:", i)) {
                    throw refuse("a POSIX class");
                } else {
                    lo = p.charAt(i++);
                }
                char hi = lo;
                if (i + 1 < p.length() && p.charAt(i) == '-' && p.charAt(i + 1) != ']') {
                    i++;
                    hi = p.charAt(i) == '\\' ? escape(true).from()[0] : p.charAt(i++);
                    if (hi < lo) {
                        throw refuse("the reversed range '" + lo + "-" + hi + "'");
                    }
                }
                from.append(lo);
                to.append(hi);
            }
            if (i >= p.length()) {
                throw refuse("an unclosed '['");
            }
            i++; // ']'
            if (nested.isEmpty()) {
                return new CharSet(from.toString().toCharArray(), to.toString().toCharArray(), negated);
            }
            // a class holding \d, \w, \s or their negations: spelled out over the BMP once
            StringBuilder f = new StringBuilder();
            StringBuilder t = new StringBuilder();
            CharSet plain = new CharSet(from.toString().toCharArray(), to.toString().toCharArray(), false);
            int runStart = -1;
            for (int c = 0; c <= 0x10000; c++) {
                char ch = (char) c;
                boolean in = c < 0x10000 && (plain.contains(ch) || nested.stream().anyMatch(s -> s.contains(ch)));
                if (in && runStart < 0) {
                    runStart = c;
                } else if (!in && runStart >= 0) {
                    f.append((char) runStart);
                    t.append((char) (c - 1));
                    runStart = -1;
                }
            }
            return new CharSet(f.toString().toCharArray(), t.toString().toCharArray(), negated);
        }
    }
}
