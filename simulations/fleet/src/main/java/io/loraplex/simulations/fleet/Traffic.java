package io.loraplex.simulations.fleet;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.PriorityQueue;
import java.util.Random;

/**
 * Generated traffic, in time order and lazily (an hour of a 1,000-node fleet is millions of
 * requests): conversations arrive as a Poisson process whose rate follows the diurnal curve and the
 * bursts; each picks an adapter by Zipf popularity over every tenant's adapters; a share of them are
 * sessions of several turns separated by think time, the rest single requests.
 */
public final class Traffic implements Iterator<TraceRequest> {

    private final FleetConfig.Traffic t;
    private final double duration;
    private final Random rnd;
    private final int adaptersPerTenant;
    /** cdf[k]: the probability of the k+1 most popular adapters together. */
    private final double[] cdf;
    /** popularity rank → global adapter index (tenant * adaptersPerTenant + adapter): popular adapters spread over tenants. */
    private final int[] byRank;
    private final double conversationRate;
    private final double maxRate;
    private final PriorityQueue<TraceRequest> pending = new PriorityQueue<>((a, b) -> Long.compare(a.atMs(), b.atMs()));
    private double nextConversation;
    private long sessions;
    private long order;

    public Traffic(FleetConfig config) {
        this.t = config.traffic();
        this.duration = config.durationSeconds();
        this.rnd = new Random(config.seed());
        this.adaptersPerTenant = config.adaptersPerTenant();
        int adapters = config.tenants() * config.adaptersPerTenant();
        cdf = new double[adapters];
        double sum = 0;
        for (int k = 0; k < adapters; k++) {
            sum += 1.0 / Math.pow(k + 1, t.zipfExponent());
            cdf[k] = sum;
        }
        for (int k = 0; k < adapters; k++) {
            cdf[k] /= sum;
        }
        byRank = new int[adapters];
        for (int i = 0; i < adapters; i++) {
            byRank[i] = i;
        }
        for (int i = adapters - 1; i > 0; i--) { // Fisher-Yates, seeded
            int j = rnd.nextInt(i + 1);
            int tmp = byRank[i];
            byRank[i] = byRank[j];
            byRank[j] = tmp;
        }
        double turnsPerConversation = t.sessionShare() * t.turnsMean() + (1 - t.sessionShare());
        conversationRate = config.meanRequestRate() / turnsPerConversation;
        double maxBurst = t.bursts().stream().mapToDouble(FleetConfig.Burst::factor).max().orElse(1);
        maxRate = conversationRate * (1 + Math.abs(t.diurnalAmplitude())) * Math.max(1, maxBurst);
        nextConversation = nextArrival(0);
    }

    /** The conversation rate at {@code time}: the mean on the diurnal curve, times any burst. */
    double rate(double time) {
        double r = conversationRate * (1 + t.diurnalAmplitude() * Math.sin(2 * Math.PI * time / t.diurnalPeriodSeconds()));
        for (FleetConfig.Burst b : t.bursts()) {
            if (time >= b.atSeconds() && time < b.atSeconds() + b.durationSeconds()) {
                r *= b.factor();
            }
        }
        return r;
    }

    /** The next accepted arrival after {@code from}: thinning of a Poisson process at the maximum rate. */
    private double nextArrival(double from) {
        double time = from;
        while (true) {
            time += -Math.log(1 - rnd.nextDouble()) / maxRate;
            if (time >= duration || rnd.nextDouble() * maxRate <= rate(time)) {
                return time;
            }
        }
    }

    @Override
    public boolean hasNext() {
        fill();
        return !pending.isEmpty();
    }

    @Override
    public TraceRequest next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        return pending.poll();
    }

    /** Starts conversations until the earliest pending turn is before the next conversation. */
    private void fill() {
        while (nextConversation < duration && (pending.isEmpty() || pending.peek().atMs() >= (long) (nextConversation * 1000))) {
            startConversation(nextConversation);
            nextConversation = nextArrival(nextConversation);
        }
    }

    private void startConversation(double at) {
        int adapter = byRank[Math.min(cdf.length - 1, lowerBound(cdf, rnd.nextDouble()))];
        String tenant = tenantName(adapter / adaptersPerTenant);
        String model = adapterName(adapter % adaptersPerTenant);
        boolean session = rnd.nextDouble() < t.sessionShare();
        String key = session ? "s" + (++sessions) : "";
        // geometric number of turns with the configured mean (at least one)
        int turns = session ? 1 + (int) Math.floor(Math.log(1 - rnd.nextDouble()) / Math.log(1 - 1 / Math.max(1.0, t.turnsMean())))
                : 1;
        if (session && t.turnsMean() <= 1) {
            turns = 1;
        }
        double time = at;
        for (int i = 0; i < turns && time < duration; i++) {
            pending.add(new TraceRequest((long) (time * 1000), tenant, model, key, uniform(t.promptMin(), t.promptMax()),
                    uniform(t.maxTokensMin(), t.maxTokensMax()), rnd.nextDouble() < t.streamShare()));
            time += -Math.log(1 - rnd.nextDouble()) * t.thinkTimeMeanSeconds();
            order++;
        }
    }

    private int uniform(int min, int max) {
        return min + rnd.nextInt(max - min + 1);
    }

    private static int lowerBound(double[] a, double x) {
        int lo = 0;
        int hi = a.length - 1;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (a[mid] < x) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    public static String tenantName(int tenant) {
        return String.format("t%05d", tenant);
    }

    public static String adapterName(int adapter) {
        return "a" + adapter;
    }
}
