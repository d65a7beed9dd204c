package io.loraplex.router.metrics;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.router.RouterSettings;
import io.loraplex.router.placement.Placement;
import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import kamon.Kamon;
import kamon.metric.Gauge;
import kamon.metric.MeasurementUnit;
import kamon.metric.Metric;
import kamon.prometheus.PrometheusReporter;
import kamon.tag.TagSet;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * The router's metrics, through Kamon (core and the Prometheus reporter only: no Kanela agent, no
 * instrumentation). The reporter's embedded HTTP server stays off; {@link #scrape} gives its text for
 * the router's own {@code GET /metrics}.
 *
 * <p>Series: {@code loraplex_router_requests_total{tenant,model,endpoint,status}},
 * {@code loraplex_router_prompt_tokens_total} and {@code loraplex_router_completion_tokens_total}
 * {@code {tenant,model}}, histograms {@code loraplex_router_time_to_first_token_seconds} and
 * {@code loraplex_router_time_per_output_token_seconds} {@code {tenant}}, gauge
 * {@code loraplex_router_in_flight}, and per node {@code loraplex_node_queue_depth},
 * {@code loraplex_node_running}, {@code loraplex_node_resident_adapters}, {@code loraplex_node_ready}.
 * Adapter {@code model} labels are bounded by {@link AdapterLabels}.
 */
public final class RouterMetrics {

    /** The label of what is not known yet (no tenant before authentication, no model before admission). */
    public static final String NONE = "none";

    private static PrometheusReporter reporter;

    private final AdapterLabels adapters;
    private final Placement placement;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final Set<String> nodesShown = new HashSet<>();

    private final Metric.Counter requests = Kamon.counter("loraplex.router.requests", "requests by tenant, model and status");
    private final Metric.Counter promptTokens = Kamon.counter("loraplex.router.prompt-tokens", "prompt tokens");
    private final Metric.Counter completionTokens = Kamon.counter("loraplex.router.completion-tokens", "generated tokens");
    private final Metric.Histogram ttft = Kamon.histogram("loraplex.router.time-to-first-token", "from request to first token",
            MeasurementUnit.time().nanoseconds());
    private final Metric.Histogram tpot = Kamon.histogram("loraplex.router.time-per-output-token",
            "between output tokens after the first", MeasurementUnit.time().nanoseconds());
    private final Gauge inFlightGauge = Kamon.gauge("loraplex.router.in-flight", "requests being served").withoutTags();
    private final Metric.Gauge queueDepth = Kamon.gauge("loraplex.node.queue-depth", "requests waiting on a GPU node");
    private final Metric.Gauge running = Kamon.gauge("loraplex.node.running", "requests running on a GPU node");
    private final Metric.Gauge resident = Kamon.gauge("loraplex.node.resident-adapters", "adapters hot on a GPU node");
    private final Metric.Gauge ready = Kamon.gauge("loraplex.node.ready", "1 when a GPU node takes requests");

    private RouterMetrics(AdapterLabels adapters, Placement placement) {
        this.adapters = adapters;
        this.placement = placement;
    }

    /** Starts Kamon (once per JVM) and the periodic refresh of adapter labels and node gauges. */
    public static RouterMetrics start(ActorSystem<?> system, RouterSettings settings, Placement placement) {
        prometheus(system.settings().config(), settings.metricsTickInterval());
        RouterMetrics metrics = new RouterMetrics(new AdapterLabels(settings.maxAdapterSeries()), placement);
        system.scheduler().scheduleWithFixedDelay(settings.metricsRefreshInterval(), settings.metricsRefreshInterval(),
                metrics.adapters::recompute, system.executionContext());
        system.scheduler().scheduleWithFixedDelay(Duration.ZERO, settings.metricsTickInterval(), metrics::refreshNodes,
                system.executionContext());
        return metrics;
    }

    /**
     * Kamon is global to the JVM: it starts once, with its agent attachment off, its own Prometheus
     * module off (we register one reporter we can scrape) and its tick at {@code tick}.
     */
    static synchronized PrometheusReporter prometheus(Config config, Duration tick) {
        if (reporter == null) {
            Config kamon = ConfigFactory.parseMap(Map.of(
                    "kamon.init.hide-banner", true,
                    "kamon.metric.tick-interval", tick.toMillis() + " ms",
                    "kamon.prometheus.start-embedded-http-server", false,
                    "kamon.modules.prometheus-reporter.enabled", false)).withFallback(config);
            Kamon.initWithoutAttaching(kamon);
            reporter = new PrometheusReporter("kamon.prometheus", kamon);
            Kamon.addReporter("loraplex-prometheus", reporter);
        }
        return reporter;
    }

    /** The Prometheus text exposition of the last tick. */
    public String scrape() {
        return reporter.scrapeData();
    }

    /**
     * The exposition of this JVM's router, for the management port's {@code /metrics}; empty where no
     * router started here (a GPU node alone). Kamon is global to the JVM, so is its reporter.
     */
    public static synchronized Optional<String> scrapeThisJvm() {
        return reporter == null ? Optional.empty() : Optional.of(reporter.scrapeData());
    }

    /** The {@code model} label of an adapter request ({@link AdapterLabels}); base model ids are few and kept. */
    public String adapterLabel(String tenant, String adapterName) {
        return adapters.label(tenant, adapterName);
    }

    public void requestStarted() {
        inFlightGauge.update(inFlight.incrementAndGet());
    }

    public void requestEnded(String tenant, String model, String endpoint, int status, int prompt, int completion) {
        inFlightGauge.update(inFlight.decrementAndGet());
        TagSet tags = TagSet.builder().add("tenant", tenant).add("model", model).build();
        requests.withTags(tags.withTag("endpoint", endpoint).withTag("status", Integer.toString(status))).increment();
        if (prompt > 0) {
            promptTokens.withTags(tags).increment(prompt);
        }
        if (completion > 0) {
            completionTokens.withTags(tags).increment(completion);
        }
    }

    public void firstToken(String tenant, long nanos) {
        ttft.withTag("tenant", tenant).record(nanos);
    }

    public void perOutputToken(String tenant, long nanos) {
        tpot.withTag("tenant", tenant).record(nanos);
    }

    public int inFlight() {
        return inFlight.get();
    }

    /** Sets the node gauges from the placement's last stats (each metrics tick). */
    synchronized void refreshNodes() {
        Set<String> seen = new HashSet<>();
        for (Placement.NodeView n : placement.nodes()) {
            String node = n.id().value();
            seen.add(node);
            queueDepth.withTag("node", node).update(n.stats().waiting());
            running.withTag("node", node).update(n.stats().running());
            resident.withTag("node", node).update(n.stats().hotAdapters().size());
            ready.withTag("node", node).update(n.answering() && n.stats().ready() ? 1 : 0);
        }
        for (String gone : nodesShown) {
            if (!seen.contains(gone)) {
                TagSet tags = TagSet.of("node", gone);
                queueDepth.remove(tags);
                running.remove(tags);
                resident.remove(tags);
                ready.remove(tags);
            }
        }
        nodesShown.clear();
        nodesShown.addAll(seen);
    }
}
