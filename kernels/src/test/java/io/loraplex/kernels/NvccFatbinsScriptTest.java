package io.loraplex.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The build step: no nvcc is no failure, and with nvcc a warning is one. */
class NvccFatbinsScriptTest {

    private static final Path SCRIPT = Path.of("src/build/nvcc-fatbins.sh").toAbsolutePath();

    @TempDir
    Path dir;

    private record Run(int exit, String output) {
    }

    @Test
    void withoutNvccTheStepSucceedsRecordsNoVersionAndRemovesFatbinsOfAnEarlierBuild() throws Exception {
        Path src = Files.createDirectories(dir.resolve("src"));
        Files.writeString(src.resolve("k.cu"), "extern \"C\" __global__ void loraplex_k(int* p) { p[0] = 0; }\n");
        Path out = Files.createDirectories(dir.resolve("out"));
        Files.writeString(out.resolve("k.fatbin"), "stale");
        // a PATH holding only the tools the script needs besides nvcc, and no CUDA_HOME
        Path bin = Files.createDirectories(dir.resolve("bin"));
        for (String tool : List.of("mkdir", "rm")) {
            Path wrapper = bin.resolve(tool);
            Files.writeString(wrapper, "#!/bin/sh\nexec " + Nvcc.onPath(tool).orElseThrow() + " \"$@\"\n");
            wrapper.toFile().setExecutable(true);
        }
        Run run = run(bin.toString(), src, out);
        assertEquals(0, run.exit(), run.output());
        assertTrue(run.output().contains("kernels: no working nvcc (looked at $CUDA_HOME/bin and PATH): "
                + "building without CUDA kernels"), run.output());
        assertFalse(Files.exists(out.resolve("k.fatbin")), "a fatbin of an earlier build was left in the jar");
        assertTrue(Files.readString(out.resolve("kernels-build.properties")).contains("\nnvcc=\n"));
    }

    @Test
    void withNvccAWarningFailsTheBuildNamingTheFileAndTheWarning() throws Exception {
        assumeTrue(Nvcc.find().isPresent(), "nvcc is not installed here: the warning check needs it");
        Path src = Files.createDirectories(dir.resolve("src"));
        Files.writeString(src.resolve("w.cu"),
                "extern \"C\" __global__ void loraplex_w(int* p) { int unused = 1; p[0] = 0; }\n");
        Path out = dir.resolve("out");
        Run run = run(System.getenv("PATH"), src, out);
        assertNotEquals(0, run.exit(), run.output());
        assertTrue(run.output().contains("kernels: nvcc failed on " + src.resolve("w.cu")), run.output());
        assertTrue(run.output().contains("variable \"unused\" was declared but never referenced"), run.output());
        assertFalse(Files.exists(out.resolve("w.fatbin")), "a fatbin was written although the build failed");
    }

    private Run run(String path, Path src, Path out) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(Nvcc.onPath("sh").orElseThrow().toString(), SCRIPT.toString(),
                src.toString(), out.toString(), dir.resolve("logs").toString(), dir.resolve("report.txt").toString())
                .redirectErrorStream(true);
        pb.environment().remove("CUDA_HOME");
        pb.environment().put("PATH", path);
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Run(p.waitFor(), output);
    }
}
