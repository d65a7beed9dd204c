package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Runs the packaged {@code bin/loraplex} as a user would, capturing its output. */
final class Launcher {

    record Run(int exit, String stdout, String stderr) {
        String all() {
            return stdout + stderr;
        }
    }

    private Launcher() {
    }

    static Path dist() {
        String dist = System.getProperty("loraplex.dist");
        Path p = dist != null ? Path.of(dist) : Path.of("target/loraplex").toAbsolutePath();
        assertTrue(Files.isExecutable(p.resolve("bin/loraplex")), "no packaged launcher at " + p + " (run mvn package first)");
        return p;
    }

    /** The repository's root (for tools/), found upward from the distribution. */
    static Path repoRoot() {
        Path p = dist().toAbsolutePath();
        while (p != null && !Files.isDirectory(p.resolve("tools/openai-client"))) {
            p = p.getParent();
        }
        if (p == null) {
            throw new IllegalStateException("cannot find tools/openai-client above " + dist());
        }
        return p;
    }

    static Run run(Path workDir, String... args) throws IOException, InterruptedException {
        return runWithInput(workDir, null, args);
    }

    static Run runWithInput(Path workDir, String stdin, String... args) throws IOException, InterruptedException {
        return run(workDir, stdin, Map.of(), args);
    }

    /** @param env over the launcher's environment (LORAPLEX_JAVA_OPTS is -Xmx1g unless it says otherwise) */
    static Run run(Path workDir, String stdin, Map<String, String> env, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(dist().resolve("bin/loraplex").toString());
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(workDir.toFile());
        pb.environment().put("LORAPLEX_JAVA_OPTS", "-Xmx1g");
        pb.environment().putAll(env);
        Process p = pb.start();
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
        if (stdin != null) {
            p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
        }
        p.getOutputStream().close();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("loraplex " + String.join(" ", args) + " did not finish in 300 s");
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
}
