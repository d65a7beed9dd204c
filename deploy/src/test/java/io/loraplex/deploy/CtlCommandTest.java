package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@code loraplex ctl} against a small HTTP server answering as the router's admin API does. */
class CtlCommandTest {

    private static final String NODES = """
            {"object":"list","data":[{"id":"gpu-1","address":"pekko://loraplex@127.0.0.1:25521","roles":["gpu-node"],
            "base_model":"tiny","ready":true,"draining":false,"answering":true,"running":3,"waiting":1,"capacity":64,
            "hot":[{"tenant":"acme","name":"support","version":2,"hash":"ab","pinned":true}],"warm":[]}],
            "prefetch":{"hits":5,"misses":1}}""";

    private HttpServer server;
    private final List<String> calls = new CopyOnWriteArrayList<>();
    private final AtomicInteger nodePolls = new AtomicInteger();

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::answer);
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private void answer(HttpExchange ex) throws IOException {
        String auth = ex.getRequestHeaders().getFirst("Authorization");
        String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        String call = ex.getRequestMethod() + " " + ex.getRequestURI().getRawPath() + (body.isEmpty() ? "" : " " + body);
        calls.add(call);
        int status = 200;
        String out;
        if (!"Bearer adm".equals(auth)) {
            status = 401;
            out = "{\"error\":{\"message\":\"Incorrect admin key provided.\",\"type\":\"invalid_request_error\"}}";
        } else if (call.equals("GET /v1/admin/nodes")) {
            out = NODES;
        } else if (call.equals("POST /v1/admin/nodes/gpu-1/drain")) {
            status = 202;
            out = "{\"id\":\"gpu-1\",\"draining\":true}";
        } else if (call.equals("GET /v1/admin/nodes/gpu-1")) {
            boolean gone = nodePolls.incrementAndGet() > 2;
            status = gone ? 404 : 200;
            out = gone ? "{\"error\":{\"message\":\"No GPU node 'gpu-1'\"}}" : "{\"id\":\"gpu-1\",\"drain_status\":\"waiting for 2 requests in flight\"}";
        } else if (call.startsWith("POST /v1/admin/tenants/acme/adapters/support/pin")) {
            out = "{\"tenant\":\"acme\",\"name\":\"support\",\"version\":2,\"nodes\":[\"gpu-2\"]}";
        } else if (call.equals("POST /v1/admin/nodes/nope/undrain")) {
            status = 404;
            out = "{\"error\":{\"message\":\"No GPU node 'nope' is in the cluster\",\"code\":\"node_not_found\"}}";
        } else {
            status = 404;
            out = "{\"error\":{\"message\":\"unexpected " + call + "\"}}";
        }
        byte[] bytes = out.getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(status, bytes.length);
        ex.getResponseBody().write(bytes);
        ex.close();
    }

    private record Run(int status, String out, String err) {
    }

    private Run ctl(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        String[] all = new String[args.length + 3];
        all[0] = "ctl";
        all[1] = "--url=http://127.0.0.1:" + server.getAddress().getPort();
        all[2] = "--admin-key=adm";
        System.arraycopy(args, 0, all, 3, args.length);
        int status = Main.run(all, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void listsNodesAsATable() {
        Run r = ctl("nodes");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("gpu-1") && r.out().contains("3/1/64") && r.out().contains("acme/support v2 (pinned)"), r.out());
        assertTrue(r.out().contains("5 hits, 1 misses"), r.out());
        Run json = ctl("nodes", "--json");
        assertTrue(json.out().contains("\"prefetch\""), json.out());
    }

    @Test
    void drainWaitsUntilTheNodeHasLeft() {
        Run r = ctl("drain", "gpu-1", "--wait", "--timeout", "20");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("waiting for 2 requests in flight") && r.out().contains("has left the cluster"), r.out());
        assertEquals("POST /v1/admin/nodes/gpu-1/drain", calls.getFirst());
    }

    @Test
    void pinSendsTheNode() {
        Run r = ctl("pin", "acme/support", "--node", "gpu-2");
        assertEquals(0, r.status(), r.err());
        assertTrue(calls.contains("POST /v1/admin/tenants/acme/adapters/support/pin {\"node\":\"gpu-2\"}"), calls.toString());
        assertTrue(r.out().contains("[gpu-2]"), r.out());
    }

    @Test
    void routerRefusalsExitOneWithTheirMessageAndBadUsageTwo() {
        Run unknown = ctl("undrain", "nope");
        assertEquals(1, unknown.status());
        assertTrue(unknown.err().contains("404") && unknown.err().contains("No GPU node 'nope'"), unknown.err());
        assertEquals(2, ctl("pin", "no-slash").status());
        assertEquals(2, ctl("frobnicate").status());
        assertEquals(2, ctl("drain").status());
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(new String[] {"ctl", "--url=http://127.0.0.1:" + server.getAddress().getPort(), "--admin-key=wrong", "nodes"},
                new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(1, status);
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("Incorrect admin key"), err.toString(StandardCharsets.UTF_8));
    }
}
