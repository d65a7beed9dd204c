package io.loraplex.simulations.fleet.replay;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import io.loraplex.simulations.fleet.TraceRequest;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Replays a trace against a real server at the trace's timestamps (an open model: a late answer never
 * delays the next request), one virtual thread per request, and records each answer. A request's clock
 * starts when the trace says it is due, so time to first token includes a session's opening
 * ({@code POST /v1/sessions}, whose prefetch the first turn waits for) as a client would see it; a
 * streamed request's first token is its first chunk with content, a non-streamed one's the whole answer.
 */
public final class TraceReplayer {

    /** How long one request may take before it counts as failed. */
    static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(120);

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient http;
    private final ReplayTarget target;

    public TraceReplayer(ReplayTarget target) {
        this.target = target;
        // HTTP/1.1: no h2c upgrade attempt on every new connection
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
    }

    /**
     * Sets up the trace's tenants, keys and adapters (generated under {@code work}), replays it, writes
     * the result file and answers its summary.
     */
    public ReplaySummary replay(Path traceFile, Path resultFile, Path work) throws IOException, InterruptedException {
        List<TraceRequest> trace = TraceFiles.readTrace(traceFile);
        Files.createDirectories(work);
        Map<String, String> keys = new TenantSetup(http, target).prepare(trace, work);
        int overhead = trace.isEmpty() ? 0 : promptOverhead(keys.values().iterator().next());
        List<ReplayedRequest> results = replay(trace, keys, overhead);
        TraceFiles.writeResults(resultFile, results);
        return ReplaySummary.of(results);
    }

