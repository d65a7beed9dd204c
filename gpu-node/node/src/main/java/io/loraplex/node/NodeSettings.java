package io.loraplex.node;

import com.typesafe.config.Config;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The GPU node's settings, from {@code loraplex.node}.
 *
 * @param fetchTimeout how long fetching a missing adapter from the cluster's blob stores may take, all stores together
 */
public record NodeSettings(String id, String baseModelId, int defaultMaxTokens, int maxQueued, int streamBuffer, Path adapterRoot,
        int trainingThreads, Duration fetchTimeout) {

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

    public static NodeSettings create(Config config) {
        Config c = config.getConfig("loraplex.node");
        return new NodeSettings(c.getString("id"), c.getString("base-model-id"), c.getInt("default-max-tokens"),
                c.getInt("max-queued"), c.getInt("stream-buffer"), Path.of(c.getString("adapter-root")), c.getInt("training-threads"),
                c.getDuration("fetch-timeout"));
    }
}
