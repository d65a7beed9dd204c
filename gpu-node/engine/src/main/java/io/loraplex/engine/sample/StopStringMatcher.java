package io.loraplex.engine.sample;

import java.util.List;

/**
 * Finds stop strings in text that arrives in pieces (one detokenized chunk per token or so), and
 * says how much of it may be streamed to the client now.
 *
 * <p>Text that could still turn out to be the start of a stop string is held back until it either
 * completes one or cannot any more. When a stop string completes, the output ends just before it
 * and the stop string is not emitted (OpenAI). If several could match, the one that completes
 * first wins, and of those ending at the same character the longest: this is what a client reading
 * character by character would see, so the result never depends on how the text was chunked.
 *
 * <p>One per request; not thread-safe. After a stop or {@link #flush()} it accepts no more text.
 */
public final class StopStringMatcher {

    /**
     * @param text what may be sent to the client now (possibly empty)
     * @param stop the stop string that completed, after which nothing more may be sent; null to go on
     */
    public record Emit(String text, String stop) {

        public Emit {
            if (text == null) {
                throw new IllegalArgumentException("emitted text must not be null (use \"\")");
            }
        }

        public boolean stopped() {
            return stop != null;
        }
    }

    private final List<String> stops;
    private final StringBuilder held = new StringBuilder(); // text received but not emitted yet
    private boolean finished;

    public StopStringMatcher(List<String> stops) {
        for (int i = 0; i < stops.size(); i++) {
            if (stops.get(i) == null || stops.get(i).isEmpty()) {
                throw new IllegalArgumentException("stop[" + i + "] must be a non-empty string");
            }
        }
        this.stops = List.copyOf(stops);
    }

    /** Adds newly generated text; returns what may be emitted and whether a stop string completed. */
    public Emit feed(String newText) {
        if (finished) {
            throw new IllegalStateException("no text may follow a completed stop string or a flush");
        }
        held.append(newText);
        String text = held.toString();

        // Earliest end, then earliest start. Held text never contains a whole stop string (that
        // would have stopped an earlier feed), so searching all of it finds only new matches.
        String stop = null;
        int stopStart = -1;
        int stopEnd = Integer.MAX_VALUE;
        for (String s : stops) {
            int start = text.indexOf(s);
            if (start >= 0) {
                int end = start + s.length();
                if (end < stopEnd || (end == stopEnd && start < stopStart)) {
                    stop = s;
                    stopStart = start;
                    stopEnd = end;
                }
            }
        }
        if (stop != null) {
            finished = true;
            held.setLength(0);
            return new Emit(text.substring(0, stopStart), stop);
        }

        int keep = longestPendingSuffix(text);
        held.delete(0, text.length() - keep);
        return new Emit(text.substring(0, text.length() - keep), null);
    }

    /** Generation ended for another reason: releases whatever was held back. */
    public String flush() {
        finished = true;
        String rest = held.toString();
        held.setLength(0);
        return rest;
    }

    /** The length of the longest suffix of {@code text} that is a proper prefix of some stop string. */
    private int longestPendingSuffix(String text) {
        int longest = 0;
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, text.length()); k > longest; k--) {
                if (text.regionMatches(text.length() - k, s, 0, k)) {
                    longest = k;
                    break;
                }
            }
        }
        return longest;
    }
}
