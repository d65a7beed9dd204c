package io.loraplex.node;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Where a node finds an adapter version's files: {@code <root>/<tenant>/<content hash>/}. The blob
 * store writes them there; later a node missing one fetches it from another node.
 */
public final class AdapterStore {

    private final Path root;

    public AdapterStore(Path root) {
        this.root = root;
    }

    public Path directory(AdapterRef ref) {
        return root.resolve(ref.tenant().value()).resolve(ref.contentHash().hex());
    }

    /** The directory when both adapter files are there. */
    public Optional<Path> locate(AdapterRef ref) {
        Path dir = directory(ref);
        return Files.isRegularFile(dir.resolve(ContentHash.CONFIG_FILE)) && Files.isRegularFile(dir.resolve(ContentHash.WEIGHTS_FILE))
                ? Optional.of(dir) : Optional.empty();
    }

    public Path root() {
        return root;
    }
}
