package io.loraplex.node;

import com.typesafe.config.Config;
import java.nio.file.Path;

/** The GPU node's settings, from {@code loraplex.node}. */
public record NodeSettings(String id, String baseModelId, int defaultMaxTokens, int maxQueued, int streamBuffer, Path adapterRoot) {

    public NodeSettings {
        if (defaultMaxTokens < 1 || maxQueued < 1 || streamBuffer < 4) {
            throw new IllegalArgumentException("loraplex.node: default-max-tokens and max-queued must be positive, "
                    + "stream-buffer at least 4");
        }
    }

    public static NodeSettings create(Config config) {
        Config c = config.getConfig("loraplex.node");
        return new NodeSettings(c.getString("id"), c.getString("base-model-id"), c.getInt("default-max-tokens"),
                c.getInt("max-queued"), c.getInt("stream-buffer"), Path.of(c.getString("adapter-root")));
    }
}
