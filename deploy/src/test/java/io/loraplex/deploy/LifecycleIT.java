package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The adapter lifecycle through the HTTP API of the embedded server, as a tenant and an operator
 * use it: the admin creates tenants and keys, a tenant uploads, validates (on the real GPU node),
 * promotes, canaries, rolls back and deletes; bad uploads are refused with their reason and leave
 * nothing behind; no route reaches another tenant's adapters.
 */
class LifecycleIT {

    static final String ADMIN_KEY = "lp-admin-lifecycle-test";
    static final long MAX_UPLOAD = 8L << 20;
    static final ObjectMapper json = new ObjectMapper();
    static final HttpClient http = HttpClient.newHttpClient();

    @TempDir
    static Path data;
    static EmbeddedServer server;
    static String acmeManage;
    static String acmeChat;
    static String otherManage;
    static String tinyManage;

    @BeforeAll
    static void start() throws Exception {
        server = EmbeddedServer.start(data, null, ConfigFactory.parseMap(Map.of("loraplex.router.port", 0, "loraplex.threads", 2,
                "loraplex.admin-key", ADMIN_KEY, "loraplex.router.max-adapter-upload", MAX_UPLOAD,
                "pekko.coordinated-shutdown.exit-jvm", "off", "pekko.actor.serialize-messages", "on")), false, System.out);
        tenant("acme", 1L << 30);
        tenant("other", 1L << 30);
        tenant("tiny", 1024);
        acmeManage = key("acme", "chat", "manage");
        acmeChat = key("acme", "chat");
        otherManage = key("other", "chat", "manage");
        tinyManage = key("tiny", "chat", "manage");
    }

    @AfterAll
    static void stop() throws Exception {
        server.stop();
    }

    // ---- the happy path

    @Test
    void uploadValidatePromoteChatCanaryRollbackDelete() throws Exception {
        Path v1 = adapter("support-v1", 1);
        HttpResponse<String> up = upload(acmeManage, "support", v1);
        assertEquals(201, up.statusCode(), up.body());
        JsonNode version = json.readTree(up.body());
        assertEquals("ready", version.get("state").asText(), up.body());
        assertEquals(1, version.get("version").asInt());
        assertEquals(ContentHash.ofDirectory(v1).hex(), version.get("hash").asText());
        assertFalse(version.get("base_identity").isNull(), "validated against the node's base: " + up.body());

        // ready is not served: only a promoted version is
        assertEquals(404, chat(acmeChat, "support").statusCode());
        HttpResponse<String> promoted = post("/v1/adapters/support/promote", acmeManage, "{}");
        assertEquals(200, promoted.statusCode(), promoted.body());
        assertEquals(1, json.readTree(promoted.body()).get("promoted_version").asInt());
        assertEquals(200, chat(acmeChat, "support").statusCode());

        // a second version, as a .tar.gz, canaried then promoted, then rolled back
        Path v2 = adapter("support-v2", 2);
        HttpResponse<String> up2 = uploadArchive(acmeManage, "support", "support.tar.gz", Tars.gzip(Tars.tar(Tars.entries(
                "support/" + ContentHash.CONFIG_FILE, Files.readAllBytes(v2.resolve(ContentHash.CONFIG_FILE)),
                "support/" + ContentHash.WEIGHTS_FILE, Files.readAllBytes(v2.resolve(ContentHash.WEIGHTS_FILE))))));
        assertEquals(201, up2.statusCode(), up2.body());
        assertEquals(2, json.readTree(up2.body()).get("version").asInt());
        HttpResponse<String> canary = post("/v1/adapters/support/canary", acmeManage, "{\"version\": 2, \"share\": 0.5}");
        assertEquals(200, canary.statusCode(), canary.body());
        assertEquals(2, json.readTree(canary.body()).get("canary_version").asInt());
        for (int i = 0; i < 6; i++) {
            assertEquals(200, chat(acmeChat, "support").statusCode());
        }
        assertEquals(200, post("/v1/adapters/support/promote", acmeManage, "{\"version\": 2}").statusCode());
        HttpResponse<String> rolledBack = post("/v1/adapters/support/rollback", acmeManage, "{}");
        assertEquals(200, rolledBack.statusCode(), rolledBack.body());
        JsonNode afterRollback = json.readTree(rolledBack.body());
        assertEquals(1, afterRollback.get("promoted_version").asInt());

        HttpResponse<String> got = get("/v1/adapters/support", acmeManage);
        assertEquals(200, got.statusCode(), got.body());
        JsonNode adapter = json.readTree(got.body());
        assertEquals("rolled_back", stateOf(adapter, 2), got.body());
        assertEquals("promoted", stateOf(adapter, 1), got.body());
        assertTrue(adapter.at("/versions/0/history").size() >= 3, "history of version 1: " + got.body());
        assertTrue(get("/v1/adapters", acmeManage).body().contains("\"support\""));

        // delete: the blobs go, the engine forgets it, the name is free again
        HttpResponse<String> deleted = delete("/v1/adapters/support", acmeManage);
        assertEquals(200, deleted.statusCode(), deleted.body());
        assertEquals(404, chat(acmeChat, "support").statusCode());
        assertEquals(404, get("/v1/adapters/support", acmeManage).statusCode());
        // the name is gone once DELETE answers; the stores and the engine are told after it, without a reply
        for (Path stored : List.of(v1, v2)) {
            Path blob = server.adapterRoot().resolve("acme").resolve(ContentHash.ofDirectory(stored).hex());
            LocalFleet.await(() -> !Files.exists(blob), Duration.ofSeconds(10), blob + " deleted");
        }
        String v1Hash = ContentHash.ofDirectory(v1).hex();
        LocalFleet.await(() -> server.engine().adapters().stream().noneMatch(a -> a.hash().hex().equals(v1Hash)),
                Duration.ofSeconds(10), "version 1 evicted from the engine");
        HttpResponse<String> reused = upload(acmeManage, "support", adapter("support-v3", 3));
        assertEquals(201, reused.statusCode(), reused.body());
        assertEquals(1, json.readTree(get("/v1/adapters/support", acmeManage).body()).get("versions").size());
    }

