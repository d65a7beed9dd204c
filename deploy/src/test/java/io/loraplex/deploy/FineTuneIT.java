package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fine-tuning through the API of the embedded server, end to end with the official {@code openai}
 * npm client: a training file uploaded (and a bad one refused by line), a job run on the real GPU
 * node, its events polled to the end, the adapter registered and promoted through the lifecycle,
 * and a chat with {@code fine_tuned_model} that answers as it was taught; another tenant sees
 * neither the file nor the job.
 */
class FineTuneIT {

    static final String ADMIN_KEY = "lp-admin-finetune-test";
    static final ObjectMapper json = new ObjectMapper();
    static final HttpClient http = HttpClient.newHttpClient();

    @TempDir
    static Path data;
    static EmbeddedServer server;

    @BeforeAll
    static void start() throws Exception {
        server = EmbeddedServer.start(data, null, ConfigFactory.parseMap(Map.of("loraplex.router.port", 0, "loraplex.threads", 2,
                "loraplex.admin-key", ADMIN_KEY, "pekko.coordinated-shutdown.exit-jvm", "off",
                "pekko.actor.serialize-messages", "on")), false, System.out);
    }

    @AfterAll
    static void stop() throws Exception {
        server.stop();
    }

    @Test
    void uploadTrainPollAndChatWithTheOfficialClient() throws Exception {
        String acme = tenantKey("acme");
        String other = tenantKey("other");
        Path training = data.resolve("cafe.jsonl");
        try (var in = FineTuneIT.class.getResourceAsStream("/demo/cafe.jsonl")) {
            Files.write(training, in.readAllBytes());
        }
        Path client = Launcher.repoRoot().resolve("tools/openai-client");
        assertTrue(Files.isDirectory(client.resolve("node_modules/openai")), "the openai npm package is missing: run npm install in "
                + client + " (the router module's build does)");
        ProcessBuilder pb = new ProcessBuilder("node", client.resolve("finetune-e2e.mjs").toString()).redirectErrorStream(false);
        pb.environment().putAll(Map.of("LORAPLEX_URL", server.url() + "/v1", "LORAPLEX_KEY", acme, "LORAPLEX_OTHER_KEY", other,
                "LORAPLEX_BASE_MODEL", server.model().id(), "LORAPLEX_TRAINING_FILE", training.toString(),
                "LORAPLEX_SUFFIX", "cafe-ft", "LORAPLEX_EPOCHS", "30", "LORAPLEX_LR_MULTIPLIER", "25",
                "LORAPLEX_VALIDATE_ON_TRAINING", "1", "LORAPLEX_TIMEOUT_S", "300"));
        Process p = pb.start();
        String stderr = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        String stdout = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(360, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), stdout + stderr);
        JsonNode out = json.readTree(stdout.lines().reduce((a, b) -> b).orElseThrow());

        assertEquals("file", out.at("/file/object").asText(), out.toString());
        assertEquals("fine-tune", out.at("/file/purpose").asText());
        assertEquals(400, out.at("/badFile/status").asInt(), out.toString());
        assertTrue(out.at("/badFile/message").asText().contains("line 1"), "refused by line: " + out.at("/badFile"));
        assertTrue(out.at("/badFile/message").asText().contains("line 2"), "refused by line: " + out.at("/badFile"));

        assertEquals("succeeded", out.at("/job/status").asText(), out.toString());
        assertEquals("cafe-ft", out.at("/job/fine_tuned_model").asText());
        assertTrue(out.at("/job/trained_tokens").asLong() > 0, out.at("/job").toString());
        assertTrue(out.get("events").size() >= 3, "progress and losses as events: " + out.get("events"));
        assertTrue(out.get("events").toString().contains("loss"), out.get("events").toString());
        assertEquals(out.at("/expected").asText(), out.at("/chat/content").asText(), "the trained answer: " + out.get("chat"));

        // the other tenant: neither the file nor the job
        assertEquals(404, out.at("/otherTenant/job/status").asInt(), out.toString());
        assertEquals(404, out.at("/otherTenant/file/status").asInt(), out.toString());

