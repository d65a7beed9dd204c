package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code loraplex package-engine}: the engine alone on a jlinked runtime, as a GPU machine without Java
 * runs it. The package is built once from the distribution; its commands run with an empty
 * environment and a PATH that holds no Java ({@code env -i PATH=/usr/bin:/bin}).
 */
class PackagedEngineIT {

    private static final long LIMIT = 60L * 1024 * 1024;

    @TempDir
    static Path work;
    static Path pkg;

    @BeforeAll
    static void packageTheEngine() throws Exception {
        pkg = work.resolve("engine");
        Launcher.Run r = Launcher.run(work, "package-engine", "--out", pkg.toString());
        assertEquals(0, r.exit(), r.all());
        assertTrue(r.stdout().contains("limit 60 MiB"), r.all());
    }

    private record Run(int exit, String stdout, String stderr) {
        String all() {
            return stdout + stderr;
        }
    }

    /** {@code env -i PATH=/usr/bin:/bin DIR/bin/loraplex-engine args…}: no JAVA_HOME, no Java on PATH. */
    private static Run engine(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of("env", "-i", "PATH=/usr/bin:/bin", pkg.resolve("bin/loraplex-engine").toString()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).directory(work.toFile()).start();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
        p.getOutputStream().close();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("loraplex-engine " + String.join(" ", args) + " did not finish in 300 s");
        }
        return new Run(p.exitValue(), out.join(), err.join());
    }

    private static String read(java.io.InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void thePackageIsUnderSixtyMibAndHoldsNoPekko() throws Exception {
        long bytes;
        try (Stream<Path> files = Files.walk(pkg)) {
            bytes = files.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
        assertTrue(bytes < LIMIT, "package is " + bytes + " bytes");
        try (Stream<Path> jars = Files.list(pkg.resolve("lib"))) {
            List<String> names = jars.map(p -> p.getFileName().toString()).toList();
            assertTrue(names.stream().anyMatch(n -> n.startsWith("loraplex-engine-")), names.toString());
            assertTrue(names.stream().anyMatch(n -> n.startsWith("loraplex-kernels-")), names.toString());
            assertFalse(names.stream().anyMatch(n -> n.contains("pekko") || n.startsWith("loraplex-node")
                    || n.startsWith("loraplex-router")), names.toString());
        }
        assertTrue(Files.isExecutable(pkg.resolve("runtime/bin/java")));
    }

    @Test
    void thePackagedRuntimeWritesATinyModelBenchmarksItAndPrintsLogitsWithNoOtherJava() throws Exception {
        Path model = work.resolve("tiny");
        Run written = engine("tiny-model", "--out", model.toString(), "--seed", "7", "--hidden", "64", "--layers", "2",
                "--intermediate", "128", "--vocab", "600");
        assertEquals(0, written.exit(), written.all());
        assertTrue(written.stdout().contains("LlamaForCausalLM"), written.all());
        Run bench = engine("bench", "--suite", "single", "--model", model.toString(), "--prompt-tokens", "16",
                "--decode-tokens", "4", "--runs", "1", "--rank", "4");
        assertEquals(0, bench.exit(), bench.all());
        assertTrue(bench.stdout().contains("decode tok/s"), bench.all());
        assertTrue(bench.stdout().contains("adapter"), bench.all());
        Path batch = work.resolve("batch.json");
        Files.writeString(batch, "[{\"adapter\": null, \"tokens\": [1, 2, 3]}]");
        Run logits = engine("logits", "--model", model.toString(), "--batch", batch.toString());
        assertEquals(0, logits.exit(), logits.all());
        assertTrue(logits.stdout().startsWith("[{\"logits\": ["), logits.all());
    }

    @Test
    void aCommandThatNeedsTheChatTemplateSaysTheFullDistributionRunsIt() throws Exception {
        Path model = work.resolve("tiny-chat");
        assertEquals(0, engine("tiny-model", "--out", model.toString(), "--hidden", "64", "--layers", "1",
                "--intermediate", "128", "--vocab", "600").exit());
        Run r = engine("generate", "--model", model.toString(), "--prompt", "Hi", "--max-tokens", "2");
        assertEquals(1, r.exit(), r.all());
        assertTrue(r.stderr().contains("loraplex-engine: 'generate' loads the chat template, whose Jinja engine needs "
                + "java.desktop (java.beans), which this packaged runtime leaves out"), r.all());
    }

    @Test
    void anUnknownCommandIsRefusedWithExitTwo() throws Exception {
        Run r = engine("serve");
        assertEquals(2, r.exit(), r.all());
        assertTrue(r.stderr().contains("unknown command 'serve'"), r.all());
    }
}
