package io.loraplex.engine.constrain;

import io.loraplex.engine.constrain.Node.AnyObject;
import io.loraplex.engine.constrain.Node.AnyOf;
import io.loraplex.engine.constrain.Node.AnyValue;
import io.loraplex.engine.constrain.Node.ArrayNode;
import io.loraplex.engine.constrain.Node.Literals;
import io.loraplex.engine.constrain.Node.NumberNode;
import io.loraplex.engine.constrain.Node.ObjectNode;
import io.loraplex.engine.constrain.Node.StringNode;
import java.util.BitSet;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The JSON language of a compiled schema, walked a character at a time. A position is a
 * {@link State}: the set of {@link Stack}s of {@link Frame}s (what is left to match, innermost
 * first) that the text so far may have reached; alternatives (anyOf, an optional key, a number
 * that may go on or end) are parallel stacks. Everything is immutable with structural equality,
 * so a state can key a cache of token masks.
 *
 * <p>The output is compact JSON: no whitespace between tokens, and an object's keys in the order
 * the schema declares them (as OpenAI's structured outputs write them), which keeps the states few.
 */
final class Grammar {

    /** How deep an anyOf (through {@code $ref}s) may nest before its first character; stops left recursion. */
    private static final int MAX_EXPANSION = 32;

    static final StringNode ANY_STRING = new StringNode(null);
    static final ArrayNode ANY_ARRAY = new ArrayNode(new Node.Ref(AnyValue.INSTANCE), 0, -1);
    static final Literals KEYWORDS = new Literals(List.of("true", "false", "null"));
    private static final List<Node> ANY_OPTIONS = List.of(AnyObject.INSTANCE, ANY_ARRAY, ANY_STRING, NumberNode.NUMBER,
            KEYWORDS);

    private Grammar() {
    }

    /** The state before the first character of a value of {@code root}. */
    static State start(Node root) {
        return new State(Set.of(Stack.EMPTY.push(new Value(root))));
    }

    /** A position in the text: the stacks it may have reached; empty when the text is no valid prefix. */
    record State(Set<Stack> stacks) {

        boolean dead() {
            return stacks.isEmpty();
        }

        /** Whether the text so far is a whole value of the schema. */
        boolean accepting() {
            for (Stack s : stacks) {
                if (s.complete()) {
                    return true;
                }
            }
            return false;
        }

        /** Whether no character can follow: every stack is empty. */
        boolean finished() {
            for (Stack s : stacks) {
                if (s != Stack.EMPTY) {
                    return false;
                }
            }
            return !stacks.isEmpty();
        }

        /**
         * Whether every stack is inside a free string (no pattern, no escape pending): then any plain
         * character (not a quote, backslash or control character) keeps every stack alive as it is.
         */
        boolean inFreeString() {
            for (Stack s : stacks) {
                if (!(s.top() instanceof Str str) || str.regex() != null || str.escape() != 0) {
                    return false;
                }
            }
            return !stacks.isEmpty();
        }

        State step(char c) {
            Set<Stack> out = new HashSet<>();
            for (Stack s : stacks) {
                s.step(c, out);
            }
            return new State(Set.copyOf(out));
        }
    }

    /** What is left to match, innermost frame on top; {@link #EMPTY} when the value is complete. */
    record Stack(Frame top, Stack rest) {
        static final Stack EMPTY = new Stack(null, null);

        Stack push(Frame f) {
            return new Stack(f, this);
        }

        void step(char c, Set<Stack> out) {
            if (top == null) {
                return;
            }
            top.step(c, rest, out);
            if (top.canEnd()) {
                rest.step(c, out); // the frame may end here, so c may belong to what follows it
            }
        }

        boolean complete() {
            return top == null || (top.canEnd() && rest.complete());
        }
    }

    sealed interface Frame {
        /** Adds to {@code out} every stack reachable by reading {@code c} with this frame on top of {@code rest}. */
        void step(char c, Stack rest, Set<Stack> out);

        /** Whether this frame may end without another character (a number's digits). */
        default boolean canEnd() {
            return false;
        }
    }

    /** The first character of a value of {@code node} is next. */
    record Value(Node node) implements Frame {
        @Override
        public void step(char c, Stack rest, Set<Stack> out) {
            start(node, c, rest, out, 0);
        }

        private static void start(Node node, char c, Stack rest, Set<Stack> out, int depth) {
            switch (node) {
                case AnyValue any -> {
                    for (Node option : ANY_OPTIONS) {
                        start(option, c, rest, out, depth);
                    }
                }
                case ObjectNode object -> {
                    if (c == '{') {
                        out.add(rest.push(new Obj(object, 0, Phase.OPEN)));
                    }
                }
                case AnyObject object -> {
                    if (c == '{') {
                        out.add(rest.push(new FreeObj(Phase.OPEN)));
                    }
                }
                case ArrayNode array -> {
                    if (c == '[') {
                        out.add(rest.push(new Arr(array, 0, Phase.OPEN)));
                    }
                }
                case StringNode string -> {
                    if (c == '"') {
                        out.add(rest.push(new Str(string.pattern, string.pattern == null ? null : string.pattern.initial(), 0)));
                    }
                }
                case NumberNode number -> new Num(number.integer, Num.START, 0).step(c, rest, out);
                case Literals literals -> {
                    for (String text : literals.texts) {
                        new Lit(text, 0).step(c, rest, out);
                    }
                }
                case AnyOf anyOf -> {
                    if (depth < MAX_EXPANSION) {
                        for (Node.Ref option : anyOf.options) {
                            start(option.get(), c, rest, out, depth + 1);
                        }
                    }
                }
            }
        }
    }

    /** The rest of a fixed text (a literal, a key with its colon). */
    record Lit(String text, int pos) implements Frame {
        @Override
        public void step(char c, Stack rest, Set<Stack> out) {
            if (text.charAt(pos) == c) {
                out.add(pos + 1 == text.length() ? rest : rest.push(new Lit(text, pos + 1)));
            }
        }
    }

    /**
     * Inside a string, after its opening quote. {@code escape}: 0 none, 1 after a backslash, 2..5
     * inside the four hex digits of a {@code \}{@code u} escape. A string with a pattern takes its
     * characters unescaped only, each checked by the pattern's automaton ({@code regex} state {@code at}).
     */
    record Str(Regex regex, BitSet at, int escape) implements Frame {
        @Override
        public void step(char c, Stack rest, Set<Stack> out) {
            if (escape == 1) {
                if ("\"\\/bfnrt".indexOf(c) >= 0) {
                    out.add(rest.push(new Str(null, null, 0)));
                } else if (c == 'u') {
                    out.add(rest.push(new Str(null, null, 2)));
                }
                return;
            }
            if (escape >= 2) {
                if (Character.digit(c, 16) >= 0) {
                    out.add(rest.push(new Str(null, null, escape == 5 ? 0 : escape + 1)));
                }
                return;
            }
            if (c == '"') {
                if (regex == null || regex.accepts(at)) {
                    out.add(rest);
                }
            } else if (c == '\\') {
                if (regex == null) {
                    out.add(rest.push(new Str(null, null, 1)));
                }
            } else if (c >= 0x20) {
                if (regex == null) {
                    out.add(rest.push(this));
                } else {
                    BitSet next = regex.step(at, c);
                    if (!next.isEmpty()) {
                        out.add(rest.push(new Str(regex, next, 0)));
                    }
                }
            }
        }
    }

    /**
     * A JSON number, phase by phase of its grammar; {@code digits} counts the digits of the current
     * part. Parts are bounded (20 digits: any long, any double as Java or Jackson writes it; an exponent of
     * two digits, three when negative): an unbounded number is a prefix a model can extend forever, and a
     * random or confused model does. The exponent bound keeps every number finite as a double (at most
     * ~10^119; {@code 1e999} would parse as Infinity in JavaScript and fail a validator's number check).
     */
    record Num(boolean integer, int phase, int digits) implements Frame {
        static final int START = 0, MINUS = 1, ZERO = 2, INT = 3, DOT = 4, FRAC = 5, EXP = 6, EXP_SIGN = 7, EXP_DIGITS = 8,
                NEG_EXP_SIGN = 9, NEG_EXP_DIGITS = 10;
        static final int MAX_INT_DIGITS = 20;
        static final int MAX_FRAC_DIGITS = 20;
        static final int MAX_EXP_DIGITS = 2;
        static final int MAX_NEG_EXP_DIGITS = 3;

        @Override
        public void step(char c, Stack rest, Set<Stack> out) {
            boolean digit = c >= '0' && c <= '9';
            int next = switch (phase) {
                case START -> c == '-' ? MINUS : c == '0' ? ZERO : digit ? INT : -1;
                case MINUS -> c == '0' ? ZERO : digit ? INT : -1;
                case ZERO -> fraction(c);
                case INT -> digit ? (digits < MAX_INT_DIGITS ? INT : -1) : fraction(c);
                case DOT -> digit ? FRAC : -1;
                case FRAC -> digit ? (digits < MAX_FRAC_DIGITS ? FRAC : -1) : c == 'e' || c == 'E' ? EXP : -1;
                case EXP -> c == '+' ? EXP_SIGN : c == '-' ? NEG_EXP_SIGN : digit ? EXP_DIGITS : -1;
                case EXP_SIGN -> digit ? EXP_DIGITS : -1;
                case EXP_DIGITS -> digit && digits < MAX_EXP_DIGITS ? EXP_DIGITS : -1;
                case NEG_EXP_SIGN -> digit ? NEG_EXP_DIGITS : -1;
                case NEG_EXP_DIGITS -> digit && digits < MAX_NEG_EXP_DIGITS ? NEG_EXP_DIGITS : -1;
                default -> -1;
            };
            if (next >= 0) {
                // a digit in the same part counts on; any other character starts a part
                int count = digit ? (next == phase ? digits + 1 : 1) : 0;
                out.add(rest.push(new Num(integer, next, count)));
            }
        }

        private int fraction(char c) {
            if (integer) {
                return -1;
            }
            return c == '.' ? DOT : c == 'e' || c == 'E' ? EXP : -1;
        }

        @Override
        public boolean canEnd() {
            return phase == ZERO || phase == INT || phase == FRAC || phase == EXP_DIGITS || phase == NEG_EXP_DIGITS;
        }
    }

    /** Where an object or array is between its brackets. */
    enum Phase {
        /** After the opening bracket: a first member or the closing bracket. */
        OPEN,
        /** After a member: a comma or the closing bracket. */
        AFTER,
        /** After a comma: a member. */
        MEMBER
    }

    /** An object of a schema; {@code next} is the first property not yet written or skipped. */
    record Obj(ObjectNode node, int next, Phase phase) implements Frame {
        @Override
        public void step(char c, Stack rest, Set<Stack> out) {
            List<Node.Property> props = node.properties;
            if (phase == Phase.AFTER) {
                if (c == ',' && next < props.size()) {
                    out.add(rest.push(new Obj(node, next, Phase.MEMBER)));
                } else if (c == '}' && optionalFrom(next)) {
                    out.add(rest);
                }
                return;
            }
            if (c == '}' && phase == Phase.OPEN && optionalFrom(next)) {
                out.add(rest);
            }
            // any later property may come next, as long as no required one is skipped
            for (int i = next; i < props.size(); i++) {
                Node.Property p = props.get(i);
                Stack member = rest.push(new Obj(node, i + 1, Phase.AFTER)).push(new Value(p.value().get()))
                        .push(new Lit(p.keyText(), 0));
                member.step(c, out);
                if (p.required()) {
                    break;
                }
            }
        }

        private boolean optionalFrom(int i) {
            for (int j = i; j < node.properties.size(); j++) {
                if (node.properties.get(j).required()) {
                    return false;
                }
            }
            return true;
        }
    }

    /** An object with any keys and values. */
    record FreeObj(Phase phase) implements Frame {
        @Override
        public void step(char c, Stack rest, Set<Stack> out) {
            if (phase != Phase.MEMBER && c == '}') {
                out.add(rest);
            } else if (phase == Phase.AFTER && c == ',') {
                out.add(rest.push(new FreeObj(Phase.MEMBER)));
            } else if (phase != Phase.AFTER && c == '"') {
                out.add(rest.push(new FreeObj(Phase.AFTER)).push(new Value(AnyValue.INSTANCE)).push(new Lit(":", 0))
                        .push(new Str(null, null, 0)));
            }
        }
    }

    /** An array; {@code count} members written so far, counted only as far as the limits need. */
    record Arr(ArrayNode node, int count, Phase phase) implements Frame {
        @Override
        public void step(char c, Stack rest, Set<Stack> out) {
            if (phase == Phase.AFTER) {
                if (c == ',' && (node.maxItems < 0 || count < node.maxItems)) {
                    out.add(rest.push(new Arr(node, count, Phase.MEMBER)));
                } else if (c == ']' && count >= node.minItems) {
                    out.add(rest);
                }
                return;
            }
            if (phase == Phase.OPEN && c == ']' && node.minItems == 0) {
                out.add(rest);
                return;
            }
            if (phase == Phase.OPEN && node.maxItems == 0) {
                return;
            }
            int counted = Math.min(count + 1, Math.max(node.minItems, node.maxItems));
            rest.push(new Arr(node, counted, Phase.AFTER)).push(new Value(node.items.get())).step(c, out);
        }
    }
}
