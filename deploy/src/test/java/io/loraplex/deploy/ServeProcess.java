package io.loraplex.deploy;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** {@code loraplex serve} from the packaged distribution, in its own JVM, until killed (tests only). */
final class ServeProcess {

    private final Process process;
    private final String url;
    private final List<String> output;

    private ServeProcess(Process process, String url, List<String> output) {
        this.process = process;
        this.url = url;
        this.output = output;
    }

    /** Starts serve on a free port over {@code data} and waits until it answers. */
    static ServeProcess start(Path workDir, Path data, Map<String, String> env, String... extraArgs) throws Exception {
        List<String> command = new ArrayList<>(List.of(Launcher.dist().resolve("bin/loraplex").toString(), "serve", "--port", "0",
                "--data", data.toString()));
        command.addAll(List.of(extraArgs));
        ProcessBuilder pb = new ProcessBuilder(command).directory(workDir.toFile()).redirectErrorStream(true);
        pb.environment().put("LORAPLEX_JAVA_OPTS", "-Xmx1g");
        pb.environment().putAll(env);
        Process process = pb.start();
        List<String> output = new ArrayList<>();
        CompletableFuture<String> serving = new CompletableFuture<>();
        BufferedReader reader = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        Thread.ofVirtual().start(() -> {
            Pattern p = Pattern.compile("loraplex is serving on (http://\\S+)");
            try {
                for (String line; (line = reader.readLine()) != null; ) {
                    synchronized (output) {
                        output.add(line);
                    }
                    Matcher m = p.matcher(line);
                    if (m.find()) {
                        serving.complete(m.group(1));
                    }
                }
                synchronized (output) {
                    serving.completeExceptionally(new IllegalStateException("serve exited: " + String.join("\n", output)));
                }
            } catch (Exception e) {
                serving.completeExceptionally(e);
            }
        });
        try {
            return new ServeProcess(process, serving.get(300, TimeUnit.SECONDS), output);
        } catch (java.util.concurrent.TimeoutException e) {
            process.destroyForcibly();
            synchronized (output) {
                throw new IllegalStateException("serve did not start in 300 s; it printed:\n" + String.join("\n", output), e);
            }
        } catch (Exception e) {
            process.destroyForcibly();
            throw e;
        }
    }

    Process process() {
        return process;
    }

    String url() {
        return url;
    }

    String printed() {
        synchronized (output) {
            return String.join("\n", output);
        }
    }

    /**
     * What it printed, once that holds {@code text} (the lines after the "serving on" one are read
     * a moment after {@link #start} returns); fails after {@code seconds}.
     */
    String printedOnce(String text, int seconds) throws InterruptedException {
        long until = System.nanoTime() + seconds * 1_000_000_000L;
        while (!printed().contains(text)) {
            if (System.nanoTime() > until) {
                throw new IllegalStateException("serve did not print '" + text + "' within " + seconds + " s:\n" + printed());
            }
            Thread.sleep(50);
        }
        return printed();
    }

    /** SIGKILL: no shutdown hook, no flush, nothing graceful. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(60, TimeUnit.SECONDS);
    }
}
