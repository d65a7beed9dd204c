package io.loraplex.simulations.load;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * The simulations' settings, read once from {@code loraplex-load.conf} under the JVM's system properties
 * (the Gatling plugin hands {@code -D} flags of the Maven command line to the simulation's JVM).
 *
 * @param url           the router's base URL, without a trailing slash
 * @param adminKey      the admin key; setup creates the run's tenants and keys with it
 * @param baseModelDir  a model directory whose config.json the adapters are shaped for; empty: the generated demo model
 */
public record LoadSettings(URI url, String adminKey, int tenants, int adaptersPerTenant, double zipfExponent,
        Optional<Path> baseModelDir, int adapterRank, Arrival arrival, SessionShape session, TtftBounds ttftP99Ms,
        int lifecycleCycles, Duration lifecycleEvery, int fineTuningJobs, int fineTuningEpochs, Duration fineTuningTimeout,
        Duration drainAfter, Duration drainTimeout) {

    /** Open-model arrivals of new chat sessions per second: a ramp, a plateau, a burst, a tail at the plateau's rate. */
    public record Arrival(Duration ramp, double rate, Duration steady, double burstRate, Duration burst, Duration tail) {
        public Arrival {
            positive("loraplex.load.arrival.rate", rate);
            positive("loraplex.load.arrival.burst-rate", burstRate);
        }

        /** How long chat traffic arrives, in all. */
        public Duration total() {
            return ramp.plus(steady).plus(burst).plus(tail);
        }
    }

    /** One chat session: turns, think time between them, the mix of its requests. */
    public record SessionShape(int turns, Duration thinkMin, Duration thinkMax, double streamShare, double samplingShare,
            int maxTokens, Duration timeout) {
        public SessionShape {
            atLeast("loraplex.load.session.turns", turns, 1);
            atLeast("loraplex.load.session.max-tokens", maxTokens, 1);
            share("loraplex.load.session.stream-share", streamShare);
            share("loraplex.load.session.sampling-share", samplingShare);
            if (thinkMax.compareTo(thinkMin) < 0) {
                throw new IllegalArgumentException("loraplex.load.session.think-max (" + thinkMax
                        + ") must not be below think-min (" + thinkMin + ")");
            }
        }
    }

    /** The p99 bound on time to first token of each simulation, in milliseconds. */
    public record TtftBounds(int chat, int lifecycle, int fineTuning, int operator) {
    }

    public LoadSettings {
        if (adminKey.isBlank()) {
            throw new IllegalArgumentException("loraplex.adminKey is empty: pass -Dloraplex.adminKey=... or set LORAPLEX_ADMIN_KEY "
                    + "(the key `loraplex serve` printed at its first start, or deploy/local-cluster.sh's DIR/admin-key)");
        }
        atLeast("loraplex.load.tenants", tenants, 1);
        atLeast("loraplex.load.adapters-per-tenant", adaptersPerTenant, 1);
        atLeast("loraplex.load.adapter-rank", adapterRank, 1);
        if (!(zipfExponent >= 0)) {
            throw new IllegalArgumentException("loraplex.load.zipf-exponent must be 0 or more, got " + zipfExponent);
        }
    }

    /** The settings of this JVM: system properties over {@code loraplex-load.conf}. */
    public static LoadSettings fromSystem() {
        ConfigFactory.invalidateCaches();
        return create(ConfigFactory.systemProperties().withFallback(ConfigFactory.parseResources("loraplex-load.conf")).resolve());
    }

    public static LoadSettings create(Config config) {
        Config c = config.getConfig("loraplex.load");
        String url = config.getString("loraplex.url").strip();
        URI uri;
        try {
            uri = URI.create(url.endsWith("/") ? url.substring(0, url.length() - 1) : url);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("loraplex.url is not a URL: '" + url + "'", e);
        }
        if (uri.getScheme() == null || !(uri.getScheme().equals("http") || uri.getScheme().equals("https")) || uri.getHost() == null) {
            throw new IllegalArgumentException("loraplex.url must be an http:// or https:// URL with a host, got '" + url + "'");
        }
        String modelDir = c.getString("base-model-dir").strip();
        Config a = c.getConfig("arrival");
        Config s = c.getConfig("session");
        Config t = c.getConfig("ttft-p99-ms");
        return new LoadSettings(uri, config.getString("loraplex.adminKey").strip(), c.getInt("tenants"), c.getInt("adapters-per-tenant"),
                c.getDouble("zipf-exponent"), modelDir.isEmpty() ? Optional.empty() : Optional.of(Path.of(modelDir)), c.getInt("adapter-rank"),
                new Arrival(a.getDuration("ramp"), a.getDouble("rate"), a.getDuration("steady"), a.getDouble("burst-rate"),
                        a.getDuration("burst"), a.getDuration("tail")),
                new SessionShape(s.getInt("turns"), s.getDuration("think-min"), s.getDuration("think-max"), s.getDouble("stream-share"),
                        s.getDouble("sampling-share"), s.getInt("max-tokens"), s.getDuration("timeout")),
                new TtftBounds(t.getInt("chat"), t.getInt("lifecycle"), t.getInt("fine-tuning"), t.getInt("operator")),
                c.getInt("lifecycle-cycles"), c.getDuration("lifecycle-every"), c.getInt("fine-tuning-jobs"), c.getInt("fine-tuning-epochs"),
                c.getDuration("fine-tuning-timeout"), c.getDuration("drain-after"), c.getDuration("drain-timeout"));
    }

    private static void positive(String key, double value) {
        if (!(value > 0)) {
            throw new IllegalArgumentException(key + " must be above 0 (sessions per second), got " + value);
        }
    }

    private static void atLeast(String key, int value, int min) {
        if (value < min) {
            throw new IllegalArgumentException(key + " must be at least " + min + ", got " + value);
        }
    }

    private static void share(String key, double value) {
        if (!(value >= 0 && value <= 1)) {
            throw new IllegalArgumentException(key + " is a share from 0 to 1, got " + value);
        }
    }
}
