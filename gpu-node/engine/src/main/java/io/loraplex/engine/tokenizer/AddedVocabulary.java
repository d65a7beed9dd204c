package io.loraplex.engine.tokenizer;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.HashSet;

/**
 * The {@code added_tokens} of tokenizer.json and how they are cut out of the input before anything
 * else runs, following HF's {@code AddedVocabulary::extract_and_normalize}: tokens with
 * {@code normalized: false} are matched on the raw input, the remaining text is normalized piece by
 * piece, then tokens with {@code normalized: true} are matched on the normalized text (their
 * patterns normalized the same way). Matching is leftmost-longest, as HF's Aho-Corasick automaton.
 */
final class AddedVocabulary {

    /** One entry of {@code added_tokens}. */
    record AddedToken(int id, String content, boolean special, boolean lstrip, boolean rstrip,
                      boolean singleWord, boolean normalized) {
    }

    private final Map<Integer, AddedToken> byId = new HashMap<>();
    private final Map<String, Integer> byContent = new HashMap<>();
    private final Set<String> specialContents = new HashSet<>();
    private final Matcher raw;        // tokens with normalized=false, matched on the input
    private final Matcher normalized; // tokens with normalized=true, patterns normalized

    AddedVocabulary(List<AddedToken> tokens, Normalizer normalizer) {
        List<AddedToken> rawTokens = new ArrayList<>();
        List<AddedToken> normTokens = new ArrayList<>();
        List<String> normPatterns = new ArrayList<>();
        for (AddedToken t : tokens) {
            if (t.content().isEmpty() || byContent.containsKey(t.content())) {
                continue; // HF skips empty and repeated contents
            }
            byId.put(t.id(), t);
            byContent.put(t.content(), t.id());
            if (t.special()) {
                specialContents.add(t.content());
            }
            if (t.normalized()) {
                normTokens.add(t);
                normPatterns.add(normalizer == null ? t.content() : normalizer.normalize(t.content()));
            } else {
                rawTokens.add(t);
            }
        }
        raw = new Matcher(rawTokens, rawTokens.stream().map(AddedToken::content).toList());
        normalized = new Matcher(normTokens, normPatterns);
    }

    /**
     * Parses {@code added_tokens}. An entry whose content is already in the model vocabulary takes
     * the model's id, as HF does (it warns when the file says otherwise).
     */
    static List<AddedToken> parse(Json array, BpeModel model) throws IOException {
        List<AddedToken> out = new ArrayList<>();
        if (array.isAbsentOrNull()) {
            return out;
        }
        for (Json t : array.elements()) {
            String content = t.string("content");
            int id = model.id(content).orElse(t.integer("id"));
            if (id < 0) {
                throw t.get("id").error("negative token id " + id);
            }
            out.add(new AddedToken(id, content, t.bool("special", false), t.bool("lstrip", false),
                    t.bool("rstrip", false), t.bool("single_word", false), t.bool("normalized", !t.bool("special", false))));
        }
        return out;
    }

    AddedToken token(int id) {
        return byId.get(id);
    }

    Integer id(String content) {
        return byContent.get(content);
    }

    boolean isSpecialContent(String content) {
        return specialContents.contains(content);
    }

    int maxId() {
        return byId.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1);
    }

    /** The input split on added tokens and normalized around them (HF's extract_and_normalize). */
    List<Piece> extractAndNormalize(String text, Normalizer normalizer) {
        List<Piece> pieces = raw.split(List.of(Piece.text(text, true)));
        List<Piece> normalizedPieces = new ArrayList<>(pieces.size());
        for (Piece p : pieces) {
            if (p.isToken() || normalizer == null) {
                normalizedPieces.add(p);
            } else {
                normalizedPieces.add(p.withText(normalizer.normalize(p.text())));
            }
        }
        return normalized.split(normalizedPieces);
    }

    /** Leftmost-longest matching of a set of patterns, with HF's strip and single-word rules. */
    private static final class Matcher {
        private final Map<Character, List<Integer>> byFirstChar = new HashMap<>(); // pattern indices, longest first
        private final List<AddedToken> tokens;
        private final List<String> patterns;

        Matcher(List<AddedToken> tokens, List<String> patterns) {
            this.tokens = tokens;
            this.patterns = patterns;
            for (int i = 0; i < patterns.size(); i++) {
                if (!patterns.get(i).isEmpty()) {
                    byFirstChar.computeIfAbsent(patterns.get(i).charAt(0), c -> new ArrayList<>()).add(i);
                }
            }
            Comparator<Integer> longestFirst = Comparator.comparingInt(i -> -patterns.get(i).length());
            // Equal lengths: the earlier-added pattern wins, as Aho-Corasick reports it first.
            byFirstChar.values().forEach(l -> l.sort(longestFirst.thenComparingInt(i -> i)));
        }

        List<Piece> split(List<Piece> pieces) {
            if (patterns.isEmpty()) {
                return dropEmpty(pieces);
            }
            List<Piece> out = new ArrayList<>();
            for (Piece p : pieces) {
                if (p.isToken()) {
                    out.add(p);
                } else {
                    splitOne(p, out);
                }
            }
            return out;
        }

        private static List<Piece> dropEmpty(List<Piece> pieces) {
            return pieces.stream().filter(p -> p.isToken() || !p.text().isEmpty()).toList();
        }

        private void splitOne(Piece piece, List<Piece> out) {
            String s = piece.text();
            int startOffset = 0; // end of the last emitted split
            int pos = 0;         // where the automaton resumes: the end of the last raw match
            while (pos < s.length()) {
                int match = longestAt(s, pos);
                if (match < 0) {
                    pos++;
                    continue;
                }
                AddedToken token = tokens.get(match);
                int start = pos;
                int stop = pos + patterns.get(match).length();
                pos = stop;
                if (token.singleWord()) {
                    boolean startSpace = start == 0 || !endsWithWordChar(s, start);
                    boolean stopSpace = stop == s.length() || !startsWithWordChar(s, stop);
                    if (!startSpace || !stopSpace) {
                        continue;
                    }
                }
                if (token.lstrip()) {
                    int newStart = start;
                    while (newStart > 0 && RustChars.isWhitespace(s.codePointBefore(newStart))) {
                        newStart -= Character.charCount(s.codePointBefore(newStart));
                    }
                    start = Math.max(newStart, startOffset);
                }
                if (token.rstrip()) {
                    while (stop < s.length() && RustChars.isWhitespace(s.codePointAt(stop))) {
                        stop += Character.charCount(s.codePointAt(stop));
                    }
                }
                if (startOffset < start) {
                    out.add(piece.slice(startOffset, start));
                }
                out.add(new Piece(s.substring(start, stop), piece.atStart() && start == 0, token.id()));
                startOffset = stop;
            }
            if (startOffset < s.length()) {
                out.add(piece.slice(startOffset, s.length()));
            }
        }

        /** The index of the longest pattern starting at {@code pos}, or -1. */
        private int longestAt(String s, int pos) {
            List<Integer> candidates = byFirstChar.get(s.charAt(pos));
            if (candidates == null) {
                return -1;
            }
            for (int i : candidates) {
                if (s.startsWith(patterns.get(i), pos)) {
                    return i;
                }
            }
            return -1;
        }

        private static boolean endsWithWordChar(String s, int end) {
            return RustChars.isWordChar(s.codePointBefore(end));
        }

        private static boolean startsWithWordChar(String s, int start) {
            return RustChars.isWordChar(s.codePointAt(start));
        }
    }
}
