package io.loraplex.simulations.fleet.replay;

import io.loraplex.simulations.fleet.TraceRequest;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;

/** Generates a request trace from a {@link TraceSpec}: the same spec, the same trace, line for line. */
public final class TraceGenerator {

    private TraceGenerator() {
    }

    /** The tenant of adapter rank {@code rank} (0 the most popular): ranks are dealt round-robin to tenants. */
    static String tenantName(TraceSpec spec, int rank) {
        return "replay-" + (rank % spec.tenants() + 1);
    }

    /** The adapter name of rank {@code rank}, as the API takes it in {@code model}. */
    static String adapterName(TraceSpec spec, int rank) {
        return String.format("adapter-%03d", rank / spec.tenants() + 1);
    }

    /** Writes the trace of {@code spec} to {@code file} in the shared format. */
    public static void write(TraceSpec spec, Path file) throws IOException {
        TraceFiles.writeTrace(file, generate(spec));
    }

    static List<TraceRequest> generate(TraceSpec spec) {
        SplittableRandom random = new SplittableRandom(spec.seed());
        double[] cumulative = zipf(spec.adapters(), spec.zipfExponent());
        List<TraceRequest> trace = new ArrayList<>();
        double meanGapMs = 1000.0 / spec.requestsPerSecond();
        int sessions = 0;
        // exponential gaps: a Poisson arrival process, the open model a real fleet sees
        for (double at = -meanGapMs * Math.log(1 - random.nextDouble()); at < spec.durationMs();
                at += -meanGapMs * Math.log(1 - random.nextDouble())) {
            int rank = draw(cumulative, random.nextDouble());
            String tenant = tenantName(spec, rank);
            String model = adapterName(spec, rank);
            if (random.nextDouble() < spec.sessionShare()) {
                String session = "s" + (++sessions);
                for (int turn = 0; turn < spec.turnsPerSession(); turn++) {
                    long turnAt = (long) at + turn * spec.thinkTimeMs();
                    if (turnAt < spec.durationMs()) {
                        trace.add(request(spec, random, turnAt, tenant, model, session));
                    }
                }
            } else {
                trace.add(request(spec, random, (long) at, tenant, model, ""));
            }
        }
        // stable: a session's turns keep their order among requests of the same millisecond
        trace.sort(Comparator.comparingLong(TraceRequest::atMs));
        return trace;
    }

    private static TraceRequest request(TraceSpec spec, SplittableRandom random, long at, String tenant, String model,
            String session) {
        int prompt = random.nextInt(spec.minPromptTokens(), spec.maxPromptTokens() + 1);
        int max = random.nextInt(spec.minMaxTokens(), spec.maxMaxTokens() + 1);
        return new TraceRequest(at, tenant, model, session, prompt, max, random.nextDouble() < spec.streamShare());
    }

    /** The Zipf law's cumulative distribution over ranks 1..n: P(rank k) proportional to 1 / k^s. */
    static double[] zipf(int n, double s) {
        double[] cumulative = new double[n];
        double sum = 0;
        for (int k = 1; k <= n; k++) {
            sum += 1 / Math.pow(k, s);
            cumulative[k - 1] = sum;
        }
        for (int k = 0; k < n; k++) {
            cumulative[k] /= sum;
        }
        return cumulative;
    }

    /** The rank (0-based) whose cumulative share first reaches {@code u}. */
    static int draw(double[] cumulative, double u) {
        int lo = 0;
        int hi = cumulative.length - 1;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (cumulative[mid] < u) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }
}
