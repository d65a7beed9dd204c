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
 *
 * <p>Given the prompt, the decoder starts with its last tokens as context, so that the first
 * generated token is decoded as it reads after the prompt, not as the start of a text: a
 * SentencePiece "▁mat" or a byte-level "Ġmat" that follows the prompt keeps its space, and
 * {@code decode(prompt) + everything returned == decode(prompt + generated)}. That holds whenever the
 * prompt does not end inside a character or a byte run that the first generated tokens continue;
 * there no such split of the text exists, and the generated tokens that complete the run are
 * returned as they decode alone.
 */
public final class IncrementalDecoder {

    private final Tokenizer tokenizer;
    private final boolean skipSpecialTokens;
    private final IntList ids = new IntList(64);
    private int windowStart;   // first id of the window both decodings start at
    private int emittedUpTo;   // ids before this index are accounted for in the returned text
    private String windowText = ""; // decode(ids[windowStart, emittedUpTo))
    private final int contextEnd;   // ids before this index are the prompt's, never returned

    /** Prompt tokens kept as context at most; enough to hold a word, a chat header, a run of blank lines. */
    static final int MAX_CONTEXT = 32;
    /** Prompt tokens kept as context at least (vLLM keeps 5): more than a start rule reaches into. */
    static final int MIN_CONTEXT = 4;

    /** Decodes generated text as the start of a text (no prompt before it). */
    public IncrementalDecoder(Tokenizer tokenizer, boolean skipSpecialTokens) {
        this(tokenizer, skipSpecialTokens, new int[0]);
    }

    /**
     * Decodes generated text as the continuation of {@code prompt}: the tokens added are read after
     * the prompt's last ones.
     *
     * @param prompt the prompt's token ids (not copied beyond the last {@link #MAX_CONTEXT})
     */
    public IncrementalDecoder(Tokenizer tokenizer, boolean skipSpecialTokens, int[] prompt) {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
        // The context must decode to text that is not just blanks: a start rule (Metaspace's dropped
        // '▁', Strip's leading spaces) would otherwise reach into the first generated piece.
        int from = Math.max(0, prompt.length - MIN_CONTEXT);
        String text = tokenizer.decode(prompt, from, prompt.length, skipSpecialTokens);
        while (from > 0 && prompt.length - from < MAX_CONTEXT && (text.isBlank() || text.startsWith("\uFFFD"))) {
            from--;
            text = tokenizer.decode(prompt, from, prompt.length, skipSpecialTokens);
        }
        for (int i = from; i < prompt.length; i++) {
            ids.add(prompt[i]);
        }
        this.contextEnd = ids.size();
        this.emittedUpTo = contextEnd;
        this.windowText = text;
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
        if (windowStart < contextEnd && !text.startsWith(windowText) && (force || !text.endsWith("\uFFFD"))) {
            // The prompt's last bytes and the first generated ones decode together into something
            // else than the prompt's text (a character or byte run split between them): no text
            // extends the prompt's, so the generated tokens so far are returned as they decode alone.
            String alone = tokenizer.decode(window, emittedUpTo - windowStart, window.length, skipSpecialTokens);
            windowStart = emittedUpTo;
            windowText = alone;
            emittedUpTo = ids.size();
            return alone;
        }
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
