package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The checkout's {@code ./loraplex} builds the distribution once however many launchers start
 * together on a fresh clone: the others wait for that build and run its result. The build is a
 * stub here ({@code LORAPLEX_BUILD_COMMAND}, which only this test sets): it takes a second, notes
 * each run and any overlap, and writes a distribution whose {@code bin/loraplex} echoes its arguments.
 */
class LauncherScriptTest {

    /** The checkout's launcher, above this module (surefire runs in the module's directory). */
    static final Path SCRIPT = Path.of("../loraplex").toAbsolutePath().normalize();

    static final String STUB_BUILD = """
            #!/bin/sh
            set -eu
            mkdir building || echo overlap >> builds.log
            echo build >> builds.log
            sleep 2
            mkdir -p deploy/target/loraplex/bin deploy/target/loraplex/lib
            printf '#!/bin/sh\\necho "ran $*"\\n' > deploy/target/loraplex/bin/loraplex
            chmod +x deploy/target/loraplex/bin/loraplex
            rmdir building
            """;

    @TempDir
    Path clone;

    @Test
    void twoLaunchersStartedTogetherOnAFreshCloneBuildOnceAndBothRun() throws Exception {
        Files.copy(SCRIPT, clone.resolve("loraplex"));
        Files.setPosixFilePermissions(clone.resolve("loraplex"), PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.writeString(clone.resolve("stub-build.sh"), STUB_BUILD);

        Process serve = launcher("serve");
        Process help = launcher("serve", "--help");
        String serveOut = new String(serve.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String helpOut = new String(help.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(serve.waitFor(60, TimeUnit.SECONDS) && help.waitFor(60, TimeUnit.SECONDS), "both launchers finished");

        assertEquals(0, serve.exitValue(), serveOut);
        assertEquals(0, help.exitValue(), helpOut);
        assertTrue(serveOut.contains("ran serve\n"), serveOut);
        assertTrue(helpOut.contains("ran serve --help\n"), helpOut);
        assertEquals(List.of("build"), Files.readAllLines(clone.resolve("builds.log")), "one build, never two at once");
        assertTrue((serveOut + helpOut).contains("loraplex: another launcher is building the distribution; waiting for it ..."),
                serveOut + helpOut);

        // the distribution is fresh now: a third launcher runs it without building or waiting
        Process third = launcher("help");
        String thirdOut = new String(third.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(third.waitFor(30, TimeUnit.SECONDS));
        assertEquals("ran help\n", thirdOut);
        assertEquals(List.of("build"), Files.readAllLines(clone.resolve("builds.log")));
    }

    private Process launcher(String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of(clone.resolve("loraplex").toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(clone.toFile()).redirectErrorStream(true);
        pb.environment().put("LORAPLEX_BUILD_COMMAND", "sh stub-build.sh");
        return pb.start();
    }
}
