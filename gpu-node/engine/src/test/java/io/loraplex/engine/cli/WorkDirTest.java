package io.loraplex.engine.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A benchmark's own temporary directory goes when it ends; one the user named stays. */
class WorkDirTest {

    @TempDir
    Path dir;

    @Test
    void aTemporaryWorkDirIsDeletedWithEverythingInIt() throws Exception {
        Path path;
        try (WorkDir work = WorkDir.of(null, "loraplex-workdir-test")) {
            path = work.path();
            Files.createDirectories(path.resolve("model/nested"));
            Files.writeString(path.resolve("model/nested/weights"), "x");
        }
        assertFalse(Files.exists(path), path + " left behind");
    }

    @Test
    void aTemporaryWorkDirIsDeletedWhenTheCommandFails() throws Exception {
        Path[] path = new Path[1];
        try (WorkDir work = WorkDir.of(null, "loraplex-workdir-test")) {
            path[0] = work.path();
            Files.writeString(path[0].resolve("half-written"), "x");
            throw new IllegalStateException("the benchmark failed");
        } catch (IllegalStateException expected) {
            // the directory is gone all the same
        }
        assertFalse(Files.exists(path[0]), path[0] + " left behind");
    }

    @Test
    void aNamedWorkDirIsKept() throws Exception {
        try (WorkDir work = WorkDir.of(dir, "unused")) {
            Files.writeString(work.path().resolve("model"), "x");
        }
        assertTrue(Files.exists(dir.resolve("model")));
    }
}
