package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code deploy/local-cluster.sh} as an operator runs it: start (H2 journal, to stay quick), the
 * router lists both GPU nodes ready, {@code status}, then {@code stop} leaves no process alive. It
 * uses the script's fixed cluster ports (25520-25522, management 8559/8560), hence the cluster profile.
 */
@Tag("cluster")
class LocalClusterScriptIT {

    @TempDir
    Path dir;

    private static String run(String... args) throws Exception {
        List<String> command = new ArrayList<>();
        command.add(Launcher.repoRoot().resolve("deploy/local-cluster.sh").toString());
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(6, TimeUnit.MINUTES), "the script finished");
        return p.exitValue() + "\n" + out;
    }

    @Test
    void startsTwoGpuNodesAndARouterAndStopsThemByPid() throws Exception {
        int port = LocalFleet.freePort();
        Path cluster = dir.resolve("cluster");
        String started = run("start", "--dir", cluster.toString(), "--journal", "h2", "--port", String.valueOf(port));
        try {
            assertTrue(started.startsWith("0\n"), started);
            String key = Files.readString(cluster.resolve("admin-key")).strip();
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
            assertEquals(List.of("gpu-1", "gpu-2"), ready.stream().sorted().toList());
            assertTrue(run("status", "--dir", cluster.toString()).startsWith("0\n"));
            assertFalse(run("start", "--dir", cluster.toString(), "--journal", "h2").startsWith("0\n"), "a second start is refused");
        } finally {
            run("stop", "--dir", cluster.toString());
        }
        String status = run("status", "--dir", cluster.toString());
        assertFalse(status.startsWith("0\n"), status);
        assertTrue(status.contains("router: stopped") && status.contains("gpu-1: stopped") && status.contains("gpu-2: stopped"), status);
    }
}
