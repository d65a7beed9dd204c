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

    @Test
    void withAnEngineThatSkipsEveryStepTheSummaryNamesEachStepAndItsReasonAndTheRunPasses(@TempDir Path out) throws Exception {
        Path smi = out.resolve("fake-nvidia-smi");
        Files.writeString(smi, "#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 580.00, 81559 MiB'\n");
        Path engine = out.resolve("fake-engine");
        // generate succeeds at once; the GPU steps skip as gpu-check does without a GPU (exit 3, "skipped: ...")
        Files.writeString(engine, "#!/bin/sh\necho \"$@\" >> \"$OUT/engine-calls.txt\"\n"
                + "[ \"$2\" = generate ] && exit 0\necho \"gpu-check $2: skipped: no GPU: test\" >&2\nexit 3\n");
        assertTrue(smi.toFile().setExecutable(true) && engine.toFile().setExecutable(true));
        Ran r = bash(out, List.of("NVIDIA_SMI", smi.toString(), "LORAPLEX_ENGINE", engine.toString(),
                "GPU_CHECK_WORK", out.resolve("work").toString(), "PYTHON", "/nonexistent/python3"), "bash",
                TOOLS.resolve("run.sh").toString());
        assertEquals(0, r.status(), r.output());
        assertTrue(Files.readString(out.resolve("summary.md")).contains("| peft-1b | peft not installed (/nonexistent/python3 cannot "
                + "import torch, peft, transformers) |"));
        String summary = Files.readString(out.resolve("summary.md"));
        for (String step : List.of("kernels", "model-1b", "bench-1b", "model-8b", "bench-8b")) {
            assertTrue(summary.contains("| " + step + " | skipped: no GPU: test |"), step + ":\n" + summary);
        }
        assertTrue(summary.contains("device: NVIDIA H100 80GB HBM3, 580.00, 81559 MiB;"), summary);
        assertTrue(summary.contains("RESULT: passed"), summary);
        String calls = Files.readString(out.resolve("engine-calls.txt"));
        assertTrue(calls.contains("gpu-check generate --shape llama-3.1-8b --work-dir " + out.resolve("work")), calls);
        assertTrue(calls.indexOf("gpu-check model --shape llama-3.1-8b") > calls.indexOf("gpu-check bench --shape llama-3.2-1b"),
                "the 8B steps run last: " + calls);
    }

    @Test
    void aFailingStepFailsTheRunAndTheSummarySaysWhichWithItsExitStatus(@TempDir Path out) throws Exception {
        Path smi = out.resolve("fake-nvidia-smi");
        Files.writeString(smi, "#!/bin/sh\necho 'GPU'\n");
        Path engine = out.resolve("fake-engine");
        Files.writeString(engine, "#!/bin/sh\n[ \"$2\" = kernels ] && exit 1\n[ \"$2\" = generate ] && exit 0\n"
                + "echo 'gpu-check: skipped: test' >&2\nexit 3\n");
        assertTrue(smi.toFile().setExecutable(true) && engine.toFile().setExecutable(true));
        Ran r = bash(out, List.of("NVIDIA_SMI", smi.toString(), "LORAPLEX_ENGINE", engine.toString(),
                "GPU_CHECK_WORK", out.resolve("work").toString(), "PYTHON", "/nonexistent/python3"), "bash",
                TOOLS.resolve("run.sh").toString());
        assertEquals(1, r.status(), r.output());
        String summary = Files.readString(out.resolve("summary.md"));
        assertTrue(summary.contains("| kernels | FAILED (exit 1) |"), summary);
        assertTrue(summary.contains("RESULT: FAILED"), summary);
    }
}
