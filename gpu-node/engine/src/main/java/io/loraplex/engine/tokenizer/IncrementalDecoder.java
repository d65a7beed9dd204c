package io.loraplex.engine.tokenizer;

/**
 * Streams generated text token by token. Everything {@link #add} and {@link #flush} return,
 * concatenated, equals {@code tokenizer.decode(allIds, skipSpecialTokens)}, and no piece ends in
 * half a character.
 *
 * <p>How: each step decodes a short window of recent ids twice, without and with the new ones,
 * and returns the difference (the approach of HF's {@code DecodeStream} and TGI). Decoding a window
 * instead of everything keeps a step cheap; taking a difference of two decodings that start at the
 * same id cancels the rules that only apply at the start of a decode (Metaspace drops the first
 * piece's '▁', Strip drops the first space). Text is held back while it ends in U+FFFD (bytes of a
 * character still to come) or in a run of {@code <0xNN>} pieces, which ByteFallback decodes as a
 * whole (a skipped special token does not end such a run: it is removed before decoding). The window only moves past text that decoded to something non-empty, so that its first
 * characters, which those start rules touch, are always in both decodings.
 */
public final class IncrementalDecoder {

    private final Tokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private final IntList ids = new IntList(64);
    private int windowStart;   // first id of the window both decodings start at
    private int emittedUpTo;   // ids before this index are accounted for in the returned text
    private String windowText = ""; // decode(ids[windowStart, emittedUpTo))

    public IncrementalDecoder(Tokenizer tokenizer, boolean skipSpecialTokens) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
    }

    /** Adds one generated id; returns the text it completes (often empty, sometimes several characters). */
    public String add(int tokenId) {
        ids.add(tokenId);
        if (tokenizer.continuesByteRun(tokenId, skipSpecialTokens)) {
            return ""; // a run of byte pieces may go on; ByteFallback decodes it as one
        }
        return emit(false);
    }

    /** Returns whatever is still held back (an incomplete character comes out as U+FFFD, as in decode). */
    public String flush() {
        return emit(true);
    }

    private String emit(boolean force) {
        if (emittedUpTo == ids.size()) {
            return "";
        }
        int[] window = ids.slice(windowStart, ids.size()); // (ids since windowStart)
        String text = tokenizer.decode(window, skipSpecialTokens);
        if (!text.startsWith(windowText) || text.length() == windowText.length()
                || (!force && text.endsWith("\uFFFD"))) {
            if (force && !text.startsWith(windowText)) {
                throw new IllegalStateException("decoding ids " + windowStart + ".." + ids.size()
                        + " does not extend the text already returned (" + windowText.length() + " chars)");
            }
            return "";
        }
        String delta = text.substring(windowText.length());
        // Move the window to the ids just consumed if they decode, alone, to something non-empty.
        String rest = tokenizer.decode(window, emittedUpTo - windowStart, window.length, skipSpecialTokens);
        if (!rest.isEmpty()) {
            windowStart = emittedUpTo;
            windowText = rest;
        } else {
            windowText = text;
        }
        emittedUpTo = ids.size();
        return delta;
    }
}
