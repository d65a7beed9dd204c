package io.loraplex.engine.lora;

/** An adapter the engine refuses, with a message naming the file, tensor and reason. */
public final class AdapterException extends Exception {

    /** Why an adapter was refused, for callers that react differently (HTTP status, metrics). */
    public enum Reason {
        NOT_FOUND, MISSING_FILE, PICKLE, TRUNCATED, MALFORMED, UNSUPPORTED, SHAPE_MISMATCH,
        RANK_TOO_LARGE, NON_FINITE, UNKNOWN_TARGET, ARCHITECTURE_MISMATCH, BASE_MISMATCH,
        /** Alpha, a weight or a projection's gain is above the engine's {@link AdapterBounds}. */
        OUT_OF_BOUNDS,
        /** The engine saw the adapter turn a request's logits non-finite and refuses it from then on. */
        QUARANTINED,
        /** The files' bytes do not hash to the content hash they were stored under (a corrupt or tampered blob). */
        CONTENT_MISMATCH
    }

    private final Reason reason;

    public AdapterException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public AdapterException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
