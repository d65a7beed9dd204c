package io.loraplex.router.http;

import static io.loraplex.router.testkit.TestRouter.MANAGE_KEY;
import static io.loraplex.router.testkit.TestRouter.OTHER_MANAGE_KEY;
import static io.loraplex.router.testkit.TestRouter.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigRenderOptions;
import io.loraplex.persistence.blob.UploadQuota;
import io.loraplex.persistence.files.FileStoreActor;
import io.loraplex.persistence.files.FileStoreSettings;
import io.loraplex.persistence.finetune.FineTuneSettings;
import io.loraplex.persistence.finetune.FineTuneSharding;
import io.loraplex.router.testkit.FakeTrainingNode;
import io.loraplex.router.testkit.TestRouter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.persistence.testkit.PersistenceTestKitPlugin;
import org.apache.pekko.persistence.testkit.PersistenceTestKitSnapshotPlugin;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fine-tuning API over real HTTP: the real FineTune entity (in-memory journal), the real file
 * store in a temporary folder, a GPU node double that validates and "trains", and an Adapter entity
 * double that registers and promotes.
 */
class FineTuningApiTest {

    static final String VALID = """
            {"messages": [{"role": "user", "content": "Hours?"}, {"role": "assistant", "content": "8 to 6."}]}
            {"messages": [{"role": "user", "content": "Wifi?"}, {"role": "assistant", "content": "Yes, free."}]}
            """;

    static TestRouter router;
    static Path files;
    static final FakeTrainingNode node = new FakeTrainingNode();

    @BeforeAll
    static void start(@TempDir Path dir) {
        files = dir;
        String rendered = PersistenceTestKitPlugin.getInstance().config()
                .withFallback(PersistenceTestKitSnapshotPlugin.getInstance().config()).root().render(ConfigRenderOptions.concise());
        String journal = rendered.substring(1, rendered.length() - 1); // the object's members, to add more after them
        router = new TestRouter("fine-tuning-api", false, journal + """

                pekko.cluster.roles = ["router"]
                loraplex.router.fine-tuning.max-file-bytes = 4 KiB
                loraplex.fine-tune.dispatch-retry = 100 ms
                """);
        FineTuneSharding.init(router.system, FineTuneSettings.create(router.system.settings().config()), Clock.systemUTC());
        // files are charged to the tenants' (double's) storage quotas, in small chunks so small quotas bite
        router.kit.spawn(FileStoreActor.create(new FileStoreSettings(dir, 4096, 64), UploadQuota.tenants(router.system,
                Duration.ofSeconds(10))), "file-store", DispatcherSelector.blocking());
        router.kit.spawn(node.behavior(), "trainer");
        TestRouter.await(() -> router.send("GET", "/ready", null, null).statusCode() == 200, Duration.ofSeconds(20),
                "the training node to be ready");
    }

    @AfterAll
    static void stop() {
        router.close();
    }

    /** A multipart upload: the file part first (as the official client sends it), then purpose (unless null). */
    static HttpResponse<String> upload(String key, String purpose, String content) {
        return upload(key, purpose, content, "train.jsonl");
    }

