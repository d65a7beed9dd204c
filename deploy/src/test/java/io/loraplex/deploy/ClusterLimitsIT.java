package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two routers on one Cassandra journal (the shape of a real fleet's front), one GPU node: a tenant's
 * limits live in its one sharded entity, so requests sent through both routers are limited once, not
 * once per router. Cassandra is the one on 127.0.0.1:9042, or one started with
 * {@code deploy/cassandra/cassandra.sh} (left running; {@code .ci/run} stops it).
 */
@Tag("cluster")
class ClusterLimitsIT {

    @TempDir
    static Path dir;
    static LocalFleet fleet;

    @BeforeAll
    static void start() throws Exception {
        ensureCassandra();
        Path config = dir.resolve("journal.conf");
        // a keyspace of this run's own: nothing of an earlier run is replayed
        Files.writeString(config, "loraplex.cassandra.keyspace = \"limits_" + System.currentTimeMillis() + "\"\n");
        fleet = new LocalFleet(dir, List.of("--journal", "cassandra", "--cassandra", "127.0.0.1:9042", "--config", config.toString()));
        fleet.router("router-a");
        fleet.router("router-b");
        fleet.gpuNode("gpu-1");
    }

    @AfterAll
    static void stop() throws Exception {
        if (fleet != null) {
            fleet.keepLogs("ClusterLimitsIT");
            fleet.close();
        }
    }

    @Test
    void aTenantSendingThroughTwoRoutersIsLimitedOnceNotTwice() {
        int burst = 6;
        // a bucket of 6 requests, refilled at one request per 1000 s: the run never earns another
        String key = fleet.tenant("metered", "{\"requests_per_second\": 0.001, \"request_burst\": " + burst + "}");
        List<String> routers = List.of(fleet.member("router-a").url(), fleet.member("router-b").url());
        int ok = 0;
        int limited = 0;
        for (int i = 0; i < 20; i++) {
            String url = routers.get(i % 2);
            HttpResponse<String> r = fleet.send(url, "POST", "/v1/chat/completions", key,
                    "{\"model\": \"tiny\", \"max_tokens\": 2, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", Map.of());
            if (r.statusCode() == 200) {
                ok++;
            } else {
                assertEquals(429, r.statusCode(), r.body());
                limited++;
            }
        }
        assertEquals(burst, ok, "admitted across both routers");
        assertEquals(20 - burst, limited);
    }

    static void ensureCassandra() throws IOException, InterruptedException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", 9042), 1000);
            return;
        } catch (IOException e) {
            // not running: start it
        }
        Path script = Launcher.repoRoot().resolve("deploy/cassandra/cassandra.sh");
        Process start = new ProcessBuilder(script.toString(), "start").inheritIO().start();
        if (!start.waitFor(10, TimeUnit.MINUTES) || start.exitValue() != 0) {
            throw new IllegalStateException(script + " start failed");
        }
    }
}
