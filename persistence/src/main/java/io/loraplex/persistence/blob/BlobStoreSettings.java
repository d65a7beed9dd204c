package io.loraplex.persistence.blob;

import com.typesafe.config.Config;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Settings of the blob store, from {@code loraplex.blob-store} (see this module's {@code reference.conf}).
 *
 * @param root          the directory of the blobs ({@code <root>/<tenant>/<hash>/}); GPU nodes read the same layout
 * @param uploadTimeout an upload neither finished nor aborted by then is aborted and its files removed
 */
public record BlobStoreSettings(Path root, Duration uploadTimeout) {

    public BlobStoreSettings {
        if (uploadTimeout.isNegative() || uploadTimeout.isZero()) {
            throw new IllegalArgumentException("loraplex.blob-store.upload-timeout must be positive, got " + uploadTimeout);
        }
    }

    public static BlobStoreSettings create(Config config) {
        Config c = config.getConfig("loraplex.blob-store");
        return new BlobStoreSettings(Path.of(c.getString("root")), c.getDuration("upload-timeout"));
    }
}
