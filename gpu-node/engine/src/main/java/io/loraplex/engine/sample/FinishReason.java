package io.loraplex.engine.sample;

/** Why a request stopped generating; the first two are OpenAI's {@code finish_reason} values. */
public enum FinishReason {
    /** The model emitted an eos token, a stop token id or a stop string. */
    STOP,
    /** {@code max_tokens} (or the context window) was reached. */
    LENGTH,
    /** The client went away or asked to cancel. */
    CANCELLED,
    /** The request's deadline passed before it finished. */
    DEADLINE,
    /** The engine failed while serving the request. */
    ERROR
}
