package io.loraplex.simulations.fleet;

import java.util.List;
import java.util.Locale;

/**
 * A run's figures. Times in milliseconds unless named otherwise; rates per simulated second.
 *
 * @param goodputTokensPerSecond output tokens of requests that succeeded, per simulated second
 * @param ttftP50Ms              time to the first token (the first token itself, streaming or not)
 * @param perTokenP50Ms          (finish − first token) / (tokens − 1) of each successful request
 * @param hotHitRate             share of requests whose adapter was hot on their node when they arrived
 * @param coldLoadsPerSecond     adapters fetched from the store, per simulated second
 * @param networkBytes           adapter bytes moved from the store to nodes
 * @param imbalanceMean          the mean over samples of max/mean load over eligible nodes
 * @param drainSeconds           each drain: from its start until its in-flight work ended and its hot adapters were prefetched elsewhere
 * @param recoverySeconds        each node death: until the last of its hot adapters requested again was hot on another node
 *                               (the Zipf tail makes this long: a rarely used adapter is requested again late)
 * @param recoveryMedianSeconds  each node death: the median delay until one of its hot adapters requested again was hot elsewhere
 */
public record Summary(String name, String policy, double loadFactor, int loadSlack, boolean sessionPrefetch, int nodes, int tenants,
        int adapters, double simulatedSeconds, long requests, long ok, long failed, long retried, double goodputTokensPerSecond,
        double ttftP50Ms, double ttftP99Ms, double perTokenP50Ms, double perTokenP99Ms, double hotHitRate, double warmRate,
        double coldRate, double loadingRate, long coldLoads, double coldLoadsPerSecond, long networkBytes, double imbalanceMean,
        double imbalanceMax, double sessionPrefetchHitRate, List<Double> drainSeconds, List<Double> recoverySeconds, List<Double> recoveryMedianSeconds, long events,
        double wallSeconds) {

    public static final String HEADER = "name,policy,load_factor,load_slack,session_prefetch,nodes,tenants,adapters,simulated_s,"
            + "requests,ok,failed,retried,goodput_tokens_per_s,ttft_p50_ms,ttft_p99_ms,per_token_p50_ms,per_token_p99_ms,"
            + "hot_hit_rate,warm_rate,cold_rate,loading_rate,cold_loads,cold_loads_per_s,network_bytes,imbalance_mean,"
            + "imbalance_max,session_prefetch_hit_rate,drain_s,recovery_s,recovery_median_s,events,wall_s";

    public String csv() {
        return String.join(",", name, policy, f(loadFactor), Integer.toString(loadSlack), Boolean.toString(sessionPrefetch),
                Integer.toString(nodes), Integer.toString(tenants), Integer.toString(adapters), f(simulatedSeconds),
                Long.toString(requests), Long.toString(ok), Long.toString(failed), Long.toString(retried), f(goodputTokensPerSecond),
                f(ttftP50Ms), f(ttftP99Ms), f(perTokenP50Ms), f(perTokenP99Ms), f(hotHitRate), f(warmRate), f(coldRate),
                f(loadingRate), Long.toString(coldLoads), f(coldLoadsPerSecond), Long.toString(networkBytes), f(imbalanceMean),
                f(imbalanceMax), f(sessionPrefetchHitRate), list(drainSeconds), list(recoverySeconds), list(recoveryMedianSeconds), Long.toString(events),
                f(wallSeconds));
    }

    private static String list(List<Double> values) {
        return String.join(" ", values.stream().map(Summary::f).toList());
    }

    static String f(double v) {
        return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.4f", v);
    }

    /** One line for a terminal. */
    public String brief() {
        return String.format(Locale.ROOT,
                "%s: %d nodes, %s lf=%.2f slack=%d prefetch=%s: %d requests (%d failed, %d retried), hot %.1f%%, cold loads %.2f/s,"
                        + " TTFT p50 %.0f ms p99 %.0f ms, per token p50 %.1f ms p99 %.1f ms, goodput %.0f tok/s, imbalance %.2f,"
                        + " network %.1f GB, drains %s s, recoveries %s s (median %s s); %d events in %.1f s",
                name, nodes, policy, loadFactor, loadSlack, sessionPrefetch ? "on" : "off", requests, failed, retried, 100 * hotHitRate,
                coldLoadsPerSecond, ttftP50Ms, ttftP99Ms, perTokenP50Ms, perTokenP99Ms, goodputTokensPerSecond, imbalanceMean,
                networkBytes / 1e9, list(drainSeconds), list(recoverySeconds), list(recoveryMedianSeconds), events, wallSeconds);
    }
}
