package io.loraplex.engine.constrain;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A compiled schema lifted to the tokens of one tokenizer: for a grammar state, which tokens keep
 * the output a valid prefix (the mask), and where a token leads. States are interned to small ids;
 * transitions (state, char) and masks are cached by id, so a state met again (inside a string, at
 * the same key of the next array element) costs a lookup. A mask is computed by walking the
 * vocabulary's trie from the state, dropping a subtree as soon as its prefix leaves the language.
 *
 * <p>The caches are bounded: past {@link #MAX_STATES} states (or {@link #MAX_TRANSITIONS} transitions)
 * they are dropped and rebuilt, masks past {@link #MAX_MASK_BYTES} are dropped alone
 * ({@link #generation()} tells holders of ids to re-intern). Thread-safe (synchronized): one compiled
 * constraint is shared by every request with the same schema.
 */
public final class TokenConstraint {

    static final int MAX_STATES = 50_000;
    /** Transitions kept before the caches are dropped and rebuilt. */
    static final int MAX_TRANSITIONS = 2_000_000;
    /** Bytes of masks kept per compiled schema; past it the masks (not the states) are dropped. */
    static final long MAX_MASK_BYTES = 8L << 20;
    private static final int DEAD = -1;

    private final Node root;
    private final TokenVocabulary vocab;
    private final Map<Grammar.State, Integer> ids = new HashMap<>();
    private final List<Grammar.State> states = new ArrayList<>();
    private final Map<Long, Integer> transitions = new HashMap<>(); // (state id << 16 | char) → state id or DEAD
    private final List<long[]> masks = new ArrayList<>();           // (state id) → (V/64) bits of allowed tokens, lazily
    private int generation;
    private long maskBytes;

    TokenConstraint(Node root, TokenVocabulary vocab) {
        this.root = root;
        this.vocab = vocab;
    }

    /** The vocabulary size V the masks cover. */
    public int vocabSize() {
        return vocab.size;
    }

    synchronized int generation() {
        return generation;
    }

    /** The state before any output. */
    synchronized int start() {
        return intern(Grammar.start(root));
    }

    synchronized Grammar.State state(int id) {
        return states.get(id);
    }

    synchronized int intern(Grammar.State state) {
        Integer id = ids.get(state);
        if (id != null) {
            return id;
        }
        if (states.size() >= MAX_STATES || transitions.size() >= MAX_TRANSITIONS) {
            ids.clear();
            states.clear();
            transitions.clear();
            masks.clear();
            maskBytes = 0;
            generation++;
        }
        ids.put(state, states.size());
        states.add(state);
        masks.add(null);
        return states.size() - 1;
    }

    /** The state after {@code c}, or {@link #DEAD}. */
    private int step(int state, char c) {
        long key = ((long) state << 16) | c;
        Integer known = transitions.get(key);
        if (known != null) {
            return known;
        }
        int gen = generation;
        Grammar.State next = states.get(state).step(c);
        int id = next.dead() ? DEAD : intern(next);
        if (gen == generation) {
            transitions.put(key, id);
        }
        return id;
    }

    /** The state after {@code token}'s text, or -1 when the token leaves the language (or has no text). */
    synchronized int advance(int state, int token) {
        String text = token < vocab.size ? vocab.texts[token] : null;
        if (text == null) {
            // a byte piece of a character extends a free string and leaves its state as it is
            return vocab.isFragment(token) && states.get(state).inFreeString() ? state : DEAD;
        }
        Grammar.State from = states.get(state);
        int at = state;
        for (int i = 0; i < text.length() && at != DEAD; i++) {
            int gen = generation;
            at = step(at, text.charAt(i));
            if (gen != generation) {
                // the caches were dropped under us: finish this token on the states themselves
                Grammar.State s = from;
                for (int j = 0; j < text.length() && !s.dead(); j++) {
                    s = s.step(text.charAt(j));
                }
                return s.dead() ? DEAD : intern(s);
            }
        }
        return at;
    }

    /** The tokens that may follow {@code state} as bits (token t: bit t % 64 of word t / 64); EOS not included. */
    synchronized long[] mask(int state) {
        long[] m = masks.get(state);
        Grammar.State s = states.get(state);
        while (m == null) {
            int gen = generation;
            if (s.inFreeString()) {
                // every plain token only extends the string: allowed without a walk; the few others are walked
                m = vocab.plain.clone();
                for (int i = 0; i < m.length; i++) {
                    m[i] |= vocab.fragments[i];
                }
                walk(vocab.special, 0, state, m);
            } else {
                m = new long[(vocab.size + 63) / 64];
                walk(vocab.all, 0, state, m);
            }
            if (gen == generation) {
                if (maskBytes + 8L * m.length > MAX_MASK_BYTES) {
                    masks.replaceAll(x -> null);
                    maskBytes = 0;
                }
                masks.set(state, m);
                maskBytes += 8L * m.length;
            } else {
                // the caches were dropped mid-walk (the mask is partial): intern the state anew and walk again
                m = null;
                state = intern(s);
            }
        }
        return m;
    }

    synchronized boolean accepting(int state) {
        return states.get(state).accepting();
    }

    synchronized boolean finished(int state) {
        return states.get(state).finished();
    }

    /** Marks every token below trie node {@code node} whose text stays in the language from {@code state}. */
    private void walk(TokenVocabulary.Trie trie, int node, int state, long[] mask) {
        int gen = generation;
        for (int child = trie.firstChild[node]; child >= 0; child = trie.nextSibling[child]) {
            int next = step(state, trie.edge[child]);
            if (gen != generation) {
                return; // caches dropped mid-walk: the caller does not keep this mask
            }
            if (next == DEAD) {
                continue;
            }
            for (int t = trie.tokenAt[child]; t >= 0; t = trie.nextToken[t]) {
                mask[t >>> 6] |= 1L << t;
            }
            walk(trie, child, next, mask);
        }
    }
}
