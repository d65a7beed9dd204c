package io.loraplex.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cluster's measurements (not a test: it asserts nothing about speed, it prints): one router and
 * GPU nodes as separate JVMs, like {@link ClusterIT}. Run it with
 * {@code ./mvnw -B -Pcluster-bench -pl deploy verify -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false};
 * the results go to {@code deploy/target/cluster-bench.txt} and the console.
 * <ul>
 *   <li>routing overhead: {@code x-loraplex-route-ms} (arrival → tenant admission → placement → the
 *       node's {@code Started}) of max_tokens=1 requests, p50/p99;</li>
 *   <li>first-request latency of a cold adapter, with and without {@code POST /v1/sessions} first;</li>
 *   <li>drain of a node holding 100 hot adapters, until it has left;</li>
 *   <li>a node's SIGKILL until its hot adapters are hot on the survivor.</li>
 * </ul>
 */
@Tag("cluster-bench")
class ClusterBench {

    static final int ADAPTERS = 100;

    @TempDir
    Path dir;
    LocalFleet fleet;
    String key;
    final List<String> report = new ArrayList<>();

    @Test
    void measure() throws Exception {
        fleet = new LocalFleet(dir, List.of("--journal", "embedded"));
        try {
            fleet.router("router-1");
            fleet.gpuNode("gpu-1");
            fleet.gpuNode("gpu-2");
            key = fleet.tenant("bench", "{\"requests_per_second\": 10000, \"request_burst\": 10000, \"tokens_per_minute\": 100000000}");
            ModelConfig config = ModelConfig.load(fleet.model);
            for (int i = 0; i < ADAPTERS + 20; i++) {
                upload("a" + i, config, i + 1);
            }
            routingOverhead();
            firstRequest();
            drain();
            death();
        } finally {
            fleet.keepLogs("ClusterBench");
            fleet.close();
            String text = String.join("\n", report) + "\n";
            System.out.print(text);
            Files.writeString(Launcher.repoRoot().resolve("deploy/target/cluster-bench.txt"), text);
        }
    }

    private void routingOverhead() {
        chat("a0", Map.of()); // warm the adapter and the JIT
        for (int i = 0; i < 50; i++) {
            chat("a0", Map.of());
        }
        List<Double> route = new ArrayList<>();
        List<Double> total = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            long start = System.nanoTime();
            HttpResponse<String> r = chat("a" + (i % 10), Map.of());
            total.add((System.nanoTime() - start) / 1e6);
            route.add(Double.parseDouble(r.headers().firstValue("x-loraplex-route-ms").orElseThrow()));
        }
        report.add(String.format("routing overhead (arrival -> admission -> placement -> node Started), 300 requests of 10 hot "
                + "adapters: p50 %.2f ms, p99 %.2f ms; whole request (max_tokens=1, client-side): p50 %.2f ms, p99 %.2f ms",
                pct(route, 50), pct(route, 99), pct(total, 50), pct(total, 99)));
    }

    private void firstRequest() {
        List<Double> cold = new ArrayList<>();
        List<Double> prefetched = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            long start = System.nanoTime();
            chat("a" + (ADAPTERS + i), Map.of());
            cold.add((System.nanoTime() - start) / 1e6);
            HttpResponse<String> session = fleet.send("POST", "/v1/sessions", key, "{\"model\": \"a" + (ADAPTERS + 10 + i) + "\"}");
            String id = LocalFleet.json(session.body()).path("id").asText();
            long first = System.nanoTime();
            HttpResponse<String> r = chat("a" + (ADAPTERS + 10 + i), Map.of("X-Session-Id", id));
            prefetched.add((System.nanoTime() - first) / 1e6);
            if (!"hot".equals(r.headers().firstValue("x-loraplex-adapter-tier").orElse(""))) {
                report.add("  (a prefetched first request was not hot: " + r.headers().map() + ")");
            }
        }
        report.add(String.format("first request of a cold adapter (max_tokens=1), 10 adapters each: without prefetch median %.1f ms "
                + "(max %.1f); after POST /v1/sessions median %.1f ms (max %.1f)", pct(cold, 50), pct(cold, 100), pct(prefetched, 50),
                pct(prefetched, 100)));
    }

    private void drain() throws Exception {
        for (int i = 0; i < ADAPTERS; i++) {
            HttpResponse<String> r = fleet.admin("POST", "/v1/admin/tenants/bench/adapters/a" + i + "/pin", "{\"node\": \"gpu-1\"}");
            if (r.statusCode() != 200) {
                throw new IllegalStateException("pin a" + i + ": " + r.body());
            }
            fleet.admin("POST", "/v1/admin/tenants/bench/adapters/a" + i + "/unpin", "{\"node\": \"gpu-1\"}");
        }
        LocalFleet.await(() -> fleet.node("gpu-1").path("hot").size() >= ADAPTERS, Duration.ofSeconds(60), "100 adapters hot on gpu-1");
        int hot = fleet.node("gpu-1").path("hot").size();
        long start = System.nanoTime();
        Launcher.Run ctl = Launcher.run(dir, "ctl", "--url", fleet.url(), "--admin-key", LocalFleet.ADMIN_KEY, "drain", "gpu-1", "--wait",
                "--timeout", "600");
        double seconds = (System.nanoTime() - start) / 1e9;
        int moved = fleet.node("gpu-2").path("hot").size();
        report.add(String.format("drain of a node holding %d hot adapters (ctl drain --wait, until it left): %.2f s; exit %d; "
                + "%d adapters hot on the other node afterwards", hot, seconds, ctl.exit(), moved));
        fleet.member("gpu-1").process().waitFor();
    }

    private void death() throws Exception {
        LocalFleet.Member victim = fleet.gpuNode("gpu-3");
        List<String> held = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            fleet.admin("POST", "/v1/admin/tenants/bench/adapters/a" + i + "/evict", null);
            fleet.admin("POST", "/v1/admin/tenants/bench/adapters/a" + i + "/pin", "{\"node\": \"gpu-3\"}");
            held.add("a" + i);
        }
        LocalFleet.await(() -> held.stream().allMatch(a -> fleet.hotOn("bench", a).contains("gpu-3")), Duration.ofSeconds(60),
                "20 adapters hot on gpu-3");
        long killed = System.nanoTime();
        victim.kill();
        LocalFleet.await(() -> held.stream().allMatch(a -> fleet.hotOn("bench", a).contains("gpu-2")), Duration.ofSeconds(120),
                "the dead node's adapters hot on gpu-2");
        double hotAgain = (System.nanoTime() - killed) / 1e9;
        long servedAt = System.nanoTime();
        HttpResponse<String> r = chat("a0", Map.of());
        report.add(String.format("SIGKILL of a node holding 20 hot adapters -> all of them hot on the survivor: %.2f s "
                + "(re-placed once the failure detector gives up on it: 4 s heartbeat pause with --fast-failure); next request %d in %.1f ms",
                hotAgain, r.statusCode(), (System.nanoTime() - servedAt) / 1e6));
    }

    private HttpResponse<String> chat(String model, Map<String, String> headers) {
        HttpResponse<String> r = fleet.send(fleet.url(), "POST", "/v1/chat/completions", key, "{\"model\": \"" + model
                + "\", \"max_tokens\": 1, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", headers);
        if (r.statusCode() != 200) {
            throw new IllegalStateException(model + ": " + r.statusCode() + " " + r.body());
        }
        return r;
    }

    private void upload(String name, ModelConfig config, long seed) throws Exception {
        Path adapter = dir.resolve("adapters").resolve(name);
        AdapterWriter.writeRandom(adapter, config, EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ), 8, 16, false, DType.F32, seed);
        Multipart form = new Multipart().field("name", name)
                .file(ContentHash.CONFIG_FILE, adapter.resolve(ContentHash.CONFIG_FILE))
                .file(ContentHash.WEIGHTS_FILE, adapter.resolve(ContentHash.WEIGHTS_FILE));
        HttpResponse<String> up = fleet.http.send(HttpRequest.newBuilder(URI.create(fleet.url() + "/v1/adapters"))
                .header("Authorization", "Bearer " + key).header("Content-Type", form.contentType())
                .POST(form.publisher()).timeout(Duration.ofMinutes(3)).build(), HttpResponse.BodyHandlers.ofString());
        if (up.statusCode() != 201) {
            throw new IllegalStateException("upload " + name + ": " + up.body());
        }
        JsonNode promoted = LocalFleet.json(fleet.send("POST", "/v1/adapters/" + name + "/promote", key, "{}").body());
        if (promoted.has("error")) {
            throw new IllegalStateException("promote " + name + ": " + promoted);
        }
    }

    private static double pct(List<Double> values, int p) {
        List<Double> sorted = values.stream().sorted().toList();
        int i = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
    }
}
