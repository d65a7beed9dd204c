package io.loraplex.node;

import io.loraplex.cluster.AdapterDirectory;
import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * Where a node finds an adapter version's files: {@code <root>/<tenant>/<content hash>/}. The blob
 * store writes them there, or the node fetches them from another store ({@link AdapterFetcher}).
 */
public final class AdapterStore {

    /** Fetches in progress and copies being deleted (never a tenant id, which starts with a letter or digit). */
    static final String TEMP = AdapterDirectory.TEMP;

    private final Path root;
    private final AdapterDirectory layout;

    public AdapterStore(Path root) {
        this.root = root;
        this.layout = new AdapterDirectory(root);
    }

    public Path directory(AdapterRef ref) {
        return directory(ref.tenant(), ref.contentHash());
    }

    public Path directory(TenantId tenant, ContentHash hash) {
        return layout.version(tenant, hash);
    }

    /** The directory when both adapter files are there. */
    public Optional<Path> locate(AdapterRef ref) {
        return layout.complete(ref.tenant(), ref.contentHash()) ? Optional.of(directory(ref)) : Optional.empty();
    }

    /** A fresh temporary directory under the root, for one fetch. */
    Path newTemporaryDirectory(String purpose) throws IOException {
        Path dir = layout.temporary(purpose + "-" + UUID.randomUUID());
        Files.createDirectories(dir);
        return dir;
    }

    /**
     * Removes this node's copy of a version; false when there was none. It disappears at once
     * (renamed into the temporary directory), then its files go.
     */
    public boolean delete(TenantId tenant, ContentHash hash) throws IOException {
        Path dir = directory(tenant, hash);
        if (!Files.exists(dir)) {
            return false;
        }
        Path away = layout.temporary("drop-" + UUID.randomUUID());
        Files.createDirectories(away.getParent());
        try {
            Files.move(dir, away, StandardCopyOption.ATOMIC_MOVE);
        } catch (NoSuchFileException e) {
            return false; // deleted concurrently (the blob store over the same root)
        }
        deleteRecursively(away);
        return true;
    }

    public Path root() {
        return root;
    }

    static void deleteRecursively(Path path) throws IOException {
        if (!Files.exists(path)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(path)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
