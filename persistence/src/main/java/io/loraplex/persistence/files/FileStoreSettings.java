package io.loraplex.persistence.files;

import com.typesafe.config.Config;
import java.nio.file.Path;

/**
 * Settings of the training file store, from {@code loraplex.file-store} (see this module's
 * {@code reference.conf}).
 *
 * @param root         {@code <root>/<tenant>/<file id>}; uploads in progress under {@code <root>/.uploads}
 * @param maxFileBytes the largest file an upload may store
 * @param quotaChunk   bytes an upload's hold on the tenant's storage quota grows by at a time
 */
public record FileStoreSettings(Path root, long maxFileBytes, long quotaChunk) {

    public FileStoreSettings {
        if (maxFileBytes < 1) {
            throw new IllegalArgumentException("loraplex.file-store.max-file-bytes must be positive, got " + maxFileBytes);
        }
        if (quotaChunk < 1) {
            throw new IllegalArgumentException("loraplex.file-store.quota-chunk must be at least 1 byte, got " + quotaChunk);
        }
    }

    /** With the default quota chunk (1 MiB). */
    public FileStoreSettings(Path root, long maxFileBytes) {
        this(root, maxFileBytes, 1 << 20);
    }

    public static FileStoreSettings create(Config config) {
        Config c = config.getConfig("loraplex.file-store");
        return new FileStoreSettings(Path.of(c.getString("root")), c.getBytes("max-file-bytes"), c.getBytes("quota-chunk"));
    }
}
