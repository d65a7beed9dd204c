package io.loraplex.engine.request;

import java.util.Objects;

/**
 * Why {@link RequestPreparation} refuses a request: a {@link Code}, the parameter at fault by its API
 * name (or null when no single one is), and a message for the client. Callers map the code to their
 * own answer (a 400, a CLI usage error) and copy the parameter; they never read the message for either.
 */
public final class RequestRefusal extends IllegalArgumentException {

    public enum Code {
        /** A parameter lies outside its limit, or the prompt cannot be rendered or is empty. */
        INVALID_VALUE,
        /** The prompt, or the prompt and max_tokens together, exceed the model's context. */
        CONTEXT_LENGTH_EXCEEDED
    }

    private final Code code;
    private final String param;

    public RequestRefusal(Code code, String param, String message) {
        super(message);
        this.code = Objects.requireNonNull(code, "code");
        this.param = param;
    }

    public Code code() {
        return code;
    }

    /** The parameter at fault by its API name ({@code temperature}, {@code messages}, {@code max_tokens}), or null. */
    public String param() {
        return param;
    }
}
