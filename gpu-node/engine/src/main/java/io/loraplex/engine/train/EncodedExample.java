package io.loraplex.engine.train;

/**
 * One example as the model sees it: the token ids of the rendered conversation and which of them
 * carry the loss (the assistant's).
 *
 * @param line   the line of the dataset it came from (1-based)
 * @param tokens (T) token ids
 * @param target (T) true where token t is predicted with a loss (from position t−1)
 */
public record EncodedExample(int line, int[] tokens, boolean[] target) {

    public EncodedExample {
        if (tokens.length != target.length) {
            throw new IllegalArgumentException("tokens and target must have the same length");
        }
    }

    /** Tokens that carry the loss. */
    public int targetCount() {
        int n = 0;
        for (int t = 1; t < target.length; t++) {
            if (target[t]) {
                n++;
            }
        }
        return n;
    }
}