        // the job's result is a promoted version of the named adapter, made by training
        HttpResponse<String> adapter = http.send(HttpRequest.newBuilder(URI.create(server.url() + "/v1/adapters/cafe-ft"))
                .header("Authorization", "Bearer " + acme).GET().build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, adapter.statusCode(), adapter.body());
        JsonNode view = json.readTree(adapter.body());
        assertEquals(1, view.get("promoted_version").asInt(), adapter.body());
        assertEquals("training", view.at("/versions/0/source").asText(), adapter.body());
        assertFalse(Files.exists(server.adapterRoot().resolve(".tmp")) && Files.list(server.adapterRoot().resolve(".tmp")).findAny()
                .isPresent(), "no upload left half-done");
    }

    @Test
    void cancelStopsARunningJobAndLeavesNoAdapterVersion() throws Exception {
        String key = tenantKey("canceller");
        String fileId = uploadTrainingFile(server.url(), key, data.resolve("canceller.jsonl"));
        String jobId = createJob(server.url(), key, fileId, "slow", 1000);
        awaitStatus(server.url(), key, jobId, "running", 120);
        HttpResponse<String> cancelled = send(server.url(), key, "POST", "/v1/fine_tuning/jobs/" + jobId + "/cancel", "");
        assertEquals(200, cancelled.statusCode(), cancelled.body());
        assertEquals("cancelled", awaitStatus(server.url(), key, jobId, "cancelled", 60).get("status").asText());
        HttpResponse<String> adapter = send(server.url(), key, "GET", "/v1/adapters/slow", null);
        assertEquals(404, adapter.statusCode(), "no adapter version after a cancel: " + adapter.body());
    }

    @Test
    void jobsQueuedTogetherTrainInOnePassAndOneCancelledAloneLeavesTheOthers() throws Exception {
        String key = tenantKey("batcher");
        String fileId = uploadTrainingFile(server.url(), key, data.resolve("batcher.jsonl"));
        // a long job holds the node's training thread while three more queue behind it
        String blocker = createJob(server.url(), key, fileId, "blocker", 1000);
        awaitStatus(server.url(), key, blocker, "running", 120);
        String a = createJob(server.url(), key, fileId, "batch-a", 60);
        String b = createJob(server.url(), key, fileId, "batch-b", 60);
        String c = createJob(server.url(), key, fileId, "batch-c", 1000);
        Thread.sleep(2000); // the three reach the node's queue while the blocker trains
        assertEquals(200, send(server.url(), key, "POST", "/v1/fine_tuning/jobs/" + blocker + "/cancel", "").statusCode());
        assertEquals("cancelled", awaitStatus(server.url(), key, blocker, "cancelled", 60).get("status").asText());

        // one pass: the long job c runs while a has not ended (one after another, c would wait for a and b)
        awaitStatus(server.url(), key, c, "running", 120);
        JsonNode aNow = json.readTree(send(server.url(), key, "GET", "/v1/fine_tuning/jobs/" + a, null).body());
        assertEquals("running", aNow.get("status").asText(), "a and c train in the same pass: " + aNow);
        assertEquals(200, send(server.url(), key, "POST", "/v1/fine_tuning/jobs/" + c + "/cancel", "").statusCode());

        assertEquals("succeeded", awaitStatus(server.url(), key, a, "succeeded", 300).get("status").asText());
        assertEquals("succeeded", awaitStatus(server.url(), key, b, "succeeded", 300).get("status").asText());
        assertEquals("cancelled", awaitStatus(server.url(), key, c, "cancelled", 60).get("status").asText());
        assertEquals(200, send(server.url(), key, "GET", "/v1/adapters/batch-a", null).statusCode());
        assertEquals(200, send(server.url(), key, "GET", "/v1/adapters/batch-b", null).statusCode());
        assertEquals(404, send(server.url(), key, "GET", "/v1/adapters/batch-c", null).statusCode(), "no version of the cancelled job");
        HttpResponse<String> chat = send(server.url(), key, "POST", "/v1/chat/completions",
                "{\"model\": \"batch-a\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 4}");
        assertEquals(200, chat.statusCode(), chat.body());
    }

    /** Uploads the cafe pairs as a training file; returns its id. */
    static String uploadTrainingFile(String url, String key, Path file) throws Exception {
        try (var in = FineTuneIT.class.getResourceAsStream("/demo/cafe.jsonl")) {
            Files.write(file, in.readAllBytes());
        }
        Multipart form = new Multipart().field("purpose", "fine-tune").file("file", file);
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url + "/v1/files")).header("Authorization", "Bearer " + key)
                .header("Content-Type", form.contentType()).POST(form.publisher()).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return json.readTree(r.body()).get("id").asText();
    }

    static String createJob(String url, String key, String fileId, String suffix, int epochs) throws Exception {
        HttpResponse<String> r = send(url, key, "POST", "/v1/fine_tuning/jobs", "{\"training_file\": \"" + fileId
                + "\", \"model\": \"" + EmbeddedServer.DEMO_MODEL_ID + "\", \"suffix\": \"" + suffix
                + "\", \"hyperparameters\": {\"n_epochs\": " + epochs + "}}");
        assertEquals(200, r.statusCode(), r.body());
        return json.readTree(r.body()).get("id").asText();
    }

    /** Polls the job until its status is {@code status} (or it ends otherwise); returns it. */
    static JsonNode awaitStatus(String url, String key, String jobId, String status, int seconds) throws Exception {
        long until = System.nanoTime() + seconds * 1_000_000_000L;
        JsonNode job;
        do {
            HttpResponse<String> r = send(url, key, "GET", "/v1/fine_tuning/jobs/" + jobId, null);
            assertEquals(200, r.statusCode(), r.body());
            job = json.readTree(r.body());
            String now = job.get("status").asText();
            if (now.equals(status) || (!status.equals("running") && java.util.Set.of("succeeded", "failed", "cancelled").contains(now))) {
                return job;
            }
            Thread.sleep(200);
        } while (System.nanoTime() < until);
        throw new AssertionError("job " + jobId + " never reached " + status + " in " + seconds + " s: " + job);
    }

    static HttpResponse<String> send(String url, String key, String method, String path, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).header("Authorization", "Bearer " + key);
        b = body == null ? b.method(method, HttpRequest.BodyPublishers.noBody())
                : b.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body));
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static String tenantKey(String tenant) throws Exception {
        HttpResponse<String> created = post("/v1/admin/tenants", "{\"id\": \"" + tenant + "\"}");
        assertTrue(created.statusCode() / 100 == 2, created.body());
        HttpResponse<String> key = post("/v1/admin/tenants/" + tenant + "/keys", "{\"scopes\": [\"chat\", \"manage\"]}");
        assertTrue(key.statusCode() / 100 == 2, key.body());
        return json.readTree(key.body()).get("key").asText();
    }

    static HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(server.url() + path)).header("Authorization", "Bearer " + ADMIN_KEY)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
