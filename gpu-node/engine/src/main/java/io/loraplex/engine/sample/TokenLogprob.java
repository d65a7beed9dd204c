package io.loraplex.engine.sample;

/** A token id with its natural-log probability under the model's raw distribution. */
public record TokenLogprob(int token, double logprob) {

    public TokenLogprob {
        if (token < 0) {
            throw new IllegalArgumentException("token must be at least 0, got " + token);
        }
        if (!(logprob <= 0)) {
            throw new IllegalArgumentException("logprob of token " + token + " must be at most 0, got " + logprob);
        }
    }
}
