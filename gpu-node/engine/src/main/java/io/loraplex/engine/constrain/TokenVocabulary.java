package io.loraplex.engine.constrain;

import io.loraplex.engine.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.Map;
import java.util.OptionalInt;
import java.util.WeakHashMap;

/**
 * The text each token adds in the middle of an output, of one tokenizer, in a trie so that tokens
 * sharing a prefix are walked through a grammar once. Special tokens and tokens that are not whole
 * characters on their own (a lone UTF-8 byte) have no text here: a constrained output never samples
 * them (EOS is handled apart).
 *
 * <p>A token's text is taken after an anchor token ({@code decode([a, t]) - decode([a])}), since a
 * SentencePiece decoder drops the leading space of a text's first token, which mid-output it keeps.
 */
final class TokenVocabulary {

    private static final Map<Tokenizer, TokenVocabulary> BY_TOKENIZER = new WeakHashMap<>();

    final int size;          // V: token ids 0..V-1 (the model's vocabulary may be larger than the tokenizer's)
    final String[] texts;    // (V) a token's text mid-output; null when a constrained output never samples it
    final Trie all;          // every token with a text
    final Trie special;      // the tokens whose text holds a quote, a backslash or a control character
    final long[] plain;      // (V/64) the other tokens as bits: inside a free string, each of them is allowed
    final long[] fragments;  // (V/64) tokens of UTF-8 bytes that are no whole character alone (all non-ASCII): free strings only

    private TokenVocabulary(Tokenizer tokenizer, int size) {
        this.size = size;
        this.texts = new String[size];
        String anchor = anchorText(tokenizer);
        int anchorId = anchorId(tokenizer);
        for (int id = 0; id < Math.min(size, tokenizer.vocabSize()); id++) {
            texts[id] = text(tokenizer, anchorId, anchor, id);
        }
        fragments = new long[(size + 63) / 64];
        int someFragment = -1;
        for (int id = 0; id < Math.min(size, tokenizer.vocabSize()); id++) {
            if (texts[id] == null && isFragment(tokenizer, anchorId, anchor, id)) {
                fragments[id >>> 6] |= 1L << id;
                someFragment = id;
            }
        }
        if (someFragment >= 0 && fusesBytes(tokenizer, anchorId, someFragment)) {
            Arrays.fill(fragments, 0);
        }
        plain = new long[(size + 63) / 64];
        for (int id = 0; id < size; id++) {
            if (texts[id] != null && isPlain(texts[id])) {
                plain[id >>> 6] |= 1L << id;
            }
        }
        all = new Trie(texts, size, id -> texts[id] != null);
        special = new Trie(texts, size, id -> texts[id] != null && !isPlain(texts[id]));
    }

    /**
     * Whether {@code id} is a piece of a multi-byte character: it decodes (after the anchor) to nothing
     * but replacement characters. An ASCII byte always decodes to itself, so such a token holds no quote,
     * backslash or control byte, and inside a free string it can only extend the string.
     */
    private static boolean isFragment(Tokenizer tokenizer, int anchorId, String anchor, int id) {
        if (tokenizer.isSpecial(id) || anchorId < 0) {
            return false;
        }
        try {
            String both = tokenizer.decode(new int[] {anchorId, id}, false);
            if (!both.startsWith(anchor) || both.length() == anchor.length()) {
                return false;
            }
            return both.substring(anchor.length()).chars().allMatch(c -> c == 0xFFFD);
        } catch (RuntimeException e) {
            return false;
        }
    }

    /**
     * Whether the decoder turns a byte piece that follows an unfinished character into a replacement
     * character too (HF's ByteFallback replaces every byte of an invalid run): then a quote spelled
     * as a byte piece after a fragment would vanish from the text while the grammar counted it, so
     * such a tokenizer gets no fragments (characters outside its vocabulary cannot be written
     * constrained). Byte-level decoders keep an ASCII byte after a broken sequence.
     */
    private boolean fusesBytes(Tokenizer tokenizer, int anchorId, int fragment) {
        for (int id = 0; id < Math.min(size, tokenizer.vocabSize()); id++) {
            if ("\"".equals(texts[id])) {
                String text = tokenizer.decode(new int[] {anchorId, fragment, id}, false);
                if (!text.endsWith("\"")) {
                    return true;
                }
            }
        }
        return false;
    }

