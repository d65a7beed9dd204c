package io.loraplex.simulations.fleet;

/**
 * One request's outcome, as the shared result format has it:
 * {@code at_ms,tenant,model,node,tier,ttft_ms,latency_ms,status}
 * ({@link io.loraplex.simulations.fleet.replay.TraceFiles#RESULT_HEADER}). {@code ttftMs} is the time to
 * the first token when streaming and the whole answer otherwise (what a client measures);
 * {@code firstTokenMs} is the first token either way (the simulator's own TTFT figures).
 *
 * @param tier   {@code hot}, {@code warm}, {@code cold} or {@code loading} (the adapter was being
 *               loaded for another request), as {@code x-loraplex-adapter-tier} says
 * @param status the HTTP status, or {@code failed}
 */
public record RequestResult(long atMs, String tenant, String model, String node, String tier, double ttftMs,
        double latencyMs, double firstTokenMs, int outputTokens, boolean retried, String status) {

    public boolean ok() {
        return status.equals("200");
    }

    public String csv() {
        return atMs + "," + tenant + "," + model + "," + node + "," + tier + "," + fmt(ttftMs) + "," + fmt(latencyMs) + "," + status;
    }

    /**
     * Whole milliseconds, as the replay writes them, so that one reader ({@link io.loraplex.simulations.fleet.replay.TraceFiles#readResults}) reads
     * both result files; a request that got no answer has none (0), as a replayed one that got none.
     */
    private static String fmt(double ms) {
        return Double.isNaN(ms) ? "0" : String.valueOf(Math.round(ms));
    }
}
