package io.loraplex.simulations.fleet.replay;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import io.loraplex.engine.model.TinyModel;
import io.loraplex.simulations.fleet.TraceRequest;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The replayer against a stand-in server that speaks loraplex's HTTP API (admin, adapters, sessions,
 * chat as JSON or server-sent events, the node and tier headers): what it sends and what it records.
 */
class TraceReplayerTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;
    HttpServer server;
    ReplayTarget target;
    /** What the stand-in received: "METHOD path" lines, chat bodies, session headers. */
    final List<String> calls = Collections.synchronizedList(new ArrayList<>());
    final List<JsonNode> chats = Collections.synchronizedList(new ArrayList<>());
    final List<String> sessionHeaders = Collections.synchronizedList(new ArrayList<>());
    final Set<String> loaded = ConcurrentHashMap.newKeySet();

    @BeforeEach
    void start() throws IOException {
        Path model = dir.resolve("model");
        TinyModel.write(model, TinyModel.Spec.defaults(0));
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", this::handle);
        server.start();
        target = new ReplayTarget(URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/"), "admin-secret", model);
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        byte[] in = ex.getRequestBody().readAllBytes();
        calls.add(ex.getRequestMethod() + " " + path);
        String auth = ex.getRequestHeaders().getFirst("Authorization");
        switch (path) {
            case "/v1/admin/tenants" -> reply(ex, auth.equals("Bearer admin-secret") ? 201 : 401, "{}");
            case "/v1/models" -> reply(ex, 200, "{\"data\":[{\"id\":\"tiny\",\"owned_by\":\"loraplex\"}]}");
            case "/v1/adapters" -> reply(ex, 201, "{}");
            case "/v1/sessions" -> reply(ex, 201, "{\"id\":\"sess_" + JSON.readTree(in).path("model").asText() + "\"}");
            case "/v1/chat/completions" -> chat(ex, auth, JSON.readTree(in));
            default -> {
                if (path.matches("/v1/admin/tenants/[^/]+/keys")) {
                    reply(ex, 201, "{\"key\":\"key-" + path.split("/")[4] + "\"}");
                } else if (path.matches("/v1/adapters/[^/]+/promote")) {
                    reply(ex, 200, "{}");
                } else {
                    reply(ex, 404, "{}");
                }
            }
        }
    }

    /** The calibration answers 15 prompt tokens; adapter-009 is broken (503); an adapter's first request is cold, then hot. */
    private void chat(HttpExchange ex, String auth, JsonNode body) throws IOException {
        String model = body.path("model").asText();
        if (model.equals("tiny")) {
            reply(ex, 200, "{\"usage\":{\"prompt_tokens\":15}}");
            return;
        }
        chats.add(body);
        Optional.ofNullable(ex.getRequestHeaders().getFirst("X-Session-Id")).ifPresent(sessionHeaders::add);
        if (model.equals("adapter-009")) {
            reply(ex, 503, "{\"error\":{\"message\":\"overloaded\"}}");
            return;
        }
        boolean cold = loaded.add(auth + "/" + model);
        ex.getResponseHeaders().add("x-loraplex-node", cold ? "gpu-2" : "gpu-1");
        ex.getResponseHeaders().add("x-loraplex-adapter-tier", cold ? "cold" : "hot");
        if (body.path("stream").asBoolean()) {
            ex.getResponseHeaders().add("Content-Type", "text/event-stream");
            ex.sendResponseHeaders(200, 0);
            try (var out = ex.getResponseBody()) {
                out.write("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
                sleep(150); // the role chunk is not the first token
                out.write("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
                sleep(150);
                out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            }
        } else {
            sleep(100);
            reply(ex, 200, "{\"choices\":[{\"message\":{\"content\":\"hi\"}}]}");
        }
    }

    private static void reply(HttpExchange ex, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length);
        try (var out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static TraceRequest traced(long at, String tenant, String model, String session, int prompt, boolean stream) {
        return new TraceRequest(at, tenant, model, session, prompt, 6, stream);
    }

    @Test
    void aReplaySetsUpThroughTheApisSendsAtTheTracesTimesAndRecordsNodeTierAndStatus() throws Exception {
        List<TraceRequest> trace = List.of(
                traced(0, "replay-1", "adapter-001", null, 20, true),
                traced(50, "replay-2", "adapter-001", "s1", 40, false),
                traced(100, "replay-1", "adapter-009", null, 16, false),
                traced(400, "replay-1", "adapter-001", null, 15, false),
                traced(450, "replay-2", "adapter-001", "s1", 18, true));
        Path traceFile = dir.resolve("trace.csv");
        TraceFiles.writeTrace(traceFile, trace);
        Path resultFile = dir.resolve("results.csv");
        ReplaySummary summary = new TraceReplayer(target).replay(traceFile, resultFile, dir.resolve("work"));

        // two tenants, a key each, three adapters uploaded and promoted, one calibration, one session opened once
        assertEquals(2, calls.stream().filter(c -> c.equals("POST /v1/admin/tenants")).count(), calls.toString());
        assertTrue(calls.contains("POST /v1/admin/tenants/replay-1/keys") && calls.contains("POST /v1/admin/tenants/replay-2/keys"));
        assertEquals(3, calls.stream().filter(c -> c.equals("POST /v1/adapters")).count(), calls.toString());
        assertTrue(calls.containsAll(List.of("POST /v1/adapters/adapter-001/promote", "POST /v1/adapters/adapter-009/promote")));
        assertEquals(1, calls.stream().filter(c -> c.equals("POST /v1/sessions")).count(), calls.toString());
        assertEquals(List.of("sess_adapter-001", "sess_adapter-001"), sessionHeaders);

        List<ReplayedRequest> results = TraceFiles.readResults(resultFile);
        assertEquals(List.of(0L, 50L, 100L, 400L, 450L), results.stream().map(ReplayedRequest::atMs).toList());
        ReplayedRequest first = results.get(0);
        assertEquals(Optional.of(new NodeId("gpu-2")), first.node());
        assertEquals(Optional.of(AdapterTier.COLD), first.tier());
        assertEquals(200, first.status());
        // streamed: the first content chunk after 150 ms, the end after 300; the role-only chunk does not count
        assertTrue(first.ttftMs() >= 150 && first.latencyMs() >= 300 && first.ttftMs() < first.latencyMs(), first.toString());
        // not streamed: the first token is the whole answer
        assertEquals(results.get(1).ttftMs(), results.get(1).latencyMs());
        assertEquals(503, results.get(2).status());
        assertEquals(Optional.empty(), results.get(2).tier());
        assertEquals(Optional.of(AdapterTier.HOT), results.get(3).tier());
        assertEquals(Optional.of(AdapterTier.HOT), results.get(4).tier());

        assertEquals(5, summary.requests());
        assertEquals(2, summary.coldLoads());
        assertEquals(1, summary.failures());
        assertEquals(0.4, summary.hotHitRate(), 1e-12);
        assertEquals(summary, ReplaySummary.of(resultFile));
    }

    @Test
    void thePromptIsSizedToTheTracesTokensLessTheChatTemplatesOwn() throws Exception {
        Path traceFile = dir.resolve("trace.csv");
        TraceFiles.writeTrace(traceFile, List.of(traced(0, "replay-1", "adapter-001", null, 40, false),
                traced(10, "replay-1", "adapter-002", null, 3, false)));
        new TraceReplayer(target).replay(traceFile, dir.resolve("results.csv"), dir.resolve("work"));
        // the calibration's one word came back as 15 tokens: the template adds 14
        List<Integer> words = chats.stream().map(c -> c.at("/messages/0/content").asText().split(" ").length).sorted().toList();
        assertEquals(List.of(1, 26), words);
        assertEquals(6, chats.getFirst().path("max_tokens").asInt());
    }

    @Test
    void aServerThatRefusesTheAdminKeyStopsTheSetupWithItsAnswer() throws Exception {
        ReplayTarget wrongKey = new ReplayTarget(target.url(), "not-the-admin", target.baseModel());
        Path traceFile = dir.resolve("trace.csv");
        TraceFiles.writeTrace(traceFile, List.of(traced(0, "replay-1", "adapter-001", null, 20, false)));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new TraceReplayer(wrongKey).replay(traceFile, dir.resolve("results.csv"), dir.resolve("work")));
        assertEquals("creating tenant replay-1 answered 401 (expected 201): {}", e.getMessage());
    }

    @Test
    void aTargetWithoutABaseModelConfigIsRefusedNamingTheDirectory() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new ReplayTarget(URI.create("http://127.0.0.1:1"), "k", dir.resolve("nothing")));
        assertEquals("the base model directory must hold config.json, got '" + dir.resolve("nothing") + "'", e.getMessage());
    }
}
