package io.loraplex.router.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.loraplex.router.testkit.HostileClients;
import io.loraplex.router.testkit.TestRouter;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The API under hostile clients, on real sockets: connections that send nothing or trickle their
 * headers a byte at a time neither keep a well-behaved client out nor live past their limits, and a
 * flood of them costs a line of log, not a line each. The limits here are short
 * ({@code first-request-timeout} 2 s, {@code header-timeout} 700 ms, {@code keep-alive-timeout} 1.5 s).
 */
class HostileClientsTest {

    static final String CHAT = "{\"model\":\"cafe\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static final String SLOW_STREAM = "{\"model\":\"cafe\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"[slow]\"}]}";

    static TestRouter router;

    @BeforeAll
    static void start() {
        router = new TestRouter("hostile-clients-test", true, """
                loraplex.router.connections {
                  first-request-timeout = 2 s
                  header-timeout = 700 ms
                  keep-alive-timeout = 1500 ms
                }
                """);
    }

    @AfterAll
    static void stop() {
        router.close();
    }

    @Test
    void aWellBehavedClientGetsHealthAndAChatAnswerWithinOneSecondWhile2000HostileConnectionsAreOpen() throws Exception {
        int hostileCount = 2000;
        // both ends of every socket live in this JVM
        assumeTrue(HostileClients.fileLimit() >= 2L * hostileCount + 1024,
                "needs ulimit -n of at least " + (2L * hostileCount + 1024) + ", has " + HostileClients.fileLimit());
        // limits long enough that the flood stays open while the well-behaved client is timed
        try (TestRouter flooded = new TestRouter("hostile-flood-test", true,
                "loraplex.router.connections { first-request-timeout = 60 s, header-timeout = 60 s }");
                HostileClients hostile = HostileClients.open(address(flooded), hostileCount / 2, hostileCount / 2,
                        Duration.ofMillis(300))) {
            TestRouter.await(() -> flooded.binding.openConnections() >= hostileCount, Duration.ofSeconds(30),
                    "the server to accept " + hostileCount + " hostile connections");
            for (int attempt = 0; attempt < 3; attempt++) {
                // a fresh client each time: a new connection must get through, not a pooled one
                HttpClient fresh = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                long start = System.nanoTime();
                HttpResponse<String> health = fresh.send(flooded.request("GET", "/health", null, null).build(),
                        HttpResponse.BodyHandlers.ofString());
                Duration healthTook = Duration.ofNanos(System.nanoTime() - start);
                assertEquals(200, health.statusCode(), health.body());
                assertTrue(healthTook.compareTo(Duration.ofSeconds(1)) < 0, "/health took " + healthTook);

                HttpClient another = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
                start = System.nanoTime();
                HttpResponse<String> chat = another.send(flooded.request("POST", "/v1/chat/completions", TestRouter.KEY, CHAT).build(),
                        HttpResponse.BodyHandlers.ofString());
                Duration chatTook = Duration.ofNanos(System.nanoTime() - start);
                assertEquals(200, chat.statusCode(), chat.body());
                assertEquals("Hello, world!", TestRouter.json(chat.body()).get("choices").get(0).get("message").get("content").asText());
                assertTrue(chatTook.compareTo(Duration.ofSeconds(1)) < 0, "the chat took " + chatTook);
                fresh.close();
                another.close();
            }
            // below the limit (4096) nothing was evicted: the well-behaved client did not need to push anyone out
            assertTrue(flooded.binding.openConnections() >= hostileCount, "open: " + flooded.binding.openConnections());
            assertEquals(0, hostile.tricklersClosed());
        }
    }

    @Test
    void aConnectionThatSendsNothingIsClosedAfterTheFirstRequestTimeout() throws Exception {
        try (Socket socket = connect()) {
            Duration open = timeToClose(socket, Duration.ofSeconds(10));
            assertTrue(open.compareTo(Duration.ofMillis(1900)) >= 0, "closed after " + open + ", before first-request-timeout (2 s)");
            assertTrue(open.compareTo(Duration.ofSeconds(4)) < 0, "closed after " + open);
        }
    }

    @Test
    void headersTrickledAByteAtATimeAreClosedAfterTheHeaderTimeoutThoughBytesKeepComing() throws Exception {
        try (Socket socket = connect(); Trickle trickle = new Trickle(socket, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")) {
            Duration open = timeToClose(socket, Duration.ofSeconds(10));
            assertTrue(open.compareTo(Duration.ofMillis(650)) >= 0, "closed after " + open + ", before header-timeout (700 ms)");
            // well before first-request-timeout (2 s): the header limit closed it
            assertTrue(open.compareTo(Duration.ofMillis(1800)) < 0, "closed after " + open);
        }
    }

    @Test
    void aSecondRequestTrickledOnAKeptAliveConnectionIsClosedAfterTheHeaderTimeout() throws Exception {
        try (Socket socket = connect()) {
            write(socket, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
            assertTrue(readUntil(socket, "\r\n\r\n", Duration.ofSeconds(5)).startsWith("HTTP/1.1 200 OK"));
            try (Trickle trickle = new Trickle(socket, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")) {
                Duration open = timeToClose(socket, Duration.ofSeconds(10));
                assertTrue(open.compareTo(Duration.ofMillis(650)) >= 0, "closed after " + open);
                assertTrue(open.compareTo(Duration.ofSeconds(3)) < 0, "closed after " + open);
            }
        }
    }

    @Test
    void aKeptAliveConnectionIsClosedAfterTheKeepAliveTimeoutWithoutARequest() throws Exception {
        try (Socket socket = connect()) {
            write(socket, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
            assertTrue(readUntil(socket, "\r\n\r\n", Duration.ofSeconds(5)).startsWith("HTTP/1.1 200 OK"));
            Duration open = timeToClose(socket, Duration.ofSeconds(10));
            assertTrue(open.compareTo(Duration.ofMillis(1400)) >= 0, "closed after " + open + ", before keep-alive-timeout (1.5 s)");
            assertTrue(open.compareTo(Duration.ofSeconds(4)) < 0, "closed after " + open);
        }
    }

    @Test
    void aChatStreamingLongerThanEveryConnectionLimitIsNotCut() throws Exception {
        try (Socket socket = connect()) {
            byte[] body = SLOW_STREAM.getBytes(StandardCharsets.UTF_8);
            write(socket, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TestRouter.KEY
                    + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n" + SLOW_STREAM);
            assertTrue(readUntil(socket, "data: ", Duration.ofSeconds(5)).startsWith("HTTP/1.1 200 OK"));
            // 3 s: past first-request-timeout, keep-alive-timeout and header-timeout; a token every 50 ms still arrives
            long end = System.nanoTime() + Duration.ofSeconds(3).toNanos();
            String last = "";
            while (System.nanoTime() < end) {
                last = readUntil(socket, "data: ", Duration.ofSeconds(2));
            }
            assertTrue(last.contains("chat.completion.chunk"), last);
        }
    }

    @Test
    void aFloodOfConnectionsTimingOutWritesOneLogLineNotOneEach() throws Exception {
        BadTrafficLog log = router.binding.badTraffic();
        long linesBefore = log.linesWritten(BadTrafficLog.Kind.FIRST_REQUEST_TIMEOUT);
        long seenBefore = log.seen(BadTrafficLog.Kind.FIRST_REQUEST_TIMEOUT);
        try (HostileClients hostile = HostileClients.open(address(router), 300, 0, Duration.ofMillis(300))) {
            TestRouter.await(() -> log.seen(BadTrafficLog.Kind.FIRST_REQUEST_TIMEOUT) - seenBefore >= 300, Duration.ofSeconds(15),
                    "300 connections to reach first-request-timeout");
        }
        // log-interval is 10 s: the 300 closes within a few seconds are one line (or none, if another test's came first)
        assertTrue(log.linesWritten(BadTrafficLog.Kind.FIRST_REQUEST_TIMEOUT) - linesBefore <= 1,
                "lines: " + (log.linesWritten(BadTrafficLog.Kind.FIRST_REQUEST_TIMEOUT) - linesBefore));
    }

    // --- raw sockets ---

    static InetSocketAddress address(TestRouter r) {
        return new InetSocketAddress("127.0.0.1", r.binding.localAddress().getPort());
    }

    private static Socket connect() throws IOException {
        Socket socket = new Socket();
        socket.connect(address(router), 5000);
        return socket;
    }

    static void write(Socket socket, String text) throws IOException {
        OutputStream out = socket.getOutputStream();
        out.write(text.getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** Reads until {@code marker} has arrived (what was read, the marker included), or fails after {@code timeout}. */
    static String readUntil(Socket socket, String marker, Duration timeout) throws IOException {
        StringBuilder read = new StringBuilder();
        long end = System.nanoTime() + timeout.toNanos();
        InputStream in = socket.getInputStream();
        while (read.indexOf(marker) < 0) {
            long left = end - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("no '" + marker.strip() + "' within " + timeout + ", read: " + read);
            }
            socket.setSoTimeout((int) Math.max(1, left / 1_000_000));
            int b;
            try {
                b = in.read();
            } catch (SocketTimeoutException e) {
                continue;
            }
            if (b < 0) {
                throw new AssertionError("the server closed the connection; read: " + read);
            }
            read.append((char) b);
        }
        return read.toString();
    }

    /** How long until the server closes the connection (end of stream or reset), counted from now. */
    static Duration timeToClose(Socket socket, Duration timeout) throws IOException {
        long start = System.nanoTime();
        InputStream in = socket.getInputStream();
        socket.setSoTimeout((int) timeout.toMillis());
        try {
            while (in.read() >= 0) {
                // a server answer before the close (none expected) is skipped
            }
        } catch (SocketTimeoutException e) {
            throw new AssertionError("the server kept the connection open for " + timeout);
        } catch (IOException reset) {
            // a reset is a close too
        }
        return Duration.ofNanos(System.nanoTime() - start);
    }

    /** Writes {@code header} a byte every 100 ms, then one 'a' every 100 ms, until closed or the server closes. */
    static final class Trickle implements AutoCloseable {
        private final Thread thread;

        Trickle(Socket socket, String header) {
            byte[] bytes = header.getBytes(StandardCharsets.US_ASCII);
            thread = Thread.ofPlatform().daemon().start(() -> {
                try {
                    OutputStream out = socket.getOutputStream();
                    for (int i = 0; !Thread.currentThread().isInterrupted(); i++) {
                        out.write(i < bytes.length ? bytes[i] : 'a');
                        out.flush();
                        Thread.sleep(100);
                    }
                } catch (IOException | InterruptedException e) {
                    // the server closed the connection, or the test is over
                }
            });
        }

        @Override
        public void close() {
            thread.interrupt();
        }
    }
}
