package io.loraplex.engine.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntPredicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a split does with the delimiters it finds (HF's {@code SplitDelimiterBehavior}), and the
 * two ways delimiters are found: by regex and by character predicate. Both first produce the
 * alternating list of delimiter and non-delimiter spans HF's {@code Pattern::find_matches} does,
 * so every behaviour folds the same input as HF's.
 */
enum SplitBehavior {
    REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS;

    /** A span of the text and whether it is a delimiter. */
    record Span(int start, int end, boolean delimiter) {
    }

    static SplitBehavior parse(Json where, String name) throws java.io.IOException {
        return switch (name) {
            case "Removed" -> REMOVED;
            case "Isolated" -> ISOLATED;
            case "MergedWithPrevious" -> MERGED_WITH_PREVIOUS;
            case "MergedWithNext" -> MERGED_WITH_NEXT;
            case "Contiguous" -> CONTIGUOUS;
            default -> throw where.error("unsupported split behavior '" + name
                    + "' (supported: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
        };
    }

    /** Every regex match and every gap between them, in order. */
    static List<Span> spans(Pattern pattern, String text, boolean invert) {
        List<Span> spans = new ArrayList<>();
        if (text.isEmpty()) {
            spans.add(new Span(0, 0, invert));
            return spans;
        }
        Matcher m = pattern.matcher(text);
        int prev = 0;
        while (m.find()) {
            if (prev != m.start()) {
                spans.add(new Span(prev, m.start(), invert));
            }
            spans.add(new Span(m.start(), m.end(), !invert));
            prev = m.end();
        }
        if (prev != text.length()) {
            spans.add(new Span(prev, text.length(), invert));
        }
        return spans;
    }

    /** Every character for which {@code delimiter} holds (each its own span), and the runs between. */
    static List<Span> spans(IntPredicate delimiter, String text) {
        List<Span> spans = new ArrayList<>();
        if (text.isEmpty()) {
            spans.add(new Span(0, 0, false));
            return spans;
        }
        int lastOffset = 0;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            int next = i + Character.charCount(cp);
            if (delimiter.test(cp)) {
                if (lastOffset < i) {
                    spans.add(new Span(lastOffset, i, false));
                }
                spans.add(new Span(i, next, true));
                lastOffset = next;
            }
            i = next;
        }
        if (lastOffset < text.length()) {
            spans.add(new Span(lastOffset, text.length(), false));
        }
        return spans;
    }

    /** Splits {@code piece} at {@code spans} with this behaviour; empty results are dropped as in HF. */
    List<Piece> split(Piece piece, List<Span> spans) {
        List<int[]> ranges = new ArrayList<>(); // [start, end, removed(0/1)]
        boolean previousDelimiter = false;
        switch (this) {
            case ISOLATED -> spans.forEach(s -> ranges.add(new int[] {s.start(), s.end(), 0}));
            case REMOVED -> spans.forEach(s -> ranges.add(new int[] {s.start(), s.end(), s.delimiter() ? 1 : 0}));
            case CONTIGUOUS -> {
                for (Span s : spans) {
                    if (s.delimiter() == previousDelimiter && !ranges.isEmpty()) {
                        ranges.getLast()[1] = s.end();
                    } else {
                        ranges.add(new int[] {s.start(), s.end(), 0});
                    }
                    previousDelimiter = s.delimiter();
                }
            }
            case MERGED_WITH_PREVIOUS -> {
                for (Span s : spans) {
                    if (s.delimiter() && !previousDelimiter && !ranges.isEmpty()) {
                        ranges.getLast()[1] = s.end();
                    } else {
                        ranges.add(new int[] {s.start(), s.end(), 0});
                    }
                    previousDelimiter = s.delimiter();
                }
            }
            case MERGED_WITH_NEXT -> {
                // HF folds from the right: a delimiter joins the span after it.
                for (Span s : spans.reversed()) {
                    if (s.delimiter() && !previousDelimiter && !ranges.isEmpty()) {
                        ranges.getLast()[0] = s.start();
                    } else {
                        ranges.add(new int[] {s.start(), s.end(), 0});
                    }
                    previousDelimiter = s.delimiter();
                }
                java.util.Collections.reverse(ranges);
            }
        }
        List<Piece> out = new ArrayList<>(ranges.size());
        for (int[] r : ranges) {
            if (r[2] == 0 && r[1] > r[0]) {
                out.add(piece.slice(r[0], r[1]));
            }
        }
        return out;
    }
}
