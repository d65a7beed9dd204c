package io.loraplex.persistence.blob;

import com.typesafe.config.Config;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Settings of the blob store, from {@code loraplex.blob-store} (see this module's {@code reference.conf}).
 *
 * @param root          the directory of the blobs ({@code <root>/<tenant>/<hash>/}); GPU nodes read the same layout
 * @param uploadTimeout an upload neither finished nor aborted by then is aborted and its files removed
 * @param quotaChunk    bytes an upload's quota hold grows by at a time: one ask of the tenant per chunk written
 * @param quotaTimeout  how long the tenant may take to grant a chunk; past it the upload is refused
 */
public record BlobStoreSettings(Path root, Duration uploadTimeout, long quotaChunk, Duration quotaTimeout) {

    public BlobStoreSettings {
        if (uploadTimeout.isNegative() || uploadTimeout.isZero()) {
            throw new IllegalArgumentException("loraplex.blob-store.upload-timeout must be positive, got " + uploadTimeout);
        }
        if (quotaChunk < 1) {
            throw new IllegalArgumentException("loraplex.blob-store.quota-chunk must be at least 1 byte, got " + quotaChunk);
        }
        if (quotaTimeout.isNegative() || quotaTimeout.isZero()) {
            throw new IllegalArgumentException("loraplex.blob-store.quota-timeout must be positive, got " + quotaTimeout);
        }
    }

    /** With the default quota chunk (1 MiB) and timeout (10 s). */
    public BlobStoreSettings(Path root, Duration uploadTimeout) {
        this(root, uploadTimeout, 1 << 20, Duration.ofSeconds(10));
    }

    public static BlobStoreSettings create(Config config) {
        Config c = config.getConfig("loraplex.blob-store");
        return new BlobStoreSettings(Path.of(c.getString("root")), c.getDuration("upload-timeout"), c.getBytes("quota-chunk"),
                c.getDuration("quota-timeout"));
    }
}
