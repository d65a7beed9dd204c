package io.loraplex.router.http;

import static io.loraplex.router.http.OpenAiApiTestSupport.assertError;
import static io.loraplex.router.testkit.TestRouter.KEY;
import static io.loraplex.router.testkit.TestRouter.MANAGE_KEY;
import static io.loraplex.router.testkit.TestRouter.OTHER_MANAGE_KEY;
import static io.loraplex.router.testkit.TestRouter.json;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.router.testkit.FakeAdapters;
import io.loraplex.router.testkit.FakeGpuNode;
import io.loraplex.router.testkit.TestRouter;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The adapter lifecycle routes over real HTTP against the real blob store (its files in a temporary
 * directory) and the Tenant and Adapter entity doubles: uploads by files and by archive, limits and
 * bad forms with nothing stored, scopes, tenant isolation, and each command's success and refusal.
 */
class AdapterRoutesTest {

    static final int LIMIT = 64 * 1024;
    static final byte[] CONFIG = "{\"r\": 8, \"lora_alpha\": 16, \"peft_type\": \"LORA\"}".getBytes(StandardCharsets.UTF_8);

    @TempDir
    static Path blobs;
    static TestRouter router;

    @BeforeAll
    static void start() {
        router = new TestRouter("adapter-routes-test", false, "loraplex.router.max-adapter-upload = " + LIMIT, blobs);
    }

    @AfterAll
    static void stop() {
        router.close();
    }

    static byte[] weights(int n, int seed) {
        byte[] w = new byte[n];
        for (int i = 0; i < n; i++) {
            w[i] = (byte) (i * 31 + seed);
        }
        return w;
    }

    static HttpResponse<String> upload(String key, MultipartForm form) {
        return send(router.request("POST", "/v1/adapters", key, null).header("Content-Type", form.contentType())
                .POST(HttpRequest.BodyPublishers.ofByteArray(form.body())).build());
    }