    boolean isFragment(int token) {
        return token < size && (fragments[token >>> 6] & (1L << token)) != 0;
    }

    /** Whether every character of {@code text} stands for itself inside a JSON string. */
    static boolean isPlain(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < 0x20 || c == '"' || c == '\\') {
                return false;
            }
        }
        return true;
    }

    /** The vocabulary of {@code tokenizer} over ids {@code 0..size-1}, built once per tokenizer. */
    static synchronized TokenVocabulary of(Tokenizer tokenizer, int size) {
        TokenVocabulary v = BY_TOKENIZER.get(tokenizer);
        if (v == null || v.size != size) {
            v = new TokenVocabulary(tokenizer, size);
            BY_TOKENIZER.put(tokenizer, v);
        }
        return v;
    }

    private static int anchorId(Tokenizer tokenizer) {
        for (String piece : new String[] {"a", "x", "0", "{"}) {
            OptionalInt id = tokenizer.id(piece);
            if (id.isPresent()) {
                return id.getAsInt();
            }
        }
        return -1;
    }

    private static String anchorText(Tokenizer tokenizer) {
        int id = anchorId(tokenizer);
        return id < 0 ? "" : tokenizer.decode(new int[] {id}, false);
    }

    private static String text(Tokenizer tokenizer, int anchorId, String anchor, int id) {
        if (tokenizer.isSpecial(id)) {
            return null;
        }
        String text;
        try {
            if (anchorId >= 0) {
                String both = tokenizer.decode(new int[] {anchorId, id}, false);
                if (!both.startsWith(anchor)) {
                    return null;
                }
                text = both.substring(anchor.length());
            } else {
                text = tokenizer.decode(new int[] {id}, false);
            }
        } catch (RuntimeException e) {
            return null; // an id without a piece
        }
        return text.isEmpty() || text.indexOf('\uFFFD') >= 0 ? null : text;
    }

    /**
     * A trie over some tokens' texts: node n's children are {@code firstChild[n]}, then their
     * {@code nextSibling}s; {@code edge[n]} is the char into n; {@code tokenAt[n]} the first token
     * whose text ends at n, then {@code nextToken[t]}.
     */
    static final class Trie {
        int[] firstChild;        // (N)
        int[] nextSibling;       // (N)
        char[] edge;             // (N)
        int[] tokenAt;           // (N)
        final int[] nextToken;   // (V)
        int nodes;

        Trie(String[] texts, int size, java.util.function.IntPredicate include) {
            int capacity = 1024;
            firstChild = new int[capacity];
            nextSibling = new int[capacity];
            edge = new char[capacity];
            tokenAt = new int[capacity];
            nextToken = new int[size];
            Arrays.fill(nextToken, -1);
            nodes = 1;
            firstChild[0] = -1;
            nextSibling[0] = -1;
            tokenAt[0] = -1;
            for (int id = 0; id < size; id++) {
                if (!include.test(id)) {
                    continue;
                }
                String t = texts[id];
                int n = 0;
                for (int i = 0; i < t.length(); i++) {
                    char c = t.charAt(i);
                    int child = firstChild[n];
                    while (child >= 0 && edge[child] != c) {
                        child = nextSibling[child];
                    }
                    if (child < 0) {
                        if (nodes == firstChild.length) {
                            int grown = nodes * 2;
                            firstChild = Arrays.copyOf(firstChild, grown);
                            nextSibling = Arrays.copyOf(nextSibling, grown);
                            edge = Arrays.copyOf(edge, grown);
                            tokenAt = Arrays.copyOf(tokenAt, grown);
                        }
                        child = nodes++;
                        firstChild[child] = -1;
                        tokenAt[child] = -1;
                        edge[child] = c;
                        nextSibling[child] = firstChild[n];
                        firstChild[n] = child;
                    }
                    n = child;
                }
                nextToken[id] = tokenAt[n];
                tokenAt[n] = id;
            }
        }
    }
}
