package io.loraplex.simulations.fleet;

/**
 * One request's outcome, as the shared result format has it:
 * {@code at_ms,tenant,model,node,tier,ttft_ms,latency_ms,status}. {@code ttftMs} is the time to
 * the first token when streaming and the whole answer otherwise (what a client measures);
 * {@code firstTokenMs} is the first token either way (the simulator's own TTFT figures).
 *
 * @param tier   {@code hot}, {@code warm}, {@code cold} or {@code loading} (the adapter was being
 *               loaded for another request), as {@code x-loraplex-adapter-tier} says
 * @param status the HTTP status, or {@code failed}
 */
public record RequestResult(long atMs, String tenant, String model, String node, String tier, double ttftMs,
        double latencyMs, double firstTokenMs, int outputTokens, boolean retried, String status) {

    public static final String HEADER = "at_ms,tenant,model,node,tier,ttft_ms,latency_ms,status";

    public boolean ok() {
        return status.equals("200");
    }

    public String csv() {
        return atMs + "," + tenant + "," + model + "," + node + "," + tier + "," + fmt(ttftMs) + "," + fmt(latencyMs) + "," + status;
    }

    private static String fmt(double ms) {
        return Double.isNaN(ms) ? "" : String.format(java.util.Locale.ROOT, "%.3f", ms);
    }
}