    static HttpResponse<String> send(HttpRequest request) {
        try {
            return router.http.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static MultipartForm files(String name, byte[] config, byte[] weights) {
        return new MultipartForm().field("name", name)
                .file("file", ContentHash.CONFIG_FILE, config)
                .file("file", ContentHash.WEIGHTS_FILE, weights);
    }

    /** The tenant's blobs and the upload directories still open. */
    static List<String> stored(String tenant) throws IOException {
        Path dir = blobs.resolve(tenant);
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> list = Files.list(dir)) {
            return list.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    static void assertNoUploadLeft() {
        TestRouter.await(() -> {
            try (Stream<Path> left = Files.list(blobs.resolve(".tmp"))) {
                return left.findAny().isEmpty();
            } catch (IOException e) {
                return true; // no temporary directory at all
            }
        }, Duration.ofSeconds(10), "the upload's temporary files to go");
    }

    @Test
    void uploadByFilesIsStoredAndRegistered() throws IOException {
        byte[] weights = weights(20_000, 1);
        HttpResponse<String> response = upload(MANAGE_KEY, files("menu", CONFIG, weights));
        assertEquals(201, response.statusCode(), response.body());
        JsonNode version = json(response.body());
        ContentHash hash = ContentHash.of(CONFIG, weights);
        assertEquals("menu", version.get("adapter").asText());
        assertEquals(1, version.get("version").asInt());
        assertEquals("ready", version.get("state").asText());
        assertEquals(hash.hex(), version.get("hash").asText());
        assertEquals(CONFIG.length + weights.length, version.get("bytes").asLong());
        assertEquals(FakeAdapters.BASE, version.get("base_identity").asText());

        Path dir = blobs.resolve("acme").resolve(hash.hex());
        assertArrayEquals(weights, Files.readAllBytes(dir.resolve(ContentHash.WEIGHTS_FILE)));
        assertArrayEquals(CONFIG, Files.readAllBytes(dir.resolve(ContentHash.CONFIG_FILE)));
        AdapterProtocol.RegisterVersion registered = router.adapters.registered.stream()
                .filter(r -> r.hash().equals(hash)).findFirst().orElseThrow();
        assertEquals(new TenantId("acme"), registered.tenant());
        assertEquals("menu", registered.name());
        assertEquals("upload", registered.source());
        assertNoUploadLeft();
    }

    @Test
    void uploadByFieldNamesWithOtherFileNames() {
        byte[] weights = weights(3000, 2);
        MultipartForm form = new MultipartForm()
                .file(ContentHash.WEIGHTS_FILE, "weights-export.safetensors", weights)
                .file(ContentHash.CONFIG_FILE, "cfg.json", CONFIG)
                .field("name", "by-field");
        HttpResponse<String> response = upload(MANAGE_KEY, form);
        assertEquals(201, response.statusCode(), response.body());
        assertEquals(ContentHash.of(CONFIG, weights).hex(), json(response.body()).get("hash").asText());
    }

    @Test
    void uploadOfATarGzInADirectory() throws IOException {
        byte[] weights = weights(10_000, 3);
        byte[] archive = gzip(tar("my-adapter/" + ContentHash.CONFIG_FILE, CONFIG, "my-adapter/" + ContentHash.WEIGHTS_FILE, weights));
        HttpResponse<String> response = upload(MANAGE_KEY, new MultipartForm().field("name", "archived")
                .file("file", "my-adapter.tar.gz", archive));
        assertEquals(201, response.statusCode(), response.body());
        ContentHash hash = ContentHash.of(CONFIG, weights);
        assertEquals(hash.hex(), json(response.body()).get("hash").asText());
        assertTrue(stored("acme").contains(hash.hex()));

        HttpResponse<String> plain = upload(MANAGE_KEY, new MultipartForm().field("name", "plain-tar")
                .file("archive", "a.tar", tar(ContentHash.CONFIG_FILE, CONFIG, ContentHash.WEIGHTS_FILE, weights(500, 4))));
        assertEquals(201, plain.statusCode(), plain.body());
    }

    @Test
    void anOversizedBodyIsRefusedWith413AndNothingIsStored() throws IOException {
        List<String> before = stored("acme");
        HttpResponse<String> declared = upload(MANAGE_KEY, files("too-big", CONFIG, weights(LIMIT + 1000, 5)));
        assertError(declared, 413, "invalid_request_error", null, "request_too_large");

        // chunked: no Content-Length, so the limit trips while the body streams
        MultipartForm form = files("too-big-chunked", CONFIG, weights(LIMIT + 1000, 6));
        HttpResponse<String> chunked = send(router.request("POST", "/v1/adapters", MANAGE_KEY, null)
                .header("Content-Type", form.contentType())
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(form.body()))).build());
        assertEquals(413, chunked.statusCode(), chunked.body());
        assertEquals(before, stored("acme"));
        assertTrue(router.adapters.registered.stream().noneMatch(r -> r.name().startsWith("too-big")));
        assertNoUploadLeft();
    }

    @Test
    void anArchiveThatUnpacksBeyondTheLimitIsRefusedWith413() throws IOException {
        List<String> before = stored("acme");
        byte[] bomb = gzip(tar(ContentHash.CONFIG_FILE, CONFIG, ContentHash.WEIGHTS_FILE, new byte[4 * LIMIT]));
        assertTrue(bomb.length < LIMIT / 4);
        HttpResponse<String> response = upload(MANAGE_KEY, new MultipartForm().field("name", "bomb").file("file", "bomb.tgz", bomb));
        assertError(response, 413, "invalid_request_error", null, "request_too_large");
        assertEquals("the upload exceeds the limit of " + LIMIT + " bytes", json(response.body()).at("/error/message").asText());
        assertEquals(before, stored("acme"));
        assertNoUploadLeft();
    }

    @Test
    void badFormsAreRefusedWith400AndNothingIsStored() throws IOException {
        List<String> before = stored("acme");
        byte[] weights = weights(1000, 7);
        assertError(upload(MANAGE_KEY, new MultipartForm().file("file", ContentHash.CONFIG_FILE, CONFIG)
                .file("file", ContentHash.WEIGHTS_FILE, weights)), 400, "invalid_request_error", "name", "invalid_value");
        HttpResponse<String> badName = upload(MANAGE_KEY, files("../etc", CONFIG, weights));
        assertError(badName, 400, "invalid_request_error", "name", "invalid_value");
        assertTrue(json(badName.body()).at("/error/message").asText().contains("an adapter name is 1-64 characters"));

        HttpResponse<String> missing = upload(MANAGE_KEY, new MultipartForm().field("name", "half")
                .file("file", ContentHash.CONFIG_FILE, CONFIG));
        assertError(missing, 400, "invalid_request_error", null, "invalid_adapter_upload");
        assertEquals("the upload has no adapter_model.safetensors", json(missing.body()).at("/error/message").asText());

        HttpResponse<String> pickled = upload(MANAGE_KEY, new MultipartForm().field("name", "pickled")
                .file("file", ContentHash.CONFIG_FILE, CONFIG).file("file", "adapter_model.bin", weights));
        assertEquals(400, pickled.statusCode(), pickled.body());
        assertTrue(json(pickled.body()).at("/error/message").asText().startsWith("pickled PyTorch weights (.bin) are not accepted"));

        HttpResponse<String> traversal = upload(MANAGE_KEY, new MultipartForm().field("name", "sneaky")
                .file("file", "a.tar", tar(ContentHash.CONFIG_FILE, CONFIG, "../" + ContentHash.WEIGHTS_FILE, weights)));
        assertEquals(400, traversal.statusCode(), traversal.body());
        assertEquals("unsafe path in archive: ../adapter_model.safetensors", json(traversal.body()).at("/error/message").asText());

        assertError(upload(MANAGE_KEY, new MultipartForm().field("name", "nothing")), 400, "invalid_request_error", null,
                "invalid_value");
        assertError(upload(MANAGE_KEY, new MultipartForm().field("name", "x").field("colour", "blue")), 400,
                "invalid_request_error", "colour", "invalid_value");

        HttpResponse<String> json = router.send("POST", "/v1/adapters", MANAGE_KEY, "{\"name\": \"x\"}");
        assertError(json, 400, "invalid_request_error", null, "invalid_value");
        assertTrue(json(json.body()).at("/error/message").asText().contains("multipart/form-data"));

        HttpResponse<String> garbage = send(router.request("POST", "/v1/adapters", MANAGE_KEY, null)
                .header("Content-Type", "multipart/form-data; boundary=xyz")
                .POST(HttpRequest.BodyPublishers.ofString("this is not a multipart body")).build());
        assertEquals(400, garbage.statusCode(), garbage.body());

        assertEquals(before, stored("acme"));
        assertNoUploadLeft();
    }

    @Test
    void anAdapterNamedLikeTheBaseModelIsRefusedNamingIt() {
        byte[] weights = weights(1000, 9);
        // this router has no node: one joins, and the router learns its base model from its stats
        router.kit.spawn(new FakeGpuNode("node-base").behavior(), "fake-node-base");
        TestRouter.await(() -> upload(MANAGE_KEY, files(FakeGpuNode.BASE_MODEL, CONFIG, weights)).statusCode() == 400,
                java.time.Duration.ofSeconds(20), "the base model's id to be refused as an adapter name");
        HttpResponse<String> refused = upload(MANAGE_KEY, files(FakeGpuNode.BASE_MODEL, CONFIG, weights));
        assertError(refused, 400, "invalid_request_error", "name", "invalid_value");
        assertEquals("the adapter name '" + FakeGpuNode.BASE_MODEL + "' is the id of the base model; requests naming it "
                + "would reach the base model, so choose another name", json(refused.body()).at("/error/message").asText());
    }

    @Test
    void aFileNameAboveTheLimitIsRefusedNamingTheLimit() {
        HttpResponse<String> refused = upload(MANAGE_KEY, new MultipartForm().field("name", "longname")
                .file("file", "c".repeat(300) + ".json", CONFIG));
        assertError(refused, 400, "invalid_request_error", "file", "invalid_value");
        assertTrue(json(refused.body()).at("/error/message").asText().endsWith("is 305 characters; a file name has at most 255"),
                refused.body());
    }

    @Test
    void aChatKeyCannotManageAdapters() {
        for (HttpResponse<String> r : List.of(upload(KEY, files("chatty", CONFIG, weights(100, 8))),
                router.send("GET", "/v1/adapters", KEY, null),
                router.send("GET", "/v1/adapters/cafe", KEY, null),
                router.send("POST", "/v1/adapters/cafe/promote", KEY, null),
                router.send("DELETE", "/v1/adapters/cafe", KEY, null),
                router.send("GET", "/v1/usage", KEY, null))) {
            assertError(r, 403, "permission_error", null, "insufficient_permissions");
            assertTrue(json(r.body()).at("/error/message").asText().contains("'manage' scope"), r.body());
        }
        assertError(router.send("GET", "/v1/adapters", null, null), 401, "invalid_request_error", null, "invalid_api_key");
        assertError(router.send("GET", "/v1/adapters", "sk-nobody-0123456789", null), 401, "invalid_request_error", null,
                "invalid_api_key");
    }

    @Test
    void anotherTenantsAdapterIsNotFound() {
        assertEquals(201, upload(MANAGE_KEY, files("private", CONFIG, weights(100, 9))).statusCode());
        HttpResponse<String> theirs = router.send("GET", "/v1/adapters/private", OTHER_MANAGE_KEY, null);
        HttpResponse<String> never = router.send("GET", "/v1/adapters/never-used", OTHER_MANAGE_KEY, null);
        assertError(theirs, 404, "invalid_request_error", "name", "adapter_not_found");
        assertEquals(json(never.body()).at("/error/message").asText().replace("never-used", "private"),
                json(theirs.body()).at("/error/message").asText());
        for (String[] call : new String[][] {{"POST", "/v1/adapters/private/promote"}, {"POST", "/v1/adapters/private/rollback"},
                {"DELETE", "/v1/adapters/private"}, {"DELETE", "/v1/adapters/private/canary"}}) {
            assertError(router.send(call[0], call[1], OTHER_MANAGE_KEY, null), 404, "invalid_request_error", "name", "adapter_not_found");
        }
        assertEquals(200, router.send("GET", "/v1/adapters/private", MANAGE_KEY, null).statusCode());
        JsonNode list = json(router.send("GET", "/v1/adapters", OTHER_MANAGE_KEY, null).body());
        assertTrue(list.get("data").findValuesAsText("name").stream().noneMatch("private"::equals), list.toString());
    }

    @Test
    void listsTheTenantsAdapters() {
        assertEquals(201, upload(MANAGE_KEY, files("listed", CONFIG, weights(100, 10))).statusCode());
        HttpResponse<String> response = router.send("GET", "/v1/adapters", MANAGE_KEY, null);
        assertEquals(200, response.statusCode(), response.body());
        JsonNode list = json(response.body());
        assertEquals("list", list.get("object").asText());
        JsonNode listed = null;
        for (JsonNode a : list.get("data")) {
            if (a.get("name").asText().equals("listed")) {
                listed = a;
            }
        }
        assertTrue(listed != null, response.body());
        assertEquals(1, listed.get("versions").size());
        assertTrue(listed.get("promoted_version").isNull());
    }

    @Test
    void promoteCanaryRollbackAndDelete() {
        assertEquals(201, upload(MANAGE_KEY, files("flow", CONFIG, weights(100, 11))).statusCode());
        assertEquals(201, upload(MANAGE_KEY, files("flow", CONFIG, weights(100, 12))).statusCode());

        JsonNode promoted = ok(router.send("POST", "/v1/adapters/flow/promote", MANAGE_KEY, "{\"version\": 1}"));
        assertEquals(1, promoted.get("promoted_version").asInt());
        assertEquals("promoted", promoted.at("/versions/0/state").asText());
        assertTrue(promoted.at("/versions/0/history").size() >= 3);
        assertEquals(2, ok(router.send("POST", "/v1/adapters/flow/promote", MANAGE_KEY, null)).get("promoted_version").asInt());
        assertEquals(1, ok(router.send("POST", "/v1/adapters/flow/rollback", MANAGE_KEY, null)).get("promoted_version").asInt());
        assertError(router.send("POST", "/v1/adapters/flow/rollback", MANAGE_KEY, null), 409, "invalid_request_error", null, "conflict");

        JsonNode canary = ok(router.send("POST", "/v1/adapters/flow/canary", MANAGE_KEY, "{\"version\": 2, \"share\": 0.1}"));
        assertEquals(2, canary.get("canary_version").asInt());
        assertEquals(0.1, canary.get("canary_share").asDouble(), 1e-9);
        assertTrue(ok(router.send("POST", "/v1/adapters/flow/canary", MANAGE_KEY, "{\"share\": 0}")).get("canary_version").isNull());
        assertError(router.send("DELETE", "/v1/adapters/flow/canary", MANAGE_KEY, null), 409, "invalid_request_error", null, "conflict");
        assertEquals(2, ok(router.send("POST", "/v1/adapters/flow/canary", MANAGE_KEY, "{\"version\": 2, \"share\": 0.5}"))
                .get("canary_version").asInt());
        assertTrue(ok(router.send("DELETE", "/v1/adapters/flow/canary", MANAGE_KEY, null)).get("canary_version").isNull());

        assertError(router.send("POST", "/v1/adapters/flow/promote", MANAGE_KEY, "{\"version\": 9}"), 404, "invalid_request_error",
                "version", "version_not_found");
        assertError(router.send("POST", "/v1/adapters/flow/promote", MANAGE_KEY, "{\"version\": \"two\"}"), 400,
                "invalid_request_error", "version", "invalid_type");
        assertError(router.send("POST", "/v1/adapters/flow/promote", MANAGE_KEY, "{\"versoin\": 1}"), 400,
                "invalid_request_error", "versoin", "unknown_parameter");
        assertError(router.send("POST", "/v1/adapters/flow/canary", MANAGE_KEY, "{\"version\": 2, \"share\": 1.5}"), 400,
                "invalid_request_error", "share", "invalid_value");
        assertError(router.send("POST", "/v1/adapters/flow/canary", MANAGE_KEY, "{\"version\": 2, \"share\": 1}"), 400,
                "invalid_request_error", "share", "invalid_value");
        assertError(router.send("POST", "/v1/adapters/flow/canary", MANAGE_KEY, "{\"share\": 0.2}"), 400,
                "invalid_request_error", "version", "invalid_value");
        assertError(router.send("GET", "/v1/adapters/flow/promote", MANAGE_KEY, null), 405, "invalid_request_error", null,
                "method_not_allowed");

        HttpResponse<String> deleted = router.send("DELETE", "/v1/adapters/flow", MANAGE_KEY, null);
        assertEquals(200, deleted.statusCode(), deleted.body());
        assertTrue(json(deleted.body()).get("deleted").asBoolean());
        assertError(router.send("GET", "/v1/adapters/flow", MANAGE_KEY, null), 404, "invalid_request_error", "name", "adapter_not_found");
        assertError(router.send("POST", "/v1/adapters/flow/rollback", MANAGE_KEY, null), 404, "invalid_request_error", "name",
                "adapter_not_found");
        assertError(router.send("GET", "/v1/adapters/bad..name!", MANAGE_KEY, null), 400, "invalid_request_error", "name",
                "invalid_value");
    }

    @Test
    void aRejectedVersionAnswers422WithTheReason() {
        router.adapters.rejections.put("broken", "adapter_model.safetensors: lora_A of layer 0 holds NaN");
        HttpResponse<String> response = upload(MANAGE_KEY, files("broken", CONFIG, weights(100, 13)));
        assertError(response, 422, "invalid_request_error", null, "adapter_rejected");
        assertEquals("adapter_model.safetensors: lora_A of layer 0 holds NaN", json(response.body()).at("/error/message").asText());
    }

    @Test
    void aVersionStillBeingValidatedAnswers202() {
        router.adapters.pending.add("slow");
        HttpResponse<String> response = upload(MANAGE_KEY, files("slow", CONFIG, weights(100, 15)));
        assertEquals(202, response.statusCode(), response.body());
        assertEquals("uploaded", json(response.body()).get("state").asText());
    }

    @Test
    void overTheStorageQuotaAnswers413() {
        router.adapters.quotas.put("globex", 10L);
        HttpResponse<String> response = upload(OTHER_MANAGE_KEY, files("big", CONFIG, weights(100, 14)));
        assertError(response, 413, "invalid_request_error", null, "quota_exceeded");
        assertTrue(json(response.body()).at("/error/message").asText().contains("quota"));
    }

    @Test
    void usageOfTheCallersOwnTenant() {
        HttpResponse<String> response = router.send("GET", "/v1/usage?from=100&to=110", MANAGE_KEY, null);
        assertEquals(200, response.statusCode(), response.body());
        JsonNode usage = json(response.body());
        assertEquals("acme", usage.get("tenant").asText());
        assertEquals(100, usage.at("/data/0/hour").asLong());
        assertEquals(3, usage.at("/data/0/requests").asLong());
        assertError(router.send("GET", "/v1/usage?from=20&to=10", MANAGE_KEY, null), 400, "invalid_request_error", "from", "invalid_value");
        assertError(router.send("GET", "/v1/usage?from=yesterday", MANAGE_KEY, null), 400, "invalid_request_error", "from",
                "invalid_value");
    }

    private static JsonNode ok(HttpResponse<String> response) {
        assertEquals(200, response.statusCode(), response.body());
        return json(response.body());
    }

    /** A ustar archive of (name, content) pairs. */
    static byte[] tar(Object... entries) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < entries.length; i += 2) {
            String name = (String) entries[i];
            byte[] content = (byte[]) entries[i + 1];
            byte[] header = new byte[512];
            put(header, 0, name);
            put(header, 100, "0000644");
            put(header, 124, String.format("%011o", content.length));
            put(header, 136, "00000000000");
            header[156] = '0';
            put(header, 257, "ustar");
            put(header, 263, "00");
            for (int j = 148; j < 156; j++) {
                header[j] = ' ';
            }
            long sum = 0;
            for (byte b : header) {
                sum += b & 0xff;
            }
            put(header, 148, String.format("%06o", sum));
            header[154] = 0;
            out.writeBytes(header);
            out.writeBytes(content);
            out.writeBytes(new byte[(512 - content.length % 512) % 512]);
        }
        out.writeBytes(new byte[1024]);
        return out.toByteArray();
    }

    static byte[] gzip(byte[] bytes) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(bytes);
        }
        return out.toByteArray();
    }

    private static void put(byte[] header, int offset, String value) {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        System.arraycopy(bytes, 0, header, offset, bytes.length);
    }
}
