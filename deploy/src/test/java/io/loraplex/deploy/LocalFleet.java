package io.loraplex.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.engine.model.TinyModel;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * A cluster of real JVMs on 127.0.0.1, each {@code loraplex serve} from the packaged distribution
 * with its roles: routers (HTTP API, tenants) and GPU nodes (one shared generated model, so every
 * node serves the same base identity). Logs go to files under the fleet's directory; {@link #close}
 * kills whatever still runs, and copies the logs under {@code target/cluster-logs} for a failed run.
 */
final class LocalFleet implements AutoCloseable {

    static final String ADMIN_KEY = "lp-admin-cluster-test-0123456789";
    static final ObjectMapper JSON = new ObjectMapper();

    /** One JVM of the fleet. */
    record Member(String name, Process process, Path log, int clusterPort, String url, int managementPort) {
        String printed() {
            try {
                return Files.readString(log);
            } catch (IOException e) {
                return "(no log: " + e + ")";
            }
        }

        /** SIGKILL: nothing graceful. */
        void kill() throws InterruptedException {
            process.destroyForcibly();
            process.waitFor(60, TimeUnit.SECONDS);
        }
    }

    final Path dir;
    final Path model;
    final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
    private final Map<String, Member> members = new LinkedHashMap<>();
    private final List<String> journal;

    private final String routerConfig;

    /** @param journal the routers' journal flags ({@code --journal embedded} or {@code --journal cassandra ...}) */
    LocalFleet(Path dir, List<String> journal) throws IOException {
        this(dir, journal, "");
    }

