package io.loraplex.engine.tokenizer;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * The {@code pre_tokenizer} of tokenizer.json: splits normalized text into the words BPE sees, and
 * may transform them (ByteLevel maps bytes to its alphabet, Metaspace replaces spaces). Splits that
 * are added tokens pass through untouched, as in HF.
 */
sealed interface PreTokenizer {

    List<Piece> apply(List<Piece> pieces);

    String SUPPORTED = "Sequence, Split, ByteLevel, Metaspace, Digits, WhitespaceSplit, Whitespace, "
            + "Punctuation, CharDelimiterSplit, BertPreTokenizer";

    /** GPT-2's word regex, used by ByteLevel with {@code use_regex: true}. */
    Pattern GPT2_REGEX = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    /** HF's Whitespace pre-tokenizer regex (words or runs of other non-spaces). */
    Pattern WORDS = Pattern.compile("\\w+|[^\\w\\s]+", Pattern.UNICODE_CHARACTER_CLASS);

    static PreTokenizer parse(Json json) throws IOException {
        if (json.isAbsentOrNull()) {
            return null;
        }
        String type = json.type();
        return switch (type) {
            case "Sequence" -> {
                List<PreTokenizer> steps = new ArrayList<>();
                for (Json step : json.elements("pretokenizers")) {
                    steps.add(parse(step));
                }
                yield new Sequence(List.copyOf(steps));
            }
            case "Split" -> new Split(Normalizer.ReplacePattern.parse(json.required("pattern")),
                    SplitBehavior.parse(json.get("behavior"), json.string("behavior")), json.bool("invert", false));
            case "ByteLevel" -> new ByteLevel(json.bool("add_prefix_space", true), json.bool("use_regex", true));
            case "Metaspace" -> Metaspace.parse(json);
            case "Digits" -> new Digits(json.bool("individual_digits", false));
            case "WhitespaceSplit" -> new WhitespaceSplit();
            case "Whitespace" -> new Whitespace();
            case "Punctuation" -> new Punctuation(json.has("behavior")
                    ? SplitBehavior.parse(json.get("behavior"), json.string("behavior")) : SplitBehavior.ISOLATED);
            case "CharDelimiterSplit" -> new CharDelimiterSplit(singleChar(json, "delimiter"));
            case "BertPreTokenizer" -> new BertPreTokenizer();
            default -> throw json.unsupported("pre_tokenizer", type, SUPPORTED);
        };
    }

    /** Applies {@code f} to every split that is not an added token; drops empty results. */
    static List<Piece> splitEach(List<Piece> pieces, Function<Piece, List<Piece>> f) {
        List<Piece> out = new ArrayList<>(pieces.size() * 2);
        for (Piece p : pieces) {
            if (p.isToken()) {
                out.add(p);
                continue;
            }
            for (Piece q : f.apply(p)) {
                if (!q.text().isEmpty()) {
                    out.add(q);
                }
            }
        }
        return out;
    }

    static int singleChar(Json json, String field) throws IOException {
        String s = json.string(field);
        if (s.codePointCount(0, s.length()) != 1) {
            throw json.get(field).error("expected a single character, found \"" + s + "\"");
        }
        return s.codePointAt(0);
    }

    record Sequence(List<PreTokenizer> steps) implements PreTokenizer {
        @Override
        public List<Piece> apply(List<Piece> pieces) {
            for (PreTokenizer step : steps) {
                pieces = step.apply(pieces);
            }
            return pieces;
        }
    }

    record Split(Pattern pattern, SplitBehavior behavior, boolean invert) implements PreTokenizer {
        @Override
        public List<Piece> apply(List<Piece> pieces) {
            return splitEach(pieces, p -> behavior.split(p, SplitBehavior.spans(pattern, p.text(), invert)));
        }
    }

    /**
     * Optionally prefixes a space and splits with GPT-2's regex, then writes every split's UTF-8
     * bytes in the byte-level alphabet. The prefix goes on every split that lacks one, including
     * the text after an added token, as HF does.
     */
    record ByteLevel(boolean addPrefixSpace, boolean useRegex) implements PreTokenizer {
        @Override
        public List<Piece> apply(List<Piece> pieces) {
            List<Piece> split = splitEach(pieces, p -> {
                Piece q = addPrefixSpace && !p.text().startsWith(" ") ? p.withText(" " + p.text()) : p;
                return useRegex ? SplitBehavior.ISOLATED.split(q, SplitBehavior.spans(GPT2_REGEX, q.text(), false))
                        : List.of(q);
            });
            return splitEach(split, p -> List.of(p.withText(ByteLevelAlphabet.encode(p.text()))));
        }
    }

