package io.loraplex.persistence.files;

import com.typesafe.config.Config;
import java.nio.file.Path;

/**
 * Settings of the training file store, from {@code loraplex.file-store} (see this module's
 * {@code reference.conf}).
 *
 * @param root         {@code <root>/<tenant>/<file id>}; uploads in progress under {@code <root>/.uploads}
 * @param maxFileBytes the largest file an upload may store
 */
public record FileStoreSettings(Path root, long maxFileBytes) {

    public FileStoreSettings {
        if (maxFileBytes < 1) {
            throw new IllegalArgumentException("loraplex.file-store.max-file-bytes must be positive, got " + maxFileBytes);
        }
    }

    public static FileStoreSettings create(Config config) {
        Config c = config.getConfig("loraplex.file-store");
        return new FileStoreSettings(Path.of(c.getString("root")), c.getBytes("max-file-bytes"));
    }
}
