package io.loraplex.persistence.finetune;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * Settings of the {@code FineTune} entity, from {@code loraplex.fine-tune} (see this module's
 * {@code reference.conf}).
 *
 * @param maxAttempts          a job is sent to a GPU node at most this many times (node lost, no progress, restart)
 * @param progressTimeout      an attempt with no word from its node for this long has failed
 * @param dispatchRetry        how often a queued job looks for a GPU node, and a registration is retried
 * @param queueTimeout         a job queued this long without a GPU node fails
 * @param adapterTimeout       how long the Adapter entity may take to register or promote a version
 * @param persistProgressEvery progress is journaled every this many steps (and at epoch ends), not at every step
 * @param maxEventsPerJob      the newest this many events of a job are kept
 */
public record FineTuneSettings(int maxAttempts, Duration progressTimeout, Duration dispatchRetry, Duration queueTimeout,
        Duration adapterTimeout, int persistProgressEvery, int maxEventsPerJob, int snapshotEvery, Defaults defaults) {

    /** OpenAI's learning rate multiplier scales this rate. */
    public static final double BASE_LEARNING_RATE = 2e-4;

    /** Hyperparameters of a job that leaves them to "auto". */
    public record Defaults(int nEpochs, int batchSize, double learningRateMultiplier, int rank, double alpha, long seed) {
    }

    public FineTuneSettings {
        if (maxAttempts < 1 || persistProgressEvery < 1 || maxEventsPerJob < 10 || snapshotEvery < 1) {
            throw new IllegalArgumentException("loraplex.fine-tune: max-attempts, persist-progress-every and snapshot-every must be"
                    + " at least 1, max-events-per-job at least 10; got " + maxAttempts + ", " + persistProgressEvery + ", "
                    + snapshotEvery + ", " + maxEventsPerJob);
        }
        for (Duration d : new Duration[] {progressTimeout, dispatchRetry, queueTimeout, adapterTimeout}) {
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException("loraplex.fine-tune durations must be positive, got " + d);
            }
        }
    }

    public static FineTuneSettings create(Config config) {
        Config c = config.getConfig("loraplex.fine-tune");
        Config d = c.getConfig("defaults");
        return new FineTuneSettings(c.getInt("max-attempts"), c.getDuration("progress-timeout"), c.getDuration("dispatch-retry"),
                c.getDuration("queue-timeout"), c.getDuration("adapter-timeout"), c.getInt("persist-progress-every"),
                c.getInt("max-events-per-job"), c.getInt("snapshot-every"),
                new Defaults(d.getInt("n-epochs"), d.getInt("batch-size"), d.getDouble("learning-rate-multiplier"),
                        d.getInt("rank"), d.getDouble("alpha"), d.getLong("seed")));
    }
}
