package io.loraplex.simulations.fleet;

import java.util.Objects;

/**
 * One request of a trace, as the shared trace format has it:
 * {@code at_ms,tenant,model,session,prompt_tokens,max_tokens,stream}.
 *
 * @param atMs         milliseconds since the start of the trace
 * @param model        what the client names in {@code model}: an adapter name of that tenant
 * @param session      the session key, or empty for a request outside any session
 */
public record TraceRequest(long atMs, String tenant, String model, String session, int promptTokens, int maxTokens,
        boolean stream) {

    public static final String HEADER = "at_ms,tenant,model,session,prompt_tokens,max_tokens,stream";

    public TraceRequest {
        Objects.requireNonNull(tenant, "tenant");
        Objects.requireNonNull(model, "model");
        session = session == null ? "" : session;
        if (atMs < 0) {
            throw new IllegalArgumentException("at_ms must be >= 0, was " + atMs);
        }
        if (promptTokens < 1 || maxTokens < 1) {
            throw new IllegalArgumentException("prompt_tokens and max_tokens must be >= 1, were " + promptTokens + " and " + maxTokens);
        }
    }

    public boolean inSession() {
        return !session.isEmpty();
    }

    /** The CSV line (names are written as they are: the trace format has no quoting, so names hold no commas). */
    public String csv() {
        return atMs + "," + tenant + "," + model + "," + session + "," + promptTokens + "," + maxTokens + "," + stream;
    }

    /** Parses one CSV line; {@code where} names the file and line for the error. */
    public static TraceRequest parse(String line, String where) {
        String[] f = line.split(",", -1);
        if (f.length != 7) {
            throw new IllegalArgumentException(where + ": expected 7 fields (" + HEADER + "), found " + f.length);
        }
        try {
            if (!f[6].equals("true") && !f[6].equals("false")) {
                throw new IllegalArgumentException("stream must be true or false, was '" + f[6] + "'");
            }
            return new TraceRequest(Long.parseLong(f[0]), f[1], f[2], f[3], Integer.parseInt(f[4]), Integer.parseInt(f[5]),
                    Boolean.parseBoolean(f[6]));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(where + ": at_ms, prompt_tokens and max_tokens must be numbers: " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
    }
}
