package io.loraplex.engine.batch;

import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.lora.AdapterException;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.LoraAdapter;
import java.nio.file.Path;
import java.util.Objects;

/**
 * An adapter a request names: its content hash (what the engine caches and keys prefixes by), a
 * name for logs and errors, and where to load it from when it is neither hot nor warm.
 */
public record AdapterSpec(ContentHash hash, String name, Source source) {

    /** Loads the adapter (from disk, a blob store, another node), validating it with the loader given. */
    @FunctionalInterface
    public interface Source {
        LoraAdapter load(AdapterLoader loader) throws AdapterException;
    }

    public AdapterSpec {
        Objects.requireNonNull(hash, "hash");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(source, "source");
    }

    /** An adapter in a PEFT directory, hashed now. */
    public static AdapterSpec directory(String name, Path dir) throws java.io.IOException {
        return new AdapterSpec(ContentHash.ofDirectory(dir), name, loader -> loader.load(name, dir));
    }

    /** An adapter already loaded (tests, training). */
    public static AdapterSpec loaded(LoraAdapter adapter) {
        return new AdapterSpec(adapter.contentHash(), adapter.name(), loader -> adapter);
    }
}
