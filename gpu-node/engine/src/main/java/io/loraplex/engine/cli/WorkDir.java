package io.loraplex.engine.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * Where a benchmark writes its generated model, adapters and data: the directory the user named
 * ({@code --work-dir}, kept), or a temporary one that is deleted when the command ends, whether it
 * succeeded or failed, so nothing is left in the temp folder.
 */
public final class WorkDir implements AutoCloseable {

    private final Path path;
    private final boolean temporary;

    private WorkDir(Path path, boolean temporary) {
        this.path = path;
        this.temporary = temporary;
    }

    /** {@code given} if not null, else a fresh temporary directory named {@code prefix...}. */
    public static WorkDir of(Path given, String prefix) throws IOException {
        return given != null ? new WorkDir(given, false) : new WorkDir(Files.createTempDirectory(prefix), true);
    }

    public Path path() {
        return path;
    }

    /** Deletes a temporary directory and everything in it; a named one stays. */
    @Override
    public void close() throws IOException {
        if (!temporary || !Files.exists(path)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(path)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
