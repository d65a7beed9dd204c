package io.loraplex.simulations.fleet;

import java.util.Optional;

/**
 * One request of a trace, as the shared trace format has it
 * ({@code at_ms,tenant,model,session,prompt_tokens,max_tokens,stream}, read and written by
 * {@link io.loraplex.simulations.fleet.replay.TraceFiles}): at {@code atMs} after the trace's start, {@code tenant}
 * asks its adapter {@code model} for at most {@code maxTokens} after a prompt of about {@code promptTokens},
 * streamed or not, within {@code session} (whose first request opens it) or none. The simulator and the replay of
 * the same trace on a real cluster both take this type.
 *
 * @param atMs    milliseconds since the start of the trace
 * @param model   what the client names in {@code model}: an adapter name of that tenant
 * @param session the session key, or empty for a request outside any session (the file's empty field; a string
 *                rather than an {@link Optional} so that a million-request trace in the simulator stays small)
 */
public record TraceRequest(long atMs, String tenant, String model, String session, int promptTokens, int maxTokens,
        boolean stream) {

    public TraceRequest {
        if (atMs < 0) {
            throw new IllegalArgumentException("at_ms must be at least 0, got " + atMs);
        }
        requireName("tenant", tenant);
        requireName("model", model);
        session = session == null ? "" : session;
        if (!session.isEmpty()) {
            requireName("session", session);
        }
        if (promptTokens < 1) {
            throw new IllegalArgumentException("prompt_tokens must be at least 1, got " + promptTokens);
        }
        if (maxTokens < 1) {
            throw new IllegalArgumentException("max_tokens must be at least 1, got " + maxTokens);
        }
    }

    public boolean inSession() {
        return !session.isEmpty();
    }

    /** The session key, if the request has one. */
    public Optional<String> sessionKey() {
        return session.isEmpty() ? Optional.empty() : Optional.of(session);
    }

    /** A name field of the shared formats: no separator, quote or line break, so the files need no quoting. */
    public static void requireName(String field, String value) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException(field + " must not be blank");
        }
        if (value.chars().anyMatch(c -> c == ',' || c == '"' || c == '\n' || c == '\r')) {
            throw new IllegalArgumentException(field + " must not hold a comma, quote or line break, got '" + value + "'");
        }
    }
}