    // ---- bad uploads: refused with their reason, nothing stored

    @Test
    void truncatedSafetensorsAreRefused() throws Exception {
        Path dir = adapter("truncated", 11);
        Path weights = dir.resolve(ContentHash.WEIGHTS_FILE);
        byte[] bytes = Files.readAllBytes(weights);
        Files.write(weights, java.util.Arrays.copyOf(bytes, bytes.length / 2));
        assertRefusedAndNothingStored("truncated", dir, 422, "truncated");
    }

    @Test
    void wrongShapesAreRefused() throws Exception {
        Path dir = data.resolve("staged-wrong-base");
        // an adapter for another base: hidden size 32 instead of the served model's
        ModelConfig other = new ModelConfig(Architecture.LLAMA, 32, 64, 2, 4, 2, 8, 600, 1e-5, 10000, null, 256, false, false,
                false, false, 0, Set.of(), DType.F32, null, List.of());
        AdapterWriter.writeRandom(dir, other, EnumSet.of(TargetModule.Q_PROJ), 4, 8, false, DType.F32, 12);
        assertRefusedAndNothingStored("wrongbase", dir, 422, "shape");
    }

    @Test
    void nanWeightsAreRefused() throws Exception {
        Path dir = adapter("nan", 13);
        Path weights = dir.resolve(ContentHash.WEIGHTS_FILE);
        byte[] bytes = Files.readAllBytes(weights);
        long headerLength = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        ByteBuffer.wrap(bytes, (int) (8 + headerLength), 4).order(ByteOrder.LITTLE_ENDIAN).putFloat(Float.NaN);
        Files.write(weights, bytes);
        assertRefusedAndNothingStored("nan", dir, 422, "NaN");
    }

    @Test
    void ranksAboveTheEnginesLimitAreRefused() throws Exception {
        Path dir = data.resolve("staged-rank");
        int limit = server.engine().settings().maxLoraRank();
        AdapterWriter.writeRandom(dir, server.model().model().config(), EnumSet.of(TargetModule.Q_PROJ), limit * 2, limit * 4, false,
                DType.F32, 18);
        assertRefusedAndNothingStored("toobig", dir, 422, "rank " + (limit * 2));
    }

    @Test
    void oversizedBodiesAreRefused() throws Exception {
        Path dir = adapter("big", 14);
        byte[] big = new byte[(int) MAX_UPLOAD + 1024];
        HttpResponse<String> r = send(acmeManage, new Multipart().field("name", "big")
                .file(ContentHash.CONFIG_FILE, dir.resolve(ContentHash.CONFIG_FILE))
                .file(ContentHash.WEIGHTS_FILE, ContentHash.WEIGHTS_FILE, big));
        assertEquals(413, r.statusCode(), r.body());
        assertNothingStored("big");
    }

