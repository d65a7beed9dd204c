package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.TinyModel;
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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * A fleet serving two base models of different shapes (tiny-a on {@code r1} and {@code a1},
 * tiny-b on {@code b1}), with {@code r1} drained (it holds the router too, so it stays, draining):
 * validation, training and chat each always go to a ready node of the right base. A validation on a
 * node of the other base would reject the adapter (its shapes do not fit); one on the draining node,
 * or a job trained there, shows in that node's log. Runs in the {@code cluster} profile.
 */
@Tag("cluster")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class TwoBaseModelsIT {

    static final String CHAT = "/v1/chat/completions";
    /** Uploads per base: with a node chosen at random, some would land on the wrong base or the drained node. */
    static final int ADAPTERS = 4;

    @TempDir
    static Path dir;
    static LocalFleet fleet;
    static ModelConfig configA;
    static ModelConfig configB;
    static String key;

    @BeforeAll
    static void start() throws Exception {
        fleet = new LocalFleet(dir, List.of("--journal", "embedded"));
        Path modelB = dir.resolve("model-b");
        // another base: other width and depth, so an adapter of one base never fits the other
        TinyModel.write(modelB, new TinyModel.Spec(Architecture.LLAMA, 96, 3, 4, 2, null, 256, 1024, DType.F32, null, null, 4096,
                null, 0, null, null, 1, 7));
        configA = ModelConfig.load(fleet.model);
        configB = ModelConfig.load(modelB);
        fleet.routerWithNode("r1", fleet.model, "tiny-a");
        fleet.gpuNode("a1", fleet.model, "tiny-a");
        fleet.gpuNode("b1", modelB, "tiny-b");
        assertNotEquals(fleet.node("a1").path("base_identity").asText(), fleet.node("b1").path("base_identity").asText());
        HttpResponse<String> drain = fleet.admin("POST", "/v1/admin/nodes/r1/drain", "{}");
        assertEquals(202, drain.statusCode(), drain.body()); // accepted: it goes on in the background
        LocalFleet.await(() -> fleet.node("r1").path("draining").asBoolean()
                && fleet.node("r1").path("drain_status").asText().startsWith("drained"), Duration.ofSeconds(60),
                "r1 drained (it stays: its JVM holds the router)");
        key = fleet.tenant("acme", null);
    }

    @AfterAll
    static void stop() throws Exception {
        if (fleet != null) {
            fleet.keepLogs("TwoBaseModelsIT");
            fleet.close();
        }
    }

    static HttpResponse<String> upload(String name, ModelConfig config, String baseModel, long seed) throws Exception {
        Path adapter = dir.resolve("adapters").resolve(name);
        AdapterWriter.writeRandom(adapter, config, EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ), 8, 16, false, DType.F32, seed);
        Multipart form = new Multipart().field("name", name)
                .file(ContentHash.CONFIG_FILE, adapter.resolve(ContentHash.CONFIG_FILE))
                .file(ContentHash.WEIGHTS_FILE, adapter.resolve(ContentHash.WEIGHTS_FILE));
        if (baseModel != null) {
            form.field("base_model", baseModel);
        }
        return fleet.http.send(HttpRequest.newBuilder(URI.create(fleet.url() + "/v1/adapters"))
                .header("Authorization", "Bearer " + key).header("Content-Type", form.contentType())
                .POST(form.publisher()).timeout(Duration.ofMinutes(3)).build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> chat(String model) {
        return fleet.send(fleet.url(), "POST", CHAT, key, "{\"model\": \"" + model + "\", \"max_tokens\": 4, \"temperature\": 0, "
                + "\"messages\": [{\"role\": \"user\", \"content\": \"hello there\"}]}", Map.of());
    }

    /** The members whose log has a line matching {@code regex}. */
    static List<String> logged(String regex) {
        Pattern p = Pattern.compile(regex);
        List<String> out = new ArrayList<>();
        for (String name : List.of("r1", "a1", "b1")) {
            if (p.matcher(fleet.member(name).printed()).find()) {
                out.add(name);
            }
        }
        return out;
    }

    @Test
    @Order(1)
    void adaptersOfEachBaseAreValidatedAndServedOnlyOnAReadyNodeOfThatBase() throws Exception {
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        List<Future<HttpResponse<String>>> uploads = new ArrayList<>();
        for (int i = 0; i < ADAPTERS; i++) {
            int seed = i;
            uploads.add(pool.submit(() -> upload("for-a-" + seed, configA, "tiny-a", 100 + seed)));
            uploads.add(pool.submit(() -> upload("for-b-" + seed, configB, "tiny-b", 200 + seed)));
        }
        for (Future<HttpResponse<String>> f : uploads) {
            HttpResponse<String> r = f.get();
            assertEquals(201, r.statusCode(), "validated on a node of its base: " + r.body());
        }
        String identityA = fleet.node("a1").path("base_identity").asText();
        String identityB = fleet.node("b1").path("base_identity").asText();
        for (int i = 0; i < ADAPTERS; i++) {
            for (String base : List.of("a", "b")) {
                String name = "for-" + base + "-" + i;
                JsonNode view = LocalFleet.json(fleet.send("GET", "/v1/adapters/" + name, key, null).body());
                assertEquals(base.equals("a") ? identityA : identityB, view.at("/versions/0/base_identity").asText(), name);
                assertEquals(List.of(base + "1"), logged("validates adapter " + name + " v1 "), name + " validated on " + base + "1 only");
                HttpResponse<String> promoted = fleet.send("POST", "/v1/adapters/" + name + "/promote", key, "{}");
                assertEquals(200, promoted.statusCode(), promoted.body());
                HttpResponse<String> r = chat(name);
                assertEquals(200, r.statusCode(), r.body());
                assertEquals(base + "1", r.headers().firstValue("x-loraplex-node").orElseThrow(), name + " served on its base");
            }
        }
        for (String base : List.of("a", "b")) {
            HttpResponse<String> r = chat("tiny-" + base);
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(base + "1", r.headers().firstValue("x-loraplex-node").orElseThrow(), "the base tiny-" + base);
        }
        pool.close();
    }

    @Test
    @Order(2)
    void anUploadNamingNoBaseIsRefusedSinceTheFleetServesTwo() throws Exception {
        HttpResponse<String> r = upload("unnamed", configA, null, 1);
        assertEquals(400, r.statusCode(), r.body());
        JsonNode error = LocalFleet.json(r.body()).get("error");
        assertEquals("base_model", error.get("param").asText(), r.body());
        assertTrue(error.get("message").asText().contains("tiny-a") && error.get("message").asText().contains("tiny-b"), r.body());
        assertEquals(404, fleet.send("GET", "/v1/adapters/unnamed", key, null).statusCode(), "nothing registered");
    }

    @Test
    @Order(3)
    void aJobOfEachBaseTrainsOnAReadyNodeOfThatBaseAndItsAdapterIsServedThere() throws Exception {
        Path pairs = dir.resolve("pairs.jsonl");
        String fileId = FineTuneIT.uploadTrainingFile(fleet.url(), key, pairs);
        Map<String, String> jobs = new java.util.LinkedHashMap<>(); // base → job id
        for (String base : List.of("a", "b")) {
            HttpResponse<String> created = fleet.send("POST", "/v1/fine_tuning/jobs", key, "{\"training_file\": \"" + fileId
                    + "\", \"model\": \"tiny-" + base + "\", \"suffix\": \"ft-" + base + "\", \"hyperparameters\": {\"n_epochs\": 1, "
                    + "\"promote\": true}}");
            assertEquals(200, created.statusCode(), created.body());
            jobs.put(base, LocalFleet.json(created.body()).get("id").asText());
        }
        for (Map.Entry<String, String> job : jobs.entrySet()) {
            String base = job.getKey();
            JsonNode done = FineTuneIT.awaitStatus(fleet.url(), key, job.getValue(), "succeeded", 300);
            assertEquals("succeeded", done.get("status").asText(), done.toString());
            assertEquals(List.of(base + "1"), logged("trains job " + job.getValue() + " "), "job of tiny-" + base + " trained on " + base
                    + "1 only");
            assertEquals(List.of(base + "1"), logged("validates adapter ft-" + base + " v1 "), "its adapter validated on " + base + "1");
            JsonNode view = LocalFleet.json(fleet.send("GET", "/v1/adapters/ft-" + base, key, null).body());
            assertEquals(fleet.node(base + "1").path("base_identity").asText(), view.at("/versions/0/base_identity").asText());
        }
        assertFalse(logged("trains job").contains("r1"), "nothing trains on the drained node");
    }
}
