package io.loraplex.cluster;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Where adapter versions lie on disk: {@code <root>/<tenant>/<content hash>/} holding
 * {@value ContentHash#CONFIG_FILE} and {@value ContentHash#WEIGHTS_FILE}, and {@code <root>/.tmp/}
 * for work in progress (uploads, fetches, copies being deleted). The blob store and every GPU
 * node's own copies share this layout, so a node and a store may use one root, and a node can
 * stream a version from another node's store.
 */
public record AdapterDirectory(Path root) {

    /** Work in progress; never a tenant's directory (tenant ids start with a letter or digit). */
    public static final String TEMP = ".tmp";

    public AdapterDirectory {
        Objects.requireNonNull(root, "root");
    }

    /** The directory of every version of {@code tenant}. */
    public Path tenant(TenantId tenant) {
        return root.resolve(tenant.value());
    }

    /** Where the version of {@code hash} lives (whether or not it is there). */
    public Path version(TenantId tenant, ContentHash hash) {
        return tenant(tenant).resolve(hash.hex());
    }

    public Path version(AdapterRef ref) {
        return version(ref.tenant(), ref.contentHash());
    }

    /** Whether both adapter files of the version are there (not whether they are intact). */
    public boolean complete(TenantId tenant, ContentHash hash) {
        Path dir = version(tenant, hash);
        return Files.isRegularFile(dir.resolve(ContentHash.CONFIG_FILE)) && Files.isRegularFile(dir.resolve(ContentHash.WEIGHTS_FILE));
    }

    /** {@code <root>/.tmp/<name>}: a directory for one piece of work in progress (not created). */
    public Path temporary(String name) {
        return root.resolve(TEMP).resolve(name);
    }
}
