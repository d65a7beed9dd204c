package io.loraplex.router.http;

import static io.loraplex.router.http.HostileClientsTest.address;
import static io.loraplex.router.http.HostileClientsTest.readUntil;
import static io.loraplex.router.http.HostileClientsTest.timeToClose;
import static io.loraplex.router.http.HostileClientsTest.write;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.router.testkit.HostileClients;
import io.loraplex.router.testkit.TestRouter;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@code loraplex.router.connections.max = 2}: the limit makes room by closing idle connections, never busy ones. */
class ConnectionLimitTest {

    TestRouter router;

    @BeforeEach
    void start() {
        router = new TestRouter("connection-limit-test", true, "loraplex.router.connections.max = 2");
    }

    @AfterEach
    void stop() {
        router.close();
    }

    @Test
    void atTheLimitANewConnectionClosesTheOldestIdleOneSoIdleSocketsCannotKeepAClientOut() throws Exception {
        try (HostileClients hostile = HostileClients.open(address(router), 10, 0, Duration.ofMillis(300))) {
            HttpClient fresh = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            long start = System.nanoTime();
            HttpResponse<String> health = fresh.send(router.request("GET", "/health", null, null).build(),
                    HttpResponse.BodyHandlers.ofString());
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            assertEquals(200, health.statusCode(), health.body());
            assertTrue(took.compareTo(Duration.ofSeconds(1)) < 0, "/health took " + took);
            assertTrue(router.binding.openConnections() <= 2, "open: " + router.binding.openConnections());
            assertTrue(router.binding.badTraffic().seen(BadTrafficLog.Kind.CONNECTION_LIMIT) >= 9);
            fresh.close();
        }
    }

    @Test
    void whenEveryConnectionHasARequestInFlightANewOneIsAnswered503WithRetryAfter() throws Exception {
        Socket[] streams = new Socket[2];
        try {
            for (int i = 0; i < streams.length; i++) {
                streams[i] = new Socket();
                streams[i].connect(address(router), 5000);
                byte[] body = HostileClientsTest.SLOW_STREAM.getBytes(StandardCharsets.UTF_8);
                write(streams[i], "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TestRouter.KEY
                        + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n"
                        + HostileClientsTest.SLOW_STREAM);
                // streaming before the next one connects: busy, so the limit may not take its place
                assertTrue(readUntil(streams[i], "data: ", Duration.ofSeconds(5)).startsWith("HTTP/1.1 200 OK"));
            }
            try (Socket refused = new Socket()) {
                refused.connect(address(router), 5000);
                String answer = readUntil(refused, "}}", Duration.ofSeconds(5));
                assertTrue(answer.startsWith("HTTP/1.1 503 Service Unavailable\r\n"), answer);
                assertTrue(answer.contains("\r\nRetry-After: 1\r\n"), answer);
                assertTrue(answer.contains("\"message\":\"The server has too many open connections; retry the request.\""), answer);
                assertTrue(answer.contains("\"code\":\"service_unavailable\""), answer);
                timeToClose(refused, Duration.ofSeconds(5));
            }
            // the two streams go on
            for (Socket stream : streams) {
                assertTrue(readUntil(stream, "data: ", Duration.ofSeconds(2)).contains("chat.completion.chunk"));
            }
        } finally {
            for (Socket s : streams) {
                if (s != null) {
                    s.close();
                }
            }
        }
    }
}
