package io.loraplex.kernels;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** The tools the kernels' build uses, found as the build script finds them, for tests. */
final class Nvcc {

    private Nvcc() {
    }

    /** nvcc as nvcc-fatbins.sh picks it ($CUDA_HOME/bin, then PATH), if it runs. */
    static Optional<Path> find() {
        String home = System.getenv("CUDA_HOME");
        if (home != null && Files.isExecutable(Path.of(home, "bin", "nvcc"))) {
            return runs(Path.of(home, "bin", "nvcc"));
        }
        return onPath("nvcc").flatMap(Nvcc::runs);
    }

    static Optional<Path> onPath(String tool) {
        String path = System.getenv().getOrDefault("PATH", "");
        for (String dir : path.split(java.io.File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
                return Optional.of(Path.of(dir, tool));
            }
        }
        return Optional.empty();
    }

    private static Optional<Path> runs(Path nvcc) {
        try {
            Process p = new ProcessBuilder(nvcc.toString(), "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0 ? Optional.of(nvcc) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }
}
