package io.loraplex.simulations.fleet;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.util.List;
import java.util.Locale;

/**
 * One simulator run's settings, from {@code fleet.conf} under a run's own config (see that file
 * for each setting's meaning). Times are in seconds.
 */
public record FleetConfig(String name, long seed, double durationSeconds, int nodes, List<String> baseModels, NodeSettings node,
        CostModel costModel, Policy policy, double loadFactor, int loadSlack, boolean sessionPrefetch, boolean sessionSpill, int tenants,
        int adaptersPerTenant, List<Integer> adapterRanks, Traffic traffic, List<NodeEvent> failures, List<NodeEvent> drains,
        List<Double> rebalances, double sampleIntervalSeconds) {

    /** How requests are placed. */
    public enum Policy {
        /** The router's own rule: hot, warm, rendezvous with bounded load, least loaded. */
        RENDEZVOUS_BOUNDED,
        /** Any eligible node, uniformly. */
        RANDOM,
        /** The least loaded eligible node. */
        LEAST_LOADED;

        public String configName() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }

        static Policy of(String configName) {
            for (Policy p : values()) {
                if (p.configName().equals(configName)) {
                    return p;
                }
            }
            throw new IllegalArgumentException("fleet.placement.policy: unknown policy '" + configName
                    + "'; expected rendezvous-bounded, random or least-loaded");
        }
    }

    public record NodeSettings(int capacity, int maxResident, long poolBytes, long warmBytes) {
    }

    /** A node event: the node of index {@code node} (0-based) dies or starts draining at {@code atSeconds}. */
    public record NodeEvent(int node, double atSeconds) {
    }

    public record Burst(double atSeconds, double durationSeconds, double factor) {
    }

    public record Traffic(String trace, double requestsPerNodePerSecond, double zipfExponent, double diurnalAmplitude,
            double diurnalPeriodSeconds, List<Burst> bursts, double sessionShare, double turnsMean, double thinkTimeMeanSeconds,
            double sessionOpenLeadSeconds, int promptMin, int promptMax, int maxTokensMin, int maxTokensMax, double streamShare) {
    }

    public FleetConfig {
        if (nodes < 1) {
            throw new IllegalArgumentException("fleet.nodes must be >= 1, was " + nodes);
        }
        if (baseModels.isEmpty()) {
            throw new IllegalArgumentException("fleet.base-models must name at least one base model");
        }
        for (NodeEvent e : failures) {
            check(e, nodes, "fleet.failures");
        }
        for (NodeEvent e : drains) {
            check(e, nodes, "fleet.drains");
        }
        baseModels = List.copyOf(baseModels);
        adapterRanks = List.copyOf(adapterRanks);
        failures = List.copyOf(failures);
        drains = List.copyOf(drains);
        rebalances = List.copyOf(rebalances);
    }

    private static void check(NodeEvent e, int nodes, String field) {
        if (e.node() < 0 || e.node() >= nodes) {
            throw new IllegalArgumentException(field + ": node " + e.node() + " is not one of the fleet's nodes 0.." + (nodes - 1));
        }
    }

    /** The defaults ({@code fleet.conf}). */
    public static FleetConfig defaults() {
        return create(ConfigFactory.empty());
    }

    /** {@code overrides} (a run's file, flags) over {@code fleet.conf}. */
    public static FleetConfig create(Config overrides) {
        Config c = overrides.withFallback(ConfigFactory.parseResources(FleetConfig.class.getClassLoader(), "fleet.conf")).resolve()
                .getConfig("fleet");
        String model = c.getString("cost-model");
        if (!c.hasPath("cost-models." + model)) {
            throw new IllegalArgumentException("fleet.cost-model: no cost model '" + model + "' under fleet.cost-models");
        }
        Config t = c.getConfig("traffic");
        Traffic traffic = new Traffic(t.getString("trace"), t.getDouble("requests-per-node-per-second"), t.getDouble("zipf-exponent"),
                t.getDouble("diurnal.amplitude"), seconds(t, "diurnal.period"),
                t.getConfigList("bursts").stream().map(b -> new Burst(seconds(b, "at"), seconds(b, "duration"), b.getDouble("factor")))
                        .toList(),
                t.getDouble("session-share"), t.getDouble("turns-mean"), seconds(t, "think-time-mean"),
                seconds(t, "session-open-lead"), t.getInt("prompt-tokens.min"), t.getInt("prompt-tokens.max"),
                t.getInt("max-tokens.min"), t.getInt("max-tokens.max"), t.getDouble("stream-share"));
        return new FleetConfig(c.getString("name"), c.getLong("seed"), seconds(c, "duration"), c.getInt("nodes"),
                c.getStringList("base-models"),
                new NodeSettings(c.getInt("node.capacity"), c.getInt("node.max-resident"), c.getBytes("node.pool-bytes"),
                        c.getBytes("node.warm-bytes")),
                CostModel.create(model, c.getConfig("cost-models." + model)), Policy.of(c.getString("placement.policy")),
                c.getDouble("placement.load-factor"), c.getInt("placement.load-slack"), c.getBoolean("placement.session-prefetch"),
                c.getBoolean("placement.session-spill"),
                c.getInt("tenants"), c.getInt("adapters-per-tenant"), c.getIntList("adapter-ranks"), traffic,
                events(c, "failures"), events(c, "drains"),
                c.getDurationList("rebalances").stream().map(d -> d.toNanos() / 1e9).toList(), seconds(c, "sample-interval"));
    }

    private static List<NodeEvent> events(Config c, String path) {
        return c.getConfigList(path).stream().map(e -> new NodeEvent(e.getInt("node"), seconds(e, "at"))).toList();
    }

    private static double seconds(Config c, String path) {
        return c.getDuration(path).toNanos() / 1e9;
    }

    /** The arrival rate of generated traffic, requests per second, before the diurnal curve and bursts. */
    public double meanRequestRate() {
        return traffic.requestsPerNodePerSecond() * nodes;
    }
}
