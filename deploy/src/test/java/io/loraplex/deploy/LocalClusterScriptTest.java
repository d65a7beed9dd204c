package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code deploy/local-cluster.sh} refuses bad usage with exit 2 and a message naming what was wrong,
 * before it creates a directory or starts anything (no JVM runs here: see {@link LocalClusterScriptIT}).
 */
class LocalClusterScriptTest {

    /** The script, beside this module's pom (surefire runs in the module's directory). */
    static final Path SCRIPT = Path.of("local-cluster.sh").toAbsolutePath();

    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "''|usage:",
        "restart|usage:",
        "start --port|--port needs a value",
        "start --port 80x|--port takes a port number (1-65535), not '80x'",
        "start --port 0|--port takes a port number (1-65535), not '0'",
        "start --base-port 65532|--base-port takes a port number (1-65531), not '65532'",
        "start --journal postgres|--journal takes cassandra or embedded, not 'postgres'",
        "status --verbose yes|unknown option --verbose"})
    void badUsageExitsTwoNamingTheProblem(String args, String message) throws Exception {
        Path cluster = dir.resolve("cluster");
        List<String> words = args.isEmpty() ? List.of() : List.of(args.split(" "));
        List<String> command = new ArrayList<>(List.of(SCRIPT.toString()));
        command.addAll(words.stream().limit(1).toList());
        command.addAll(List.of("--dir", cluster.toString()));
        command.addAll(words.stream().skip(1).toList());
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the script finished");
        assertEquals(2, p.exitValue(), out);
        assertTrue(out.contains(message), out);
        assertFalse(Files.exists(cluster), "nothing created for bad usage");
    }
}
