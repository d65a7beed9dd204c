package io.loraplex.simulations.fleet.replay;

import java.util.Objects;
import java.util.Optional;

/**
 * One line of a request trace: at {@code atMs} after the trace's start, {@code tenant} asks its adapter
 * {@code model} for at most {@code maxTokens} after a prompt of about {@code promptTokens}, streamed or
 * not, within {@code session} (whose first request opens it) or none.
 */
record TracedRequest(long atMs, String tenant, String model, Optional<String> session, int promptTokens, int maxTokens,
        boolean stream) {

    TracedRequest {
        if (atMs < 0) {
            throw new IllegalArgumentException("at_ms must be at least 0, got " + atMs);
        }
        requireName("tenant", tenant);
        requireName("model", model);
        Objects.requireNonNull(session, "session");
        session.ifPresent(s -> requireName("session", s));
        if (promptTokens < 1) {
            throw new IllegalArgumentException("prompt_tokens must be at least 1, got " + promptTokens);
        }
        if (maxTokens < 1) {
            throw new IllegalArgumentException("max_tokens must be at least 1, got " + maxTokens);
        }
    }

    /** A CSV field of the trace: no separator, quote or line break, so the files need no quoting. */
    static void requireName(String field, String value) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException(field + " must not be blank");
        }
        if (value.chars().anyMatch(c -> c == ',' || c == '"' || c == '\n' || c == '\r')) {
            throw new IllegalArgumentException(field + " must not hold a comma, quote or line break, got '" + value + "'");
        }
    }
}
