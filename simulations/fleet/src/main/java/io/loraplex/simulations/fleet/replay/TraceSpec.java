package io.loraplex.simulations.fleet.replay;

/**
 * What a generated trace holds: {@code tenants} tenants with {@code adaptersPerTenant} adapters each,
 * requests arriving as a Poisson process at {@code requestsPerSecond} for {@code durationMs}, each
 * naming an adapter drawn from a Zipf law of exponent {@code zipfExponent} over all adapters (rank 1 the
 * most popular; ranks dealt round-robin to tenants, so each tenant has popular and rare ones). A share
 * {@code sessionShare} of arrivals opens a session of {@code turnsPerSession} turns on one adapter,
 * {@code thinkTimeMs} apart (turns past the end are dropped). Prompt and answer lengths are uniform in
 * their ranges; a share {@code streamShare} of requests streams. The same spec and seed give the same
 * trace.
 */
public record TraceSpec(long seed, long durationMs, int tenants, int adaptersPerTenant, double zipfExponent,
        double requestsPerSecond, double sessionShare, int turnsPerSession, long thinkTimeMs, int minPromptTokens,
        int maxPromptTokens, int minMaxTokens, int maxMaxTokens, double streamShare) {

    public TraceSpec {
        positive("duration_ms", durationMs);
        positive("tenants", tenants);
        positive("adapters_per_tenant", adaptersPerTenant);
        if (!(zipfExponent >= 0) || Double.isInfinite(zipfExponent)) {
            throw new IllegalArgumentException("zipf_exponent must be a finite number at least 0, got " + zipfExponent);
        }
        if (!(requestsPerSecond > 0) || Double.isInfinite(requestsPerSecond)) {
            throw new IllegalArgumentException("requests_per_second must be a finite number above 0, got " + requestsPerSecond);
        }
        share("session_share", sessionShare);
        share("stream_share", streamShare);
        positive("turns_per_session", turnsPerSession);
        if (thinkTimeMs < 0) {
            throw new IllegalArgumentException("think_time_ms must be at least 0, got " + thinkTimeMs);
        }
        range("prompt_tokens", minPromptTokens, maxPromptTokens);
        range("max_tokens", minMaxTokens, maxMaxTokens);
    }

    /**
     * The validation trace: 3 tenants, 30 adapters, Zipf 1.0, 2 requests/s for 75 s, one arrival in ten
     * a session of 3 turns 2 s apart, prompts of 16–64 tokens, answers of at most 4–12, half streamed.
     */
    public static TraceSpec validation(long seed) {
        return new TraceSpec(seed, 75_000, 3, 10, 1.0, 2.0, 0.1, 3, 2_000, 16, 64, 4, 12, 0.5);
    }

    /** The number of adapters the trace may name. */
    public int adapters() {
        return tenants * adaptersPerTenant;
    }

    private static void positive(String field, long value) {
        if (value < 1) {
            throw new IllegalArgumentException(field + " must be at least 1, got " + value);
        }
    }

    private static void share(String field, double value) {
        if (!(value >= 0 && value <= 1)) {
            throw new IllegalArgumentException(field + " must be a share between 0 and 1, got " + value);
        }
    }

    private static void range(String field, int min, int max) {
        if (min < 1 || max < min) {
            throw new IllegalArgumentException(field + " must be a range of at least 1 with min <= max, got " + min + ".." + max);
        }
    }
}
