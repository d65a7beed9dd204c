package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The data directory and its key files are the owner's alone: made so, and tightened when older ones are not. */
class PrivateFilesTest {

    @TempDir
    Path dir;

    final ByteArrayOutputStream printed = new ByteArrayOutputStream();
    final PrintStream log = new PrintStream(printed, true, StandardCharsets.UTF_8);

    static String mode(Path p) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    @Test
    void aNewDataDirectoryIsCreatedForTheOwnerAlone() throws Exception {
        Path data = dir.resolve("parent/data");
        PrivateFiles.secureDataDir(data, EmbeddedServer.secretFiles(data), log);
        assertEquals("rwx------", mode(data));
        assertEquals("", printed.toString(StandardCharsets.UTF_8), "nothing to say about a new directory");
    }

    @Test
    void keyFilesAreCreatedAndReplacedReadableByTheOwnerAlone() throws Exception {
        Path keys = dir.resolve(DemoTenants.KEYS_FILE);
        PrivateFiles.write(keys, "{\"cafe\": \"lp-cafe-1\"}");
        assertEquals("rw-------", mode(keys));
        // an older, world-readable file is replaced by a private one (a new file renamed over it, never chmod-ed)
        Files.setPosixFilePermissions(keys, PosixFilePermissions.fromString("rw-r--r--"));
        PrivateFiles.write(keys, "{\"cafe\": \"lp-cafe-2\"}");
        assertEquals("rw-------", mode(keys));
        assertEquals("{\"cafe\": \"lp-cafe-2\"}", Files.readString(keys));
        assertFalse(Files.exists(dir.resolve(DemoTenants.KEYS_FILE + ".tmp")));
    }

    @Test
    void anOlderDataDirectoryAndItsKeyFilesAreTightenedAtStart() throws Exception {
        Path data = dir.resolve("data");
        Files.createDirectory(data, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        for (Path f : EmbeddedServer.secretFiles(data)) {
            Files.writeString(f, "secret");
            Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
        }
        Path model = Files.writeString(data.resolve("config.json"), "{}"); // not a key file: the directory guards it
        Files.setPosixFilePermissions(model, PosixFilePermissions.fromString("rw-r--r--"));

        PrivateFiles.secureDataDir(data, EmbeddedServer.secretFiles(data), log);

        assertEquals("rwx------", mode(data));
        for (Path f : EmbeddedServer.secretFiles(data)) {
            assertEquals("rw-------", mode(f), f.toString());
        }
        assertEquals("rw-r--r--", mode(model));
        String said = printed.toString(StandardCharsets.UTF_8);
        assertTrue(said.contains("loraplex: " + data + " was rwxr-xr-x; now rwx------ (the owner's alone)"), said);
        assertTrue(said.contains("loraplex: " + data.resolve("demo-keys.json") + " was rw-r--r--; now rw------- (the owner's alone)"), said);
        assertTrue(said.contains("admin-key.sha256 was rw-r--r--; now rw-------"), said);
        assertTrue(said.contains("metrics-key.sha256 was rw-r--r--; now rw-------"), said);

        printed.reset();
        PrivateFiles.secureDataDir(data, EmbeddedServer.secretFiles(data), log);
        assertEquals("", printed.toString(StandardCharsets.UTF_8), "a private directory is left as it is, silently");
    }

    @Test
    void aDrawnKeyIsShownOnceAndOnlyItsHashIsKeptPrivately() throws Exception {
        String hash = DrawnKey.METRICS.hash(dir, "", log);
        String said = printed.toString(StandardCharsets.UTF_8);
        assertTrue(said.startsWith("loraplex: the metrics key, Prometheus's bearer token for /metrics (shown this once; only its hash "
                + "is kept in " + dir.resolve("metrics-key.sha256") + "):"), said);
        String key = said.lines().skip(1).findFirst().orElseThrow().strip();
        assertTrue(key.startsWith("lp-metrics-"), key);
        assertEquals(io.loraplex.cluster.tenant.TenantProtocol.hashKey(key), hash);
        assertEquals("rw-------", mode(DrawnKey.METRICS.file(dir)));
        assertFalse(Files.readString(DrawnKey.METRICS.file(dir)).contains(key), "only the hash is kept");

        printed.reset();
        assertEquals(hash, DrawnKey.METRICS.hash(dir, "", log));
        assertEquals("", printed.toString(StandardCharsets.UTF_8), "a later start shows no key");
        assertEquals(io.loraplex.cluster.tenant.TenantProtocol.hashKey("chosen"), DrawnKey.METRICS.hash(dir, " chosen ", log));
    }
}