    static HttpResponse<String> upload(String key, String purpose, String content, String fileName) {
        String boundary = "----loraplex-test-boundary";
        StringBuilder body = new StringBuilder();
        if (content != null) {
            body.append("--").append(boundary).append("\r\nContent-Disposition: form-data; name=\"file\"; filename=\"")
                    .append(fileName).append("\"\r\n")
                    .append("Content-Type: application/jsonl\r\n\r\n").append(content).append("\r\n");
        }
        if (purpose != null) {
            body.append("--").append(boundary).append("\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n")
                    .append(purpose).append("\r\n");
        }
        body.append("--").append(boundary).append("--\r\n");
        HttpRequest request = HttpRequest.newBuilder(router.base.resolve("/v1/files")).timeout(Duration.ofSeconds(30))
                .header("Authorization", "Bearer " + key)
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
        try {
            return router.http.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static HttpResponse<String> post(String path, String body) {
        return router.send("POST", path, MANAGE_KEY, body);
    }

    static String uploadValid() {
        HttpResponse<String> response = upload(MANAGE_KEY, "fine-tune", VALID);
        assertEquals(200, response.statusCode(), response.body());
        return json(response.body()).get("id").asText();
    }

    static long storedFiles(String tenant) throws IOException {
        Path dir = files.resolve(tenant);
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.count();
        }
    }

    static JsonNode createJob(String body) {
        HttpResponse<String> response = post("/v1/fine_tuning/jobs", body);
        assertEquals(200, response.statusCode(), response.body());
        return json(response.body());
    }

    static JsonNode awaitJob(String id, String status) {
        JsonNode[] job = new JsonNode[1];
        TestRouter.await(() -> {
            job[0] = json(router.send("GET", "/v1/fine_tuning/jobs/" + id, MANAGE_KEY, null).body());
            return job[0].get("status").asText().equals(status);
        }, Duration.ofSeconds(15), "job " + id + " to be " + status);
        return job[0];
    }

    // ---- files

    @Test
    void aValidFileIsStoredListedAndFound() throws IOException {
        long before = storedFiles("acme");
        HttpResponse<String> response = upload(MANAGE_KEY, "fine-tune", VALID);
        assertEquals(200, response.statusCode(), response.body());
        JsonNode file = json(response.body());
        assertEquals("file", file.get("object").asText());
        assertTrue(file.get("id").asText().startsWith("file-"));
        assertEquals(VALID.length(), file.get("bytes").asInt());
        assertEquals("train.jsonl", file.get("filename").asText());
        assertEquals("fine-tune", file.get("purpose").asText());
        assertEquals("processed", file.get("status").asText());
        assertTrue(file.get("created_at").asLong() > 1_700_000_000L);
        assertEquals(before + 1, storedFiles("acme"));

        String id = file.get("id").asText();
        assertEquals(file, json(router.send("GET", "/v1/files/" + id, MANAGE_KEY, null).body()));
        JsonNode list = json(router.send("GET", "/v1/files", MANAGE_KEY, null).body());
        assertEquals("list", list.get("object").asText());
        assertTrue(list.get("data").findValuesAsText("id").contains(id));
    }

    @Test
    void aStoredFileCountsAgainstTheStorageQuotaUntilItIsDeleted() {
        String id = uploadValid();
        assertEquals(VALID.length(), router.tenants.storage.get("acme").get(id), "the file's reservation, under its id");
        TestRouter.await(() -> router.tenants.uploadHolds.getOrDefault("acme", java.util.Map.of()).isEmpty(), Duration.ofSeconds(5),
                "the upload's hold to be converted and released");
        assertEquals(200, router.send("DELETE", "/v1/files/" + id, MANAGE_KEY, null).statusCode());
        assertFalse(router.tenants.storage.get("acme").containsKey(id), "the deleted file's reservation is given back");
    }

    @Test
    void aFileOverTheStorageQuotaGets413NamingTheQuotaAndNothingStays() throws IOException {
        router.tenants.storageQuotas.put("globex", 100L);
        try {
            HttpResponse<String> response = upload(OTHER_MANAGE_KEY, "fine-tune", VALID);
            OpenAiApiTestSupport.assertError(response, 413, "invalid_request_error", null, "quota_exceeded");
            String message = json(response.body()).get("error").get("message").asText();
            assertTrue(message.startsWith("storage quota exceeded for tenant globex") && message.contains("quota 100 bytes"), message);
            assertEquals(0, storedFiles("globex"));
            TestRouter.await(() -> router.tenants.storageUsed("globex") == 0, Duration.ofSeconds(5), "the upload's hold to be released");
        } finally {
            router.tenants.storageQuotas.remove("globex");
        }
    }

    @Test
    void anInvalidFileIsRefusedByLineAndNothingIsStored() throws IOException {
        long before = storedFiles("acme");
        long usedBefore = router.tenants.storageUsed("acme");
        int listed = json(router.send("GET", "/v1/files", MANAGE_KEY, null).body()).get("data").size();
        HttpResponse<String> response = upload(MANAGE_KEY, "fine-tune", """
                {"messages": [{"role": "user", "content": "Hours?"}, {"role": "assistant", "content": "8 to 6."}]}
                {"messages": [{"role": "user", "content": "no answer"}]}
                not json
                """);
        OpenAiApiTestSupport.assertError(response, 400, "invalid_request_error", "file", "invalid_training_file");
        String message = json(response.body()).get("error").get("message").asText();
        assertTrue(message.contains("line 2: the last message must be the assistant's"), message);
        assertTrue(message.contains("line 3: not JSON"), message);
        assertEquals(listed, json(router.send("GET", "/v1/files", MANAGE_KEY, null).body()).get("data").size());
        TestRouter.await(() -> {
            try {
                return storedFiles("acme") == before;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, Duration.ofSeconds(5), "the refused file to be deleted");
        TestRouter.await(() -> router.tenants.storageUsed("acme") == usedBefore, Duration.ofSeconds(5),
                "the refused file's reservation to be given back");
    }

    @Test
    void badUploadsNameTheirProblem() {
        OpenAiApiTestSupport.assertError(upload(MANAGE_KEY, null, VALID), 400, "invalid_request_error", "purpose", "invalid_value");
        OpenAiApiTestSupport.assertError(upload(MANAGE_KEY, "assistants", VALID), 400, "invalid_request_error", "purpose", "invalid_value");
        OpenAiApiTestSupport.assertError(upload(MANAGE_KEY, "fine-tune", null), 400, "invalid_request_error", "file", "invalid_value");
        OpenAiApiTestSupport.assertError(upload(MANAGE_KEY, "fine-tune", "x".repeat(5000)), 413, "invalid_request_error", null,
                "request_too_large");
        OpenAiApiTestSupport.assertError(post("/v1/files", "{}"), 400, "invalid_request_error", null, "invalid_value");
        OpenAiApiTestSupport.assertError(upload("sk-nobody-0123456789", "fine-tune", VALID), 401, "invalid_request_error", null,
                "invalid_api_key");
    }

    @Test
    void aBodyFarAboveTheFileLimitGets413NamingTheLimit() {
        // far above the limit and the form's slack: the multipart parser, not the file's stream, hits the limit first
        HttpResponse<String> response = upload(MANAGE_KEY, "fine-tune", "x".repeat(400_000));
        OpenAiApiTestSupport.assertError(response, 413, "invalid_request_error", null, "request_too_large");
        String message = json(response.body()).get("error").get("message").asText();
        assertTrue(message.contains("limit of 4096 bytes"), message);
    }

    @Test
    void anOverlongFileNameGets400NamingTheLimit() {
        HttpResponse<String> response = upload(MANAGE_KEY, "fine-tune", VALID, "t".repeat(300) + ".jsonl");
        OpenAiApiTestSupport.assertError(response, 400, "invalid_request_error", "file", "invalid_value");
        String message = json(response.body()).get("error").get("message").asText();
        assertTrue(message.contains("306 characters") && message.contains("at most 255"), message);
    }

    @Test
    void aFileNameLongerThanAPartHeaderMayBeGets400NamingTheLimit() {
        HttpResponse<String> response = upload(MANAGE_KEY, "fine-tune", VALID, "t".repeat(20_000) + ".jsonl");
        OpenAiApiTestSupport.assertError(response, 400, "invalid_request_error", null, "invalid_value");
        String message = json(response.body()).get("error").get("message").asText();
        assertTrue(message.contains("limit of 8192 characters"), message);
        assertFalse(message.contains("Exception"), message);
    }

    @Test
    void aKeyWithoutTheManageScopeIsForbidden() {
        OpenAiApiTestSupport.assertError(upload(TestRouter.KEY, "fine-tune", VALID), 403, "permission_error", null,
                "insufficient_permissions");
        OpenAiApiTestSupport.assertError(router.send("GET", "/v1/fine_tuning/jobs", TestRouter.KEY, null), 403, "permission_error",
                null, "insufficient_permissions");
    }

    @Test
    void anotherTenantsFileReadsAsMissing() {
        String id = uploadValid();
        HttpResponse<String> theirs = router.send("GET", "/v1/files/" + id, OTHER_MANAGE_KEY, null);
        HttpResponse<String> missing = router.send("GET", "/v1/files/file-doesnotexist", OTHER_MANAGE_KEY, null);
        OpenAiApiTestSupport.assertError(theirs, 404, "invalid_request_error", "id", null);
        assertEquals(missing.body().replace("file-doesnotexist", id), theirs.body());
        OpenAiApiTestSupport.assertError(router.send("DELETE", "/v1/files/" + id, OTHER_MANAGE_KEY, null), 404, "invalid_request_error",
                "id", null);
        assertFalse(json(router.send("GET", "/v1/files", OTHER_MANAGE_KEY, null).body()).get("data").findValuesAsText("id").contains(id));
        assertEquals(200, router.send("GET", "/v1/files/" + id, MANAGE_KEY, null).statusCode());
    }

    @Test
    void aDeletedFileIsGone() throws IOException {
        String id = uploadValid();
        HttpResponse<String> deleted = router.send("DELETE", "/v1/files/" + id, MANAGE_KEY, null);
        assertEquals(200, deleted.statusCode(), deleted.body());
        assertEquals(json("{\"id\":\"" + id + "\",\"object\":\"file\",\"deleted\":true}"), json(deleted.body()));
        assertEquals(404, router.send("GET", "/v1/files/" + id, MANAGE_KEY, null).statusCode());
        assertFalse(Files.exists(files.resolve("acme").resolve(id)));
    }

    // ---- jobs

    @Test
    void aSuffixNamedLikeTheBaseModelIsRefused() {
        String file = uploadValid();
        HttpResponse<String> refused = post("/v1/fine_tuning/jobs", "{\"training_file\":\"" + file
                + "\",\"model\":\"test-base\",\"suffix\":\"test-base\"}");
        assertEquals(400, refused.statusCode(), refused.body());
        assertEquals("suffix", json(refused.body()).at("/error/param").asText());
        assertTrue(json(refused.body()).at("/error/message").asText().startsWith("the suffix 'test-base' is the id of a base model"),
                refused.body());
    }

    @Test
    void aJobRunsToAFineTunedModel() {
        String file = uploadValid();
        JsonNode job = createJob("{\"training_file\":\"" + file + "\",\"model\":\"test-base\",\"suffix\":\"cafe-v2\","
                + "\"hyperparameters\":{\"n_epochs\":4,\"learning_rate_multiplier\":0.5,\"rank\":4}}");
        assertEquals("fine_tuning.job", job.get("object").asText());
        String id = job.get("id").asText();
        assertTrue(id.startsWith("ftjob-"));
        assertEquals("test-base", job.get("model").asText());
        assertEquals(file, job.get("training_file").asText());
        assertTrue(job.get("fine_tuned_model").isNull());
        assertEquals(4, job.get("hyperparameters").get("n_epochs").asInt());
        assertEquals(0.5, job.get("hyperparameters").get("learning_rate_multiplier").asDouble());
        assertEquals(1, job.get("hyperparameters").get("batch_size").asInt());

        JsonNode done = awaitJob(id, "succeeded");
        assertEquals("cafe-v2", done.get("fine_tuned_model").asText());
        assertEquals(60, done.get("trained_tokens").asInt());
        assertTrue(done.get("error").isNull());
        assertTrue(done.get("finished_at").asLong() >= done.get("created_at").asLong());
        assertTrue(done.get("loraplex").get("promoted").asBoolean());
        assertEquals(1, done.get("loraplex").get("adapter_version").asInt());
        var train = node.trains.stream().filter(t -> t.jobId().equals(id)).findFirst().orElseThrow();
        assertEquals(1e-4, train.hyperparameters().learningRate(), 1e-12);
        assertEquals(4, train.hyperparameters().rank());
        assertTrue(router.adapters.registered.stream().anyMatch(r -> r.name().equals("cafe-v2") && r.source().equals("training")));

        JsonNode events = json(router.send("GET", "/v1/fine_tuning/jobs/" + id + "/events?limit=100", MANAGE_KEY, null).body());
        assertEquals("list", events.get("object").asText());
        assertFalse(events.get("has_more").asBoolean());
        JsonNode newest = events.get("data").get(0);
        assertEquals("fine_tuning.job.event", newest.get("object").asText());
        assertEquals("The job has successfully completed", newest.get("message").asText());
        boolean metrics = false;
        for (JsonNode e : events.get("data")) {
            if (e.get("type").asText().equals("metrics") && e.get("data").get("step").asInt() == 3) {
                assertEquals(1.0, e.get("data").get("valid_loss").asDouble());
                metrics = true;
            }
        }
        assertTrue(metrics, events.toString());
        JsonNode page = json(router.send("GET", "/v1/fine_tuning/jobs/" + id + "/events?limit=2", MANAGE_KEY, null).body());
        assertEquals(2, page.get("data").size());
        assertTrue(page.get("has_more").asBoolean());
        JsonNode next = json(router.send("GET", "/v1/fine_tuning/jobs/" + id + "/events?limit=2&after="
                + page.get("data").get(1).get("id").asText(), MANAGE_KEY, null).body());
        assertEquals(events.get("data").get(2), next.get("data").get(0));
    }

    @Test
    void jobsListNewestFirstWithPaging() {
        String file = uploadValid();
        String first = createJob("{\"training_file\":\"" + file + "\",\"model\":\"test-base\",\"suffix\":\"one\"}").get("id").asText();
        String second = createJob("{\"training_file\":\"" + file + "\",\"model\":\"test-base\",\"suffix\":\"two\"}").get("id").asText();
        JsonNode page = json(router.send("GET", "/v1/fine_tuning/jobs?limit=1", MANAGE_KEY, null).body());
        assertEquals(second, page.get("data").get(0).get("id").asText());
        assertTrue(page.get("has_more").asBoolean());
        JsonNode next = json(router.send("GET", "/v1/fine_tuning/jobs?limit=1&after=" + second, MANAGE_KEY, null).body());
        assertEquals(first, next.get("data").get(0).get("id").asText());
        OpenAiApiTestSupport.assertError(router.send("GET", "/v1/fine_tuning/jobs?limit=0", MANAGE_KEY, null), 400,
                "invalid_request_error", "limit", "invalid_value");
    }

    @Test
    void cancelStopsARunningJob() {
        String file = uploadValid();
        String id = createJob("{\"training_file\":\"" + file + "\",\"model\":\"test-base\",\"suffix\":\"slow\"}").get("id").asText();
        awaitJob(id, "running");
        HttpResponse<String> cancelled = router.send("POST", "/v1/fine_tuning/jobs/" + id + "/cancel", MANAGE_KEY, null);
        assertEquals(200, cancelled.statusCode(), cancelled.body());
        assertEquals("cancelled", json(cancelled.body()).get("status").asText());
        TestRouter.await(() -> node.cancels.stream().anyMatch(c -> c.jobId().equals(id)), Duration.ofSeconds(5), "CancelTraining");
        assertFalse(router.adapters.registered.stream().anyMatch(r -> r.name().equals("slow")));
        OpenAiApiTestSupport.assertError(router.send("POST", "/v1/fine_tuning/jobs/" + id + "/cancel", MANAGE_KEY, null), 409,
                "invalid_request_error", null, "conflict");
    }

    @Test
    void anotherTenantsJobReadsAsMissing() {
        String file = uploadValid();
        String id = createJob("{\"training_file\":\"" + file + "\",\"model\":\"test-base\",\"suffix\":\"mine\"}").get("id").asText();
        for (String[] call : new String[][] {{"GET", ""}, {"GET", "/events"}, {"POST", "/cancel"}}) {
            HttpResponse<String> theirs = router.send(call[0], "/v1/fine_tuning/jobs/" + id + call[1], OTHER_MANAGE_KEY, null);
            HttpResponse<String> missing = router.send(call[0], "/v1/fine_tuning/jobs/ftjob-nope" + call[1], OTHER_MANAGE_KEY, null);
            assertEquals(404, theirs.statusCode(), theirs.body());
            assertEquals(missing.body().replace("ftjob-nope", id), theirs.body());
        }
        assertFalse(json(router.send("GET", "/v1/fine_tuning/jobs", OTHER_MANAGE_KEY, null).body()).get("data").findValuesAsText("id")
                .contains(id));
        // their training file is not ours either
        OpenAiApiTestSupport.assertError(router.send("POST", "/v1/fine_tuning/jobs", OTHER_MANAGE_KEY,
                        "{\"training_file\":\"" + file + "\",\"model\":\"test-base\"}"), 400, "invalid_request_error", "training_file",
                "invalid_value");
    }

    @Test
    void badJobRequestsNameTheirField() {
        String file = uploadValid();
        OpenAiApiTestSupport.assertError(post("/v1/fine_tuning/jobs", "{\"training_file\":\"" + file
                + "\",\"model\":\"test-base\",\"colour\":1}"), 400, "invalid_request_error", "colour", "unknown_parameter");
        OpenAiApiTestSupport.assertError(post("/v1/fine_tuning/jobs", "{\"model\":\"test-base\"}"), 400,
                "invalid_request_error", "training_file", "invalid_value");
        OpenAiApiTestSupport.assertError(post("/v1/fine_tuning/jobs", "{\"training_file\":\"" + file
                + "\",\"model\":\"gpt-9\"}"), 400, "invalid_request_error", "model", "invalid_value");
        OpenAiApiTestSupport.assertError(post("/v1/fine_tuning/jobs", "{\"training_file\":\"" + file
                        + "\",\"model\":\"test-base\",\"hyperparameters\":{\"n_epochs\":\"many\"}}"), 400, "invalid_request_error",
                "hyperparameters.n_epochs", "invalid_type");
        OpenAiApiTestSupport.assertError(post("/v1/fine_tuning/jobs", "{\"training_file\":\"" + file
                        + "\",\"model\":\"test-base\",\"hyperparameters\":{\"n_epochs\":0}}"), 400, "invalid_request_error",
                "hyperparameters.n_epochs", "invalid_value");
        OpenAiApiTestSupport.assertError(post("/v1/fine_tuning/jobs", "{\"training_file\":"), 400, "invalid_request_error",
                null, "invalid_json");
        OpenAiApiTestSupport.assertError(router.send("DELETE", "/v1/fine_tuning/jobs", MANAGE_KEY, null), 405, "invalid_request_error",
                null, "method_not_allowed");
        assertEquals(404, router.send("GET", "/v1/fine_tuning/nothing", MANAGE_KEY, null).statusCode());
    }

    /**
     * {@code tools/openai-client/finetune-e2e.mjs} with the official client against this router: upload,
     * a refused file, a job polled to its end through its events, another tenant's view. (The chat it
     * ends with needs a real node; here it records the router's answer.) Skipped without node and the
     * openai package (OPENAI_NODE_MODULES, set by the build).
     */
    @Test
    void theOfficialClientUploadsTrainsAndPolls(@TempDir Path dir) throws Exception {
        String modules = System.getenv("OPENAI_NODE_MODULES");
        org.junit.jupiter.api.Assumptions.assumeTrue(modules != null && Files.isDirectory(Path.of(modules, "openai")),
                "set OPENAI_NODE_MODULES to a node_modules folder holding the openai npm package to run this test");
        Path training = Files.writeString(dir.resolve("cafe.jsonl"), VALID);
        ProcessBuilder pb = new ProcessBuilder("node", Path.of(modules).getParent().resolve("finetune-e2e.mjs").toString());
        pb.environment().put("LORAPLEX_URL", router.base.resolve("/v1").toString());
        pb.environment().put("LORAPLEX_KEY", MANAGE_KEY);
        pb.environment().put("LORAPLEX_OTHER_KEY", OTHER_MANAGE_KEY);
        pb.environment().put("LORAPLEX_BASE_MODEL", FakeTrainingNode.BASE_MODEL);
        pb.environment().put("LORAPLEX_TRAINING_FILE", training.toString());
        pb.environment().put("LORAPLEX_SUFFIX", "sdk-ft");
        pb.environment().put("LORAPLEX_TIMEOUT_S", "30");
        pb.redirectError(ProcessBuilder.Redirect.INHERIT);
        Process process = pb.start();
        String output = new String(process.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(process.waitFor(60, java.util.concurrent.TimeUnit.SECONDS));
        assertEquals(0, process.exitValue(), output);
        JsonNode out = json(output);
        assertEquals("file", out.get("file").get("object").asText());
        assertEquals("processed", out.get("file").get("status").asText());
        assertEquals(400, out.get("badFile").get("status").asInt(), out.toString());
        assertTrue(out.get("badFile").get("message").asText().contains("line 1:"), out.toString());
        assertEquals("succeeded", out.get("job").get("status").asText(), out.toString());
        assertEquals("sdk-ft", out.get("job").get("fine_tuned_model").asText());
        assertTrue(out.get("events").findValuesAsText("message").contains("The job has successfully completed"), out.toString());
        assertTrue(out.get("events").findValuesAsText("type").contains("metrics"), out.toString());
        assertEquals(out.get("created").get("id").asText(), out.get("listed").get(0).asText());
        assertEquals(404, out.get("otherTenant").get("job").get("status").asInt());
        assertEquals(404, out.get("otherTenant").get("file").get("status").asInt());
        assertEquals("Hours?", out.get("chat").get("question").asText());
    }
}