    /** @param routerConfig HOCON every router starts with ({@code --config}), empty for none */
    LocalFleet(Path dir, List<String> journal, String routerConfig) throws IOException {
        this.dir = dir;
        this.journal = journal;
        this.routerConfig = routerConfig;
        this.model = dir.resolve("model");
        TinyModel.write(model, TinyModel.Spec.defaults(0));
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** Starts a router (the first is the seed of everything after it) and waits until its API answers. */
    Member router(String name) throws Exception {
        int http = freePort();
        int cluster = freePort();
        List<String> args = new ArrayList<>(List.of("--roles", "router", "--port", String.valueOf(http), "--no-demo"));
        args.addAll(journal);
        if (!routerConfig.isEmpty()) {
            Path config = dir.resolve("router.conf");
            Files.writeString(config, routerConfig);
            args.addAll(List.of("--config", config.toString()));
        }
        Member m = start(name, cluster, args, "loraplex is serving on (http://\\S+)", 0);
        awaitHttp(m.url() + "/v1/models", Duration.ofSeconds(60));
        return m;
    }

    /** Starts a GPU node joining the routers, and waits until the first router lists it ready. */
    Member gpuNode(String id) throws Exception {
        return gpuNode(id, model, "tiny");
    }

    /** Starts a GPU node serving {@code modelDir} as {@code modelId}, and waits until the first router lists it ready. */
    Member gpuNode(String id, Path modelDir, String modelId) throws Exception {
        int management = freePort();
        Member m = start(id, freePort(), List.of("--roles", "gpu-node", "--node-id", id, "--model", modelDir.toString(),
                "--model-id", modelId, "--threads", "1", "--config", gpuNodeConfig().toString(), "--management-port",
                String.valueOf(management)), "loraplex GPU node", management);
        await(() -> node(id) != null && node(id).path("ready").asBoolean(), Duration.ofSeconds(120), "node " + id + " to be ready");
        return m;
    }

    /**
     * Starts a JVM with both roles (the first router, when none runs yet), serving {@code modelDir} as
     * {@code modelId}: such a node drains but never leaves, since its JVM also holds the router.
     */
    Member routerWithNode(String name, Path modelDir, String modelId) throws Exception {
        int http = freePort();
        List<String> args = new ArrayList<>(List.of("--roles", "router,gpu-node", "--node-id", name, "--port", String.valueOf(http),
                "--no-demo", "--model", modelDir.toString(), "--model-id", modelId, "--threads", "1", "--config",
                gpuNodeConfig().toString()));
        args.addAll(journal);
        Member m = start(name, freePort(), args, "loraplex is serving on (http://\\S+)", 0);
        awaitHttp(m.url() + "/v1/models", Duration.ofSeconds(60));
        await(() -> node(name) != null && node(name).path("ready").asBoolean(), Duration.ofSeconds(120), "node " + name + " to be ready");
        return m;
    }

    private Path gpuNodeConfig() throws IOException {
        Path config = dir.resolve("gpu-node.conf");
        if (!Files.exists(config)) {
            // several JVMs share a 2-core machine: a small engine each
            Files.writeString(config, "loraplex.engine { memory-budget-bytes = 134217728, warm-budget-bytes = 134217728 }\n");
        }
        return config;
    }

    private Member start(String name, int clusterPort, List<String> args, String readyPattern, int managementPort) throws Exception {
        List<String> command = new ArrayList<>(List.of(Launcher.dist().resolve("bin/loraplex").toString(), "serve",
                "--data", dir.resolve(name).toString(), "--cluster-port", String.valueOf(clusterPort), "--fast-failure"));
        Member seed = members.values().stream().filter(m -> m.url() != null).findFirst().orElse(null);
        if (seed != null) {
            command.addAll(List.of("--seed-nodes", "127.0.0.1:" + seed.clusterPort()));
        }
        command.addAll(args);
        Path log = dir.resolve(name + ".log");
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().put("LORAPLEX_JAVA_OPTS", "-Xmx768m");
        pb.environment().put("LORAPLEX_ADMIN_KEY", ADMIN_KEY);
        Process process = pb.start();
        java.util.regex.Pattern p = java.util.regex.Pattern.compile(readyPattern);
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (true) {
            String out = Files.exists(log) ? Files.readString(log) : "";
            java.util.regex.Matcher matcher = p.matcher(out);
            if (matcher.find()) {
                Member m = new Member(name, process, log, clusterPort, matcher.groupCount() > 0 ? matcher.group(1) : null, managementPort);
                members.put(name, m);
                return m;
            }
            if (!process.isAlive() || System.nanoTime() > until) {
                process.destroyForcibly();
                throw new IllegalStateException(name + (process.isAlive() ? " did not start in 180 s" : " exited") + "; it printed:\n" + out);
            }
            Thread.sleep(200);
        }
    }

    Member member(String name) {
        return members.get(name);
    }

    /** The status of GET /ready on the member's Pekko Management port; -1 when nothing answers. */
    int ready(Member m) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + m.managementPort() + "/ready"))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /** The first router's URL. */
    String url() {
        return members.values().stream().filter(m -> m.url() != null).findFirst().orElseThrow().url();
    }

    // ---- HTTP

    HttpResponse<String> send(String url, String method, String path, String key, String body, Map<String, String> headers) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(120))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        headers.forEach(b::header);
        try {
            return http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException(method + " " + path + " failed: " + e, e);
        }
    }

    HttpResponse<String> send(String method, String path, String key, String body) {
        return send(url(), method, path, key, body, Map.of());
    }

    HttpResponse<String> admin(String method, String path, String body) {
        return send(method, path, ADMIN_KEY, body);
    }

    /** The node as GET /v1/admin/nodes/{id} shows it, or null when it is not in the cluster. */
    JsonNode node(String id) {
        HttpResponse<String> r = admin("GET", "/v1/admin/nodes/" + id, null);
        return r.statusCode() == 200 ? json(r.body()) : null;
    }

    JsonNode nodes() {
        return json(admin("GET", "/v1/admin/nodes", null).body());
    }

    /** The ids of the nodes listing the adapter {@code tenant/name} hot. */
    List<String> hotOn(String tenant, String name) {
        List<String> out = new ArrayList<>();
        for (JsonNode n : nodes().path("data")) {
            for (JsonNode a : n.path("hot")) {
                if (a.path("tenant").asText().equals(tenant) && a.path("name").asText().equals(name)) {
                    out.add(n.path("id").asText());
                }
            }
        }
        return out;
    }

    /** Creates a tenant and a chat+manage key; answers the key. */
    String tenant(String id, String limits) {
        HttpResponse<String> r = admin("POST", "/v1/admin/tenants", "{\"id\": \"" + id + "\"" + (limits == null ? "" : ", \"limits\": " + limits)
                + "}");
        if (r.statusCode() != 200 && r.statusCode() != 201) {
            throw new IllegalStateException("tenant " + id + ": " + r.statusCode() + " " + r.body());
        }
        HttpResponse<String> k = admin("POST", "/v1/admin/tenants/" + id + "/keys", "{\"scopes\": [\"chat\", \"manage\"]}");
        if (k.statusCode() != 200 && k.statusCode() != 201) {
            throw new IllegalStateException("key of " + id + ": " + k.statusCode() + " " + k.body());
        }
        String key = json(k.body()).path("key").asText();
        await(() -> send("GET", "/v1/models", key, null).statusCode() == 200, Duration.ofSeconds(30), "the key of " + id + " to work");
        return key;
    }

    static JsonNode json(String body) {
        try {
            return JSON.readTree(body);
        } catch (IOException e) {
            throw new IllegalStateException("not JSON: " + body, e);
        }
    }

    static void awaitHttp(String url, Duration timeout) throws Exception {
        HttpClient client = HttpClient.newHttpClient();
        await(() -> {
            try {
                return client.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() > 0;
            } catch (Exception e) {
                return false;
            }
        }, timeout, url + " to answer");
    }

    static void await(BooleanSupplier condition, Duration timeout, String what) {
        long until = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > until) {
                throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what);
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    /** Keeps every member's log under target/cluster-logs/{test} (read after a failure). */
    void keepLogs(String test) throws IOException {
        Path target = Launcher.repoRoot().resolve("deploy/target/cluster-logs").resolve(test);
        Files.createDirectories(target);
        for (Member m : members.values()) {
            if (Files.exists(m.log())) {
                Files.copy(m.log(), target.resolve(m.name() + ".log"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    @Override
    public void close() throws Exception {
        for (Member m : members.values()) {
            m.process().destroyForcibly();
        }
        for (Member m : members.values()) {
            m.process().waitFor(60, TimeUnit.SECONDS);
        }
    }
}
