package io.loraplex.node;

import com.typesafe.config.Config;
import java.nio.file.Path;

/** The GPU node's settings, from {@code loraplex.node}. */
public record NodeSettings(String id, String baseModelId, int defaultMaxTokens, int maxQueued, int streamBuffer, Path adapterRoot,
        int trainingThreads) {

    public NodeSettings {
        if (defaultMaxTokens < 1 || maxQueued < 1 || streamBuffer < 4 || trainingThreads < 1) {
            throw new IllegalArgumentException("loraplex.node: default-max-tokens, max-queued and training-threads must be positive, "
                    + "stream-buffer at least 4");
        }
    }

    /** Settings with training on two threads. */
    public NodeSettings(String id, String baseModelId, int defaultMaxTokens, int maxQueued, int streamBuffer, Path adapterRoot) {
        this(id, baseModelId, defaultMaxTokens, maxQueued, streamBuffer, adapterRoot, 2);
    }

    public static NodeSettings create(Config config) {
        Config c = config.getConfig("loraplex.node");
        return new NodeSettings(c.getString("id"), c.getString("base-model-id"), c.getInt("default-max-tokens"),
                c.getInt("max-queued"), c.getInt("stream-buffer"), Path.of(c.getString("adapter-root")), c.getInt("training-threads"));
    }
}
