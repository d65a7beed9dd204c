package io.loraplex.node;

import com.typesafe.config.Config;
import io.loraplex.engine.backend.TrainingShare;
import io.loraplex.engine.request.RequestPreparation;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The GPU node's settings, from {@code loraplex.node}.
 *
 * @param defaultMaxTokens tokens generated when neither the request nor the model's generation config says;
 *                         {@code default-max-tokens}, else the engine's {@link RequestPreparation#DEFAULT_MAX_TOKENS}
 * @param fetchTimeout     how long fetching a missing adapter from the cluster's blob stores may take, all stores together
 * @param quarantineReport how a quarantine is reported to the version's Adapter entity
 * @param trainingShare    training's share of the node's compute while serving waits ({@code training-share},
 *                         measured over {@code training-share-window})
 */
public record NodeSettings(String id, String baseModelId, int defaultMaxTokens, int maxQueued, int streamBuffer, Path adapterRoot,
        int trainingThreads, Duration fetchTimeout, QuarantineReport quarantineReport, TrainingShare trainingShare) {

    /**
     * Reporting a quarantined version ({@code AdapterProtocol.MarkFailed}): each ask waits
     * {@code timeout}; one that fails (no answer, the entity busy) is tried again after
     * {@code backoff}, doubled each time, {@code attempts} times in all, so one lost ask does not
     * leave the version served by other nodes.
     */
    public record QuarantineReport(Duration timeout, int attempts, Duration backoff) {
        public QuarantineReport {
            if (timeout.isNegative() || timeout.isZero() || backoff.isNegative() || backoff.isZero()) {
                throw new IllegalArgumentException("loraplex.node.quarantine-report: timeout and backoff must be positive, not "
                        + timeout + " and " + backoff);
            }
            if (attempts < 1) {
                throw new IllegalArgumentException("loraplex.node.quarantine-report.attempts must be at least 1, not " + attempts);
            }
        }

        /** The defaults of reference.conf: 30 s per ask, 5 attempts, 1 s back-off doubling. */
        public static QuarantineReport defaults() {
            return new QuarantineReport(Duration.ofSeconds(30), 5, Duration.ofSeconds(1));
        }

        /** How long to wait before attempt {@code attempt} (2, 3, ...): the back-off, doubled for each attempt before. */
        public Duration delayBefore(int attempt) {
            return backoff.multipliedBy(1L << Math.min(20, Math.max(0, attempt - 2)));
        }
    }

    public NodeSettings {
        if (defaultMaxTokens < 1 || maxQueued < 1 || streamBuffer < 4 || trainingThreads < 1) {
            throw new IllegalArgumentException("loraplex.node: default-max-tokens, max-queued and training-threads must be positive, "
                    + "stream-buffer at least 4");
        }
        if (fetchTimeout.isNegative() || fetchTimeout.isZero()) {
            throw new IllegalArgumentException("loraplex.node.fetch-timeout must be positive, not " + fetchTimeout);
        }
    }

    /** Settings with training on two threads and fetches limited to a minute. */
    public NodeSettings(String id, String baseModelId, int defaultMaxTokens, int maxQueued, int streamBuffer, Path adapterRoot) {
        this(id, baseModelId, defaultMaxTokens, maxQueued, streamBuffer, adapterRoot, 2, Duration.ofMinutes(1));
    }

    /** Settings with the default quarantine reports. */
    public NodeSettings(String id, String baseModelId, int defaultMaxTokens, int maxQueued, int streamBuffer, Path adapterRoot,
            int trainingThreads, Duration fetchTimeout) {
        this(id, baseModelId, defaultMaxTokens, maxQueued, streamBuffer, adapterRoot, trainingThreads, fetchTimeout,
                QuarantineReport.defaults(), TrainingShare.DEFAULT);
    }

    /** These settings with {@code report} instead. */
    public NodeSettings withQuarantineReport(QuarantineReport report) {
        return new NodeSettings(id, baseModelId, defaultMaxTokens, maxQueued, streamBuffer, adapterRoot, trainingThreads, fetchTimeout,
                report, trainingShare);
    }

    /** These settings with training bounded by {@code share} instead. */
    public NodeSettings withTrainingShare(TrainingShare share) {
        return new NodeSettings(id, baseModelId, defaultMaxTokens, maxQueued, streamBuffer, adapterRoot, trainingThreads, fetchTimeout,
                quarantineReport, share);
    }

    public static NodeSettings create(Config config) {
        Config c = config.getConfig("loraplex.node");
        return new NodeSettings(c.getString("id"), c.getString("base-model-id"), c.hasPath("default-max-tokens")
                ? c.getInt("default-max-tokens") : RequestPreparation.DEFAULT_MAX_TOKENS,
                c.getInt("max-queued"), c.getInt("stream-buffer"), Path.of(c.getString("adapter-root")), c.getInt("training-threads"),
                c.getDuration("fetch-timeout"), new QuarantineReport(c.getDuration("quarantine-report.timeout"),
                        c.getInt("quarantine-report.attempts"), c.getDuration("quarantine-report.backoff")),
                new TrainingShare(c.getDouble("training-share"), c.getDuration("training-share-window")));
    }
}