    enum PrependScheme { ALWAYS, FIRST, NEVER }

    /**
     * SentencePiece's space handling: spaces become the replacement character ('▁'), which is
     * prepended by the scheme ("first": only to the split at the very start of the input), and
     * with {@code split} each word keeps its leading '▁'.
     */
    record Metaspace(int replacement, PrependScheme scheme, boolean split) implements PreTokenizer {

        static PrependScheme scheme(Json json) throws IOException {
            if (json.has("prepend_scheme")) {
                return switch (json.string("prepend_scheme")) {
                    case "always" -> PrependScheme.ALWAYS;
                    case "first" -> PrependScheme.FIRST;
                    case "never" -> PrependScheme.NEVER;
                    default -> throw json.get("prepend_scheme").error("unsupported prepend_scheme '"
                            + json.string("prepend_scheme") + "' (supported: always, first, never)");
                };
            }
            // Files written before prepend_scheme existed say add_prefix_space.
            return json.bool("add_prefix_space", true) ? PrependScheme.ALWAYS : PrependScheme.NEVER;
        }

        static Metaspace parse(Json json) throws IOException {
            return new Metaspace(singleChar(json, "replacement"), scheme(json), json.bool("split", true));
        }

        @Override
        public List<Piece> apply(List<Piece> pieces) {
            String rep = Character.toString(replacement);
            return splitEach(pieces, p -> {
                String text = p.text().replace(" ", rep);
                boolean prepend = switch (scheme) {
                    case ALWAYS -> true;
                    case FIRST -> p.atStart();
                    case NEVER -> false;
                };
                if (prepend && !text.startsWith(rep)) {
                    text = rep + text;
                }
                Piece q = p.withText(text);
                return split ? SplitBehavior.MERGED_WITH_NEXT.split(q, SplitBehavior.spans(cp -> cp == replacement, text))
                        : List.of(q);
            });
        }
    }

    record Digits(boolean individual) implements PreTokenizer {
        @Override
        public List<Piece> apply(List<Piece> pieces) {
            SplitBehavior b = individual ? SplitBehavior.ISOLATED : SplitBehavior.CONTIGUOUS;
            return splitEach(pieces, p -> b.split(p, SplitBehavior.spans(RustChars::isNumeric, p.text())));
        }
    }

    record WhitespaceSplit() implements PreTokenizer {
        @Override
        public List<Piece> apply(List<Piece> pieces) {
            return splitEach(pieces, p -> SplitBehavior.REMOVED.split(p, SplitBehavior.spans(RustChars::isWhitespace, p.text())));
        }
    }

    record Whitespace() implements PreTokenizer {
        @Override
        public List<Piece> apply(List<Piece> pieces) {
            return splitEach(pieces, p -> SplitBehavior.REMOVED.split(p, SplitBehavior.spans(WORDS, p.text(), true)));
        }
    }

    record Punctuation(SplitBehavior behavior) implements PreTokenizer {
        @Override
        public List<Piece> apply(List<Piece> pieces) {
            return splitEach(pieces, p -> behavior.split(p, SplitBehavior.spans(RustChars::isPunctuation, p.text())));
        }
    }

    record CharDelimiterSplit(int delimiter) implements PreTokenizer {
        @Override
        public List<Piece> apply(List<Piece> pieces) {
            return splitEach(pieces, p -> SplitBehavior.REMOVED.split(p, SplitBehavior.spans(cp -> cp == delimiter, p.text())));
        }
    }

    /** Whitespace removed, then every punctuation character isolated. */
    record BertPreTokenizer() implements PreTokenizer {
        @Override
        public List<Piece> apply(List<Piece> pieces) {
            return new Punctuation(SplitBehavior.ISOLATED).apply(new WhitespaceSplit().apply(pieces));
        }
    }
}
