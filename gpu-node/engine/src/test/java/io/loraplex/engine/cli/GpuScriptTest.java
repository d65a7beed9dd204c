package io.loraplex.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The device script {@code tools/gpu/run.sh} on a machine without a GPU: it parses, and it refuses
 * at once with its reason and exit status 2 (writing that reason as the summary), never starting
 * a step. Its steps themselves run only on a lent GPU.
 */
class GpuScriptTest {

    private static final Path TOOLS = Path.of("../../tools/gpu").toAbsolutePath().normalize();

    private record Ran(int status, String output) {
    }

    private static Ran bash(Path out, List<String> env, String... args) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(args).redirectErrorStream(true);
        pb.environment().put("OUT", out.toString());
        for (int i = 0; i < env.size(); i += 2) {
            pb.environment().put(env.get(i), env.get(i + 1));
        }
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Ran(p.waitFor(), output);
    }

    @Test
    void theScriptsParse(@TempDir Path out) throws Exception {
        for (String script : List.of("run.sh", "prepare.sh")) {
            Ran r = bash(out, List.of(), "bash", "-n", TOOLS.resolve(script).toString());
            assertEquals(0, r.status(), script + ": " + r.output());
        }
    }

    @Test
    void withoutNvidiaSmiItRefusesWithItsReasonAndStatusTwo(@TempDir Path out) throws Exception {
        Ran r = bash(out, List.of("NVIDIA_SMI", "/nonexistent/nvidia-smi"), "bash", TOOLS.resolve("run.sh").toString());
        assertEquals(2, r.status(), r.output());
        assertEquals("run.sh: no /nonexistent/nvidia-smi on this machine: there is no NVIDIA driver, so no GPU to check "
                + "(run this on a lent GPU machine)\n", r.output());
        assertTrue(Files.readString(out.resolve("summary.md")).contains("no NVIDIA driver"));
    }

    @Test
    void withADriverButNoEnginePackageItRefusesNamingPrepare(@TempDir Path out) throws Exception {
        Path smi = out.resolve("fake-nvidia-smi");
        Files.writeString(smi, "#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 580.00, 81559 MiB'\n");
        assertTrue(smi.toFile().setExecutable(true));
        Ran r = bash(out, List.of("NVIDIA_SMI", smi.toString(), "LORAPLEX_ENGINE", "/nonexistent/loraplex-engine"), "bash",
                TOOLS.resolve("run.sh").toString());
        assertEquals(2, r.status(), r.output());
        assertEquals("run.sh: no engine package at /nonexistent/loraplex-engine: run tools/gpu/prepare.sh on the build machine "
                + "and carry tools/gpu/engine-package\n", r.output());
    }
}