    /** The requests of {@code trace} sent at their times with the tenants' {@code keys}; the answers in trace order. */
    List<ReplayedRequest> replay(List<TraceRequest> trace, Map<String, String> keys, int promptOverhead) throws InterruptedException {
        // read and written by this thread only: the first request of a session in the trace is the one that opens it
        Map<String, CompletableFuture<Optional<String>>> sessions = new HashMap<>();
        List<Future<ReplayedRequest>> pending = new ArrayList<>(trace.size());
        long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200); // every thread started before the first is due
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (TraceRequest r : trace) {
                String key = keys.get(r.tenant());
                if (key == null) {
                    throw new IllegalArgumentException("no key for tenant " + r.tenant() + " of the request at " + r.atMs() + " ms");
                }
                long due = start + TimeUnit.MILLISECONDS.toNanos(r.atMs());
                CompletableFuture<Optional<String>> session = r.sessionKey().map(s -> sessions.get(s)).orElse(null);
                boolean opens = r.inSession() && session == null;
                if (opens) {
                    session = new CompletableFuture<>();
                    sessions.put(r.session(), session);
                }
                CompletableFuture<Optional<String>> its = session;
                pending.add(threads.submit(() -> {
                    sleepUntil(due);
                    return send(r, key, due, promptOverhead, its, opens);
                }));
            }
        }
        List<ReplayedRequest> results = new ArrayList<>(pending.size());
        for (Future<ReplayedRequest> f : pending) {
            results.add(f.resultNow());
        }
        return results;
    }

    private ReplayedRequest send(TraceRequest r, String key, long due, int promptOverhead,
            CompletableFuture<Optional<String>> session, boolean opens) {
        Optional<String> sessionId = Optional.empty();
        if (session != null) {
            if (opens) {
                session.complete(openSession(r, key));
            }
            try {
                sessionId = session.get(REQUEST_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            } catch (Exception e) {
                return failed(r, due);
            }
            if (sessionId.isEmpty()) {
                return failed(r, due); // the session did not open: its turns fail with it
            }
        }
        HttpRequest.Builder request = HttpRequest.newBuilder(target.resolve("/v1/chat/completions")).timeout(REQUEST_TIMEOUT)
                .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body(r, promptOverhead)));
        sessionId.ifPresent(id -> request.header("X-Session-Id", id));
        try {
            HttpResponse<Stream<String>> answer = http.send(request.build(), HttpResponse.BodyHandlers.ofLines());
            long firstToken = -1;
            try (Stream<String> lines = answer.body()) {
                Iterator<String> it = lines.iterator();
                while (it.hasNext()) {
                    String line = it.next();
                    if (firstToken < 0 && r.stream() && answer.statusCode() == 200 && hasContent(line)) {
                        firstToken = System.nanoTime();
                    }
                }
            }
            long end = System.nanoTime();
            Optional<NodeId> node = answer.headers().firstValue("x-loraplex-node").filter(v -> !v.isBlank()).map(NodeId::new);
            Optional<AdapterTier> tier = answer.headers().firstValue("x-loraplex-adapter-tier").filter(v -> !v.isBlank())
                    .map(AdapterTier::ofApiName);
            return new ReplayedRequest(r.atMs(), r.tenant(), r.model(), node, tier, millisSince(due, firstToken < 0 ? end : firstToken),
                    millisSince(due, end), answer.statusCode());
        } catch (IOException e) {
            return failed(r, due);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return failed(r, due);
        }
    }

    /** {@code POST /v1/sessions} for the request's adapter: the session's id, or none when it did not open. */
    private Optional<String> openSession(TraceRequest r, String key) {
        try {
            HttpResponse<String> opened = http.send(HttpRequest.newBuilder(target.resolve("/v1/sessions")).timeout(REQUEST_TIMEOUT)
                    .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(JSON.createObjectNode().put("model", r.model()).toString())).build(),
                    HttpResponse.BodyHandlers.ofString());
            if (opened.statusCode() / 100 != 2) {
                return Optional.empty();
            }
            String id = JSON.readTree(opened.body()).path("id").asText("");
            return id.isEmpty() ? Optional.empty() : Optional.of(id);
        } catch (IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    /** The chat request: a prompt of words that makes about {@code promptTokens} tokens with the chat template's own. */
    static String body(TraceRequest r, int promptOverhead) {
        int words = Math.max(1, r.promptTokens() - promptOverhead);
        ObjectNode body = JSON.createObjectNode().put("model", r.model()).put("max_tokens", r.maxTokens()).put("stream", r.stream());
        body.putArray("messages").addObject().put("role", "user").put("content", "w ".repeat(words).strip());
        return body.toString();
    }

    /** An SSE line carrying a chunk whose delta has text (the first chunk names only the role). */
    static boolean hasContent(String line) {
        if (!line.startsWith("data:")) {
            return false;
        }
        String data = line.substring(5).strip();
        if (data.equals("[DONE]")) {
            return false;
        }
        try {
            JsonNode chunk = JSON.readTree(data);
            for (JsonNode choice : chunk.path("choices")) {
                if (!choice.path("delta").path("content").asText("").isEmpty()) {
                    return true;
                }
            }
            return false;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * The tokens the server's chat template adds around a user message: a one-word prompt to the base
     * model (the entry of {@code /v1/models} owned by {@code loraplex}) less that word; 0 when there is none.
     */
    int promptOverhead(String key) throws IOException, InterruptedException {
        HttpResponse<String> models = http.send(HttpRequest.newBuilder(target.resolve("/v1/models"))
                .header("Authorization", "Bearer " + key).build(), HttpResponse.BodyHandlers.ofString());
        String base = null;
        for (JsonNode m : JSON.readTree(TenantSetup.expect(200, 200, models, "listing the models").body()).path("data")) {
            if (m.path("owned_by").asText().equals("loraplex")) {
                base = m.path("id").asText();
                break;
            }
        }
        if (base == null) {
            return 0;
        }
        HttpResponse<String> one = new TenantSetup(http, target).post("/v1/chat/completions", key,
                body(new TraceRequest(0, "calibration", base, "", 1, 1, false), 0));
        int promptTokens = JSON.readTree(TenantSetup.expect(200, 200, one, "the prompt calibration on " + base).body())
                .path("usage").path("prompt_tokens").asInt(1);
        return Math.max(0, promptTokens - 1);
    }

    /** A request that got no answer (or whose session did not open). */
    private static ReplayedRequest failed(TraceRequest r, long due) {
        long now = System.nanoTime();
        return new ReplayedRequest(r.atMs(), r.tenant(), r.model(), Optional.empty(), Optional.empty(), millisSince(due, now),
                millisSince(due, now), ReplayedRequest.NO_ANSWER);
    }

    private static long millisSince(long startNanos, long nanos) {
        return Math.max(0, TimeUnit.NANOSECONDS.toMillis(nanos - startNanos));
    }

    private static void sleepUntil(long nanos) throws InterruptedException {
        long wait = nanos - System.nanoTime();
        if (wait > 0) {
            TimeUnit.NANOSECONDS.sleep(wait);
        }
    }
}