    @Test
    void pickledWeightsAreRefused() throws Exception {
        Path dir = adapter("pickle", 15);
        HttpResponse<String> r = send(acmeManage, new Multipart().field("name", "pickle")
                .file(ContentHash.CONFIG_FILE, dir.resolve(ContentHash.CONFIG_FILE))
                .file("adapter_model.bin", "adapter_model.bin", new byte[] {(byte) 0x80, 0x02, 'c', 'x'}));
        assertEquals(400, r.statusCode(), r.body());
        assertTrue(r.body().contains(".bin"), r.body());
        assertNothingStored("pickle");
    }

    @Test
    void pathTraversalInsideATarIsRefused() throws Exception {
        Path dir = adapter("traversal", 16);
        HttpResponse<String> r = uploadArchive(acmeManage, "traversal", "evil.tar", Tars.tar(Tars.entries(
                ContentHash.CONFIG_FILE, Files.readAllBytes(dir.resolve(ContentHash.CONFIG_FILE)),
                "../" + ContentHash.WEIGHTS_FILE, Files.readAllBytes(dir.resolve(ContentHash.WEIGHTS_FILE)))));
        assertEquals(400, r.statusCode(), r.body());
        assertTrue(r.body().contains("unsafe path"), r.body());
        assertNothingStored("traversal");
        assertFalse(Files.exists(server.adapterRoot().resolve(ContentHash.WEIGHTS_FILE)));
    }

    @Test
    void uploadsOverTheQuotaAreRefused() throws Exception {
        HttpResponse<String> r = upload(tinyManage, "support", adapter("quota", 17));
        assertEquals(413, r.statusCode(), r.body());
        assertTrue(r.body().contains("quota"), r.body());
        assertEquals(404, get("/v1/adapters/support", tinyManage).statusCode());
        assertBlobDirsEmpty("tiny");
    }

    // ---- isolation

    @Test
    void noRouteReachesAnotherTenantsAdapter() throws Exception {
        assertEquals(201, upload(acmeManage, "private", adapter("private", 21)).statusCode());
        assertEquals(200, post("/v1/adapters/private/promote", acmeManage, "{}").statusCode());
        HttpResponse<String> missing = get("/v1/adapters/never-was", otherManage);
        assertEquals(404, missing.statusCode());
        for (HttpResponse<String> r : List.of(get("/v1/adapters/private", otherManage),
                post("/v1/adapters/private/promote", otherManage, "{}"),
                post("/v1/adapters/private/rollback", otherManage, "{}"),
                delete("/v1/adapters/private", otherManage),
                chat(otherManage, "private"))) {
            assertEquals(404, r.statusCode(), r.body());
        }
        assertFalse(get("/v1/adapters", otherManage).body().contains("private"));
        // a chat key cannot manage adapters
        assertEquals(403, get("/v1/adapters", acmeChat).statusCode());
        assertEquals(403, delete("/v1/adapters/private", acmeChat).statusCode());
        assertEquals(403, upload(acmeChat, "sneaky", adapter("sneaky", 22)).statusCode());
        assertEquals(200, chat(acmeChat, "private").statusCode(), "still there after the refused attempts");
    }

    @Test
    void aRevokedKeyStopsWorkingWithinOneSecond() throws Exception {
        HttpResponse<String> created = post("/v1/admin/tenants/other/keys", ADMIN_KEY, "{\"scopes\": [\"chat\"], \"label\": \"temp\"}");
        JsonNode k = json.readTree(created.body());
        String key = k.get("key").asText();
        assertEquals(200, models(key).statusCode());
        assertEquals(200, delete("/v1/admin/tenants/other/keys/" + k.get("id").asText(), ADMIN_KEY).statusCode());
        long revoked = System.nanoTime();
        int status = 200;
        while (System.nanoTime() - revoked < 1_000_000_000L && (status = models(key).statusCode()) != 401) {
            Thread.sleep(20);
        }
        assertEquals(401, status, "the revoked key still worked a second later");
    }

    @Test
    void adminRoutesNeedTheAdminKey() throws Exception {
        assertEquals(401, post("/v1/admin/tenants", acmeManage, "{\"id\": \"mallory\"}").statusCode());
        assertEquals(401, get("/v1/admin/tenants", null).statusCode());
        assertEquals(200, get("/v1/admin/tenants", ADMIN_KEY).statusCode());
    }

    // ---- helpers

