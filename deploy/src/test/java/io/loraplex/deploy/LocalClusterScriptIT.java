package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code deploy/local-cluster.sh} as an operator runs it: start (H2 journal, to stay quick; free ports
 * through --port and --base-port), the router lists both GPU nodes ready, {@code status}, a second
 * start refused, then {@code stop} leaves none of the PIDs it wrote alive. About a minute on 2 cores.
 */
class LocalClusterScriptIT {

    @TempDir
    Path dir;

    static String run(String... args) throws Exception {
        List<String> command = new ArrayList<>();
        command.add(Launcher.repoRoot().resolve("deploy/local-cluster.sh").toString());
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(6, TimeUnit.MINUTES), "the script finished");
        return p.exitValue() + "\n" + out;
    }

    /** The first of five consecutive ports that are free now (the script's --base-port). */
    static int freePortRange() throws IOException {
        for (int attempt = 0; attempt < 50; attempt++) {
            int base = ThreadLocalRandom.current().nextInt(30_000, 60_000);
            if (Stream.iterate(base, p -> p + 1).limit(5).allMatch(LocalClusterScriptIT::free)) {
                return base;
            }
        }
        throw new IOException("no five consecutive free ports found between 30000 and 60000");
    }

    private static boolean free(int port) {
        try (ServerSocket s = new ServerSocket(port)) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static List<Long> pids(Path cluster) throws IOException {
        try (Stream<Path> files = Files.list(cluster.resolve("pids"))) {
            return files.map(f -> {
                try {
                    return Long.parseLong(Files.readString(f).strip());
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            }).toList();
        }
    }

    @Test
    void startsTwoGpuNodesAndARouterAndStopsThemByPid() throws Exception {
        int port = LocalFleet.freePort();
        Path cluster = dir.resolve("cluster");
        String[] where = {"--dir", cluster.toString(), "--journal", "embedded", "--port", String.valueOf(port),
            "--base-port", String.valueOf(freePortRange())};
        String started = run(Stream.concat(Stream.of("start"), Stream.of(where)).toArray(String[]::new));
        List<Long> pids = List.of();
        try {
            assertTrue(started.startsWith("0\n"), started);
            pids = pids(cluster);
            assertEquals(3, pids.size(), "router, gpu-1, gpu-2: " + pids);
            String key = Files.readString(cluster.resolve("admin-key")).strip();
            assertTrue(started.contains("admin key: " + key) && started.contains("ctl --url http://127.0.0.1:" + port + " nodes"), started);
            HttpResponse<String> nodes = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + port + "/v1/admin/nodes")).header("Authorization", "Bearer " + key).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, nodes.statusCode(), nodes.body());
            List<String> ready = new ArrayList<>();
            for (JsonNode n : LocalFleet.json(nodes.body()).path("data")) {
                if (n.path("ready").asBoolean()) {
                    ready.add(n.path("id").asText());
                }
            }
            assertEquals(List.of("gpu-1", "gpu-2"), ready.stream().sorted().toList(), nodes.body());
            String status = run("status", "--dir", cluster.toString());
            assertTrue(status.startsWith("0\n") && status.contains("gpu-2: alive"), status);
            String again = run(Stream.concat(Stream.of("start"), Stream.of(where)).toArray(String[]::new));
            assertTrue(again.startsWith("1\n") && again.contains("already runs"), "a second start is refused: " + again);
        } finally {
            run("stop", "--dir", cluster.toString());
        }
        for (long pid : pids) {
            assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "pid " + pid + " still alive after stop");
        }
        String status = run("status", "--dir", cluster.toString());
        assertTrue(status.startsWith("1\n") && status.contains("router: stopped") && status.contains("gpu-1: stopped")
                && status.contains("gpu-2: stopped"), status);
    }
}
