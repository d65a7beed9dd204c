package io.loraplex.engine.constrain;

import java.util.Arrays;
import java.util.List;

/**
 * One request's position in its {@link TokenConstraint}: which tokens it may sample now
 * ({@link #allowed}), advanced by each token sampled. Not thread-safe: it belongs to one request.
 */
public final class ConstraintState {

    private final TokenConstraint constraint;
    private final long[] eos;       // (V/64) the eos tokens as bits
    private Grammar.State state;
    private int id;
    private int generation;

    /** @param eosIds the tokens that end the output, allowed wherever the output is complete */
    public ConstraintState(TokenConstraint constraint, List<Integer> eosIds) {
        this.constraint = constraint;
        this.eos = new long[(constraint.vocabSize() + 63) / 64];
        for (int t : eosIds) {
            if (t >= 0 && t < constraint.vocabSize()) {
                eos[t >>> 6] |= 1L << t;
            }
        }
        this.generation = constraint.generation();
        this.id = constraint.start();
        this.state = constraint.state(id);
    }

    private int id() {
        if (generation != constraint.generation()) {
            id = constraint.intern(state);
            generation = constraint.generation();
        }
        return id;
    }

    /**
     * The tokens allowed now, as bits over V: those whose text keeps the output a valid prefix, and
     * the eos tokens once it is complete. Should the vocabulary offer no way on (no token spells what
     * the schema needs next), the eos tokens, so the request ends rather than stalls; with no eos
     * token either, everything (the output is then not valid, which a validator would tell).
     */
    public long[] allowed() {
        long[] mask = constraint.mask(id());
        boolean accepting = constraint.accepting(id());
        boolean any = false;
        for (long w : mask) {
            if (w != 0) {
                any = true;
                break;
            }
        }
        if (any && !accepting) {
            return mask;
        }
        long[] out = any ? mask.clone() : new long[mask.length];
        boolean hasEos = false;
        for (int i = 0; i < out.length; i++) {
            out[i] |= eos[i];
            hasEos |= eos[i] != 0;
        }
        if (!any && !hasEos) {
            Arrays.fill(out, -1L);
        }
        return out;
    }

    /** Moves past {@code token}; a token outside the language (only sampled when nothing was allowed) leaves the state. */
    public void advance(int token) {
        if (token < constraint.vocabSize() && (eos[token >>> 6] & (1L << token)) != 0) {
            return;
        }
        int next = constraint.advance(id(), token);
        if (next >= 0) {
            generation = constraint.generation();
            id = next;
            state = constraint.state(next);
        }
    }

    /** Whether the output is a complete value to which nothing can be added: it should end now. */
    public boolean finished() {
        return constraint.finished(id());
    }

    /** Whether the output so far is a complete value. */
    public boolean accepting() {
        return constraint.accepting(id());
    }
}