    static String stateOf(JsonNode adapter, int version) {
        for (JsonNode v : adapter.get("versions")) {
            if (v.get("version").asInt() == version) {
                return v.get("state").asText();
            }
        }
        throw new AssertionError("no version " + version + " in " + adapter);
    }

    static void assertRefusedAndNothingStored(String name, Path dir, int status, String reason) throws Exception {
        HttpResponse<String> r = upload(acmeManage, name, dir);
        assertEquals(status, r.statusCode(), r.body());
        assertTrue(r.body().contains(reason), "the refusal names the reason (" + reason + "): " + r.body());
        Path blob = server.adapterRoot().resolve("acme").resolve(ContentHash.ofDirectory(dir).hex());
        LocalFleet.await(() -> !Files.exists(blob), Duration.ofSeconds(10), "the refused version's blob " + blob + " removed");
        assertNothingStored(name);
    }

    static void assertNothingStored(String name) throws Exception {
        HttpResponse<String> r = get("/v1/adapters/" + name, acmeManage);
        if (r.statusCode() == 200) {
            for (JsonNode v : json.readTree(r.body()).get("versions")) {
                assertEquals("rejected", v.get("state").asText(), "only a rejected record remains: " + r.body());
            }
        } else {
            assertEquals(404, r.statusCode(), r.body());
        }
        Path tmp = server.adapterRoot().resolve(".tmp");
        if (Files.isDirectory(tmp)) {
            try (Stream<Path> left = Files.list(tmp)) {
                assertEquals(List.of(), left.toList(), "no temporary upload files remain");
            }
        }
    }

    static void assertBlobDirsEmpty(String tenant) throws IOException {
        Path dir = server.adapterRoot().resolve(tenant);
        if (Files.isDirectory(dir)) {
            try (Stream<Path> left = Files.list(dir)) {
                assertEquals(List.of(), left.toList());
            }
        }
    }

    static Path adapter(String label, long seed) throws IOException {
        Path dir = data.resolve("staged-" + label);
        AdapterWriter.writeRandom(dir, server.model().model().config(), EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ), 8, 16,
                false, DType.F32, seed);
        return dir;
    }

    static void tenant(String id, long quota) throws Exception {
        HttpResponse<String> r = post("/v1/admin/tenants", ADMIN_KEY, "{\"id\": \"" + id + "\", \"display_name\": \"" + id
                + "\", \"limits\": {\"storage_quota_bytes\": " + quota + "}}");
        assertTrue(r.statusCode() == 200 || r.statusCode() == 201, r.body());
    }

    static String key(String tenant, String... scopes) throws Exception {
        String list = Stream.of(scopes).map(s -> "\"" + s + "\"").collect(Collectors.joining(","));
        HttpResponse<String> r = post("/v1/admin/tenants/" + tenant + "/keys", ADMIN_KEY, "{\"scopes\": [" + list + "]}");
        assertTrue(r.statusCode() == 200 || r.statusCode() == 201, r.body());
        String key = json.readTree(r.body()).get("key").asText();
        assertNotNull(key);
        return key;
    }

    static HttpResponse<String> upload(String key, String name, Path dir) throws Exception {
        return send(key, new Multipart().field("name", name)
                .file(ContentHash.CONFIG_FILE, dir.resolve(ContentHash.CONFIG_FILE))
                .file(ContentHash.WEIGHTS_FILE, dir.resolve(ContentHash.WEIGHTS_FILE)));
    }

    static HttpResponse<String> uploadArchive(String key, String name, String fileName, byte[] archive) throws Exception {
        return send(key, new Multipart().field("name", name).file("file", fileName, archive));
    }

    static HttpResponse<String> send(String key, Multipart form) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(server.url() + "/v1/adapters"))
                .header("Content-Type", form.contentType()).POST(form.publisher());
        auth(b, key);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> chat(String key, String model) throws Exception {
        return post("/v1/chat/completions", key, "{\"model\": \"" + model + "\", \"max_tokens\": 2, \"temperature\": 0, "
                + "\"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]}");
    }

    static HttpResponse<String> models(String key) throws Exception {
        return get("/v1/models", key);
    }

    static HttpResponse<String> post(String path, String key, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(server.url() + path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        auth(b, key);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(String path, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(server.url() + path)).GET();
        auth(b, key);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> delete(String path, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(server.url() + path)).DELETE();
        auth(b, key);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static void auth(HttpRequest.Builder b, String key) {
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
    }
}
