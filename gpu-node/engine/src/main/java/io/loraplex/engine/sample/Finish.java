package io.loraplex.engine.sample;

/**
 * How and why a request ended. For {@link FinishReason#STOP} it says what stopped it, as vLLM's
 * {@code stop_reason}: the stop token id or the stop string; both are null for an eos token.
 */
public record Finish(FinishReason reason, Integer stopTokenId, String stopString) {

    public Finish {
        if (reason == null) {
            throw new IllegalArgumentException("a finish needs a reason");
        }
        if (stopTokenId != null && stopString != null) {
            throw new IllegalArgumentException("a finish has a stop token id or a stop string, not both");
        }
        if ((stopTokenId != null || stopString != null) && reason != FinishReason.STOP) {
            throw new IllegalArgumentException("only a STOP finish names a stop token or string, got " + reason);
        }
    }

    /** The model emitted one of its eos tokens. */
    public static Finish eos() {
        return new Finish(FinishReason.STOP, null, null);
    }

    /** The model emitted a token listed in {@code stop_token_ids}. */
    public static Finish stopToken(int tokenId) {
        return new Finish(FinishReason.STOP, tokenId, null);
    }

    /** The generated text completed one of the {@code stop} strings. */
    public static Finish stopString(String stop) {
        return new Finish(FinishReason.STOP, null, stop);
    }

    /** {@code max_tokens} was reached. */
    public static Finish length() {
        return new Finish(FinishReason.LENGTH, null, null);
    }

    /** A finish that carries nothing but its reason (cancellation, deadline, error). */
    public static Finish of(FinishReason reason) {
        return new Finish(reason, null, null);
    }
}
