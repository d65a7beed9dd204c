package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue "Trust" end to end: the packaged server ({@code serve --no-demo --threads 1}) over HTTP,
 * each hostile or mistaken request answered with its exact status and a message naming the limit or
 * the problem, the disk kept within the tenant's quota while archive bombs arrive at once, shared
 * content counted once, and no response of the whole test naming a server path.
 */
class TrustIT {

    static final String ADMIN_KEY = "lp-admin-trust-test";
    static final long QUOTA = 10_000_000;
    /** What the sampler may see above the quota: a chunk ahead, buffers in flight, the archives themselves. */
    static final long SLACK = 4L << 20;
    static final ObjectMapper json = new ObjectMapper();
    static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    /** Every response body of the test: none may name the data directory. */
    static final List<String> bodies = new CopyOnWriteArrayList<>();

    @TempDir
    static Path work;
    static Path data;
    static ServeProcess server;
    static String url;
    static ModelConfig base;

    @BeforeAll
    static void start() throws Exception {
        data = work.resolve("data");
        server = ServeProcess.start(work, data, Map.of("LORAPLEX_ADMIN_KEY", ADMIN_KEY), "--no-demo", "--threads", "1");
        url = server.url();
        base = ModelConfig.load(data.resolve("model"));
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.kill();
        }
        String dataDir = data.toAbsolutePath().toString();
        for (String body : bodies) {
            assertFalse(body.contains(dataDir), "a response names the data directory: " + body);
            assertFalse(body.contains("/tmp/") || body.contains(".tmp/"), "a response names a server path: " + body);
        }
    }

    @Test
    void concurrentArchiveBombsAreRefusedNamingTheQuotaAndNeverFillTheDisk() throws Exception {
        String key = tenant("bombed", QUOTA);
        long usedBefore = storageUsed("bombed");
        byte[] config = validConfig();
        // a safetensors header then zeros: 400 MiB unpacked, about 0.4 MB gzipped
        byte[] bomb = Tars.tarGzWithZeros(Tars.entries(ContentHash.CONFIG_FILE, config), ContentHash.WEIGHTS_FILE,
                safetensorsHead(400L << 20), 400L << 20);
        assertTrue(bomb.length < 1_000_000, "the bomb is small: " + bomb.length + " bytes");

        Path blobs = data.resolve("blobs");
        AtomicLong peak = new AtomicLong();
        AtomicBoolean sampling = new AtomicBoolean(true);
        Thread sampler = Thread.ofPlatform().daemon().start(() -> {
            while (sampling.get()) {
                peak.accumulateAndGet(bytesUnder(blobs), Math::max);
            }
        });
        List<CompletableFuture<HttpResponse<String>>> uploads = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            Multipart form = new Multipart().field("name", "bomb" + i).file("file", "bomb" + i + ".tar.gz", bomb);
            uploads.add(http.sendAsync(upload("/v1/adapters", key, form), HttpResponse.BodyHandlers.ofString()));
        }
        List<HttpResponse<String>> responses = new ArrayList<>();
        for (CompletableFuture<HttpResponse<String>> upload : uploads) {
            responses.add(upload.get(120, TimeUnit.SECONDS));
        }
        sampling.set(false);
        sampler.join();

        for (HttpResponse<String> r : responses) {
            bodies.add(r.body());
            assertEquals(413, r.statusCode(), r.body());
            assertEquals("quota_exceeded", error(r).get("code").asText(), r.body());
            assertTrue(message(r).startsWith("storage quota exceeded for tenant bombed") && message(r).contains("quota " + QUOTA + " bytes"),
                    r.body());
        }
        System.out.println("TrustIT: peak bytes under data/blobs during six concurrent bombs: " + peak.get() + " (quota " + QUOTA + ")");
        assertTrue(peak.get() <= QUOTA + SLACK, "peak bytes under data/blobs " + peak.get() + " above the quota " + QUOTA
                + " and " + SLACK + " bytes of buffers");
        LocalFleet.await(() -> bytesUnder(blobs.resolve("bombed")) == 0 && bytesUnder(blobs.resolve(".tmp")) == 0, Duration.ofSeconds(20),
                "nothing of the bombs left under data/blobs");
        LocalFleet.await(() -> storageUsed("bombed") == usedBefore, Duration.ofSeconds(20), "storage_used_bytes back to " + usedBefore);
    }

    @Test
    void oneContentUnderTwoNamesIsStoredAndCountedOnceAndOutlivesTheDeleteOfOneName() throws Exception {
        String key = tenant("shared", 1L << 30);
        Path adapter = adapter("shared", 5);
        for (String name : List.of("first", "second")) {
            HttpResponse<String> up = send(upload("/v1/adapters", key, adapterForm(name, adapter)));
            assertEquals(201, up.statusCode(), up.body());
        }
        assertEquals(200, send(json("POST", "/v1/adapters/second/promote", key, "{}")).statusCode());
        ContentHash hash = ContentHash.ofDirectory(adapter);
        long blobBytes = Files.size(adapter.resolve(ContentHash.CONFIG_FILE)) + Files.size(adapter.resolve(ContentHash.WEIGHTS_FILE));
        LocalFleet.await(() -> storageUsed("shared") == blobBytes, Duration.ofSeconds(10), "one blob counted once");

        HttpResponse<String> deleted = send(json("DELETE", "/v1/adapters/first", key, null));
        assertEquals(200, deleted.statusCode(), deleted.body());
        HttpResponse<String> chat = send(json("POST", "/v1/chat/completions", key, chatBody("second", 2)));
        assertEquals(200, chat.statusCode(), chat.body());
        // the delete's clean-up runs after its answer: give it time to (wrongly) remove the shared blob
        Thread.sleep(1000);
        assertTrue(Files.isDirectory(data.resolve("blobs").resolve("shared").resolve(hash.hex())), "the shared blob is still stored");
        assertEquals(blobBytes, storageUsed("shared"));
        assertEquals(200, send(json("POST", "/v1/chat/completions", key, chatBody("second", 2))).statusCode());
    }

    @Test
    void filesCountAgainstTheQuotaAndOversizedUploadsAndFileNamesNameTheirLimit() throws Exception {
        String key = tenant("files", QUOTA);
        long before = storageUsed("files");
        String training = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hours?\"}, {\"role\": \"assistant\", \"content\": \"8 to 6.\"}]}\n";
        HttpResponse<String> stored = send(upload("/v1/files", key, new Multipart().field("purpose", "fine-tune")
                .file("file", "train.jsonl", training.getBytes(StandardCharsets.UTF_8))));
        assertEquals(200, stored.statusCode(), stored.body());
        assertEquals(before + training.length(), storageUsed("files"), "the file counts in storage_used_bytes");
        String id = json.readTree(stored.body()).get("id").asText();
        assertEquals(200, send(json("DELETE", "/v1/files/" + id, key, null)).statusCode());
        assertEquals(before, storageUsed("files"), "a deleted file is given back");

        // 12 MB of training data: within the file limit, over the tenant's storage quota
        HttpResponse<String> overQuota = sendLarge("/v1/files", key, "purpose", "fine-tune", "file", "big.jsonl", 12_000_000);
        assertEquals(413, overQuota.statusCode(), overQuota.body());
        assertEquals("quota_exceeded", error(overQuota).get("code").asText(), overQuota.body());
        assertTrue(message(overQuota).startsWith("storage quota exceeded for tenant files")
                && message(overQuota).contains("quota " + QUOTA + " bytes"), overQuota.body());

        String longName = "n".repeat(294) + ".jsonl";
        HttpResponse<String> named = send(upload("/v1/files", key, new Multipart().field("purpose", "fine-tune")
                .file("file", longName, training.getBytes(StandardCharsets.UTF_8))));
        assertEquals(400, named.statusCode(), named.body());
        assertEquals("the file name of part 'file' is 300 characters; a file name has at most 255", message(named));
        HttpResponse<String> adapterNamed = send(upload("/v1/adapters", key, new Multipart().field("name", "named")
                .file(ContentHash.CONFIG_FILE, "c".repeat(300), validConfig())));
        assertEquals(400, adapterNamed.statusCode(), adapterNamed.body());
        assertEquals("the file name of part '" + ContentHash.CONFIG_FILE + "' is 300 characters; a file name has at most 255",
                message(adapterNamed));
        LocalFleet.await(() -> storageUsed("files") == before, Duration.ofSeconds(10), "the refused uploads' holds released");
        assertEquals(0, bytesUnder(data.resolve("files").resolve("files")), "no file of the tenant stays");
    }

    @Test
    void requestsOverALimitOrWithABadAdapterAreRefusedNamingItAndNoServerPath() throws Exception {
        String key = tenant("limits", 1L << 30);

        String baseModel = json.readTree(send(json("GET", "/v1/models", key, null)).body()).at("/data/0/id").asText();
        HttpResponse<String> tokens = send(json("POST", "/v1/chat/completions", key, chatBody(baseModel, 2_000_000)));
        assertEquals(400, tokens.statusCode(), tokens.body());
        assertEquals("request_too_large", error(tokens).get("code").asText(), tokens.body());
        assertEquals("max_tokens", error(tokens).get("param").asText(), tokens.body());
        assertTrue(message(tokens).contains("above the limit of 1000000 tokens per minute")
                && message(tokens).contains("the largest max_tokens per request is 4096"), tokens.body());

        Path nan = adapter("nan", 7);
        Path weights = nan.resolve(ContentHash.WEIGHTS_FILE);
        byte[] bytes = Files.readAllBytes(weights);
        long headerLength = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        ByteBuffer.wrap(bytes, (int) (8 + headerLength), 4).order(ByteOrder.LITTLE_ENDIAN).putFloat(Float.NaN);
        Files.write(weights, bytes);
        HttpResponse<String> refused = send(upload("/v1/adapters", key, adapterForm("nan", nan)));
        assertEquals(422, refused.statusCode(), refused.body());
        assertEquals("adapter_rejected", error(refused).get("code").asText(), refused.body());
        assertTrue(message(refused).contains("NaN"), refused.body());

        // 100 MB of training data: over the file limit (64 MiB), within the quota (1 GiB)
        HttpResponse<String> big = sendLarge("/v1/files", key, "purpose", "fine-tune", "file", "big.jsonl", 100_000_000);
        assertEquals(413, big.statusCode(), big.body());
        assertEquals("request_too_large", error(big).get("code").asText(), big.body());
        assertEquals("The request body exceeds the limit of " + (64L << 20) + " bytes", message(big));

        HttpResponse<String> displayName = send(json("POST", "/v1/admin/tenants", ADMIN_KEY,
                "{\"id\": \"named\", \"display_name\": \"" + "d".repeat(10_000) + "\"}"));
        assertEquals(400, displayName.statusCode(), displayName.body());
        assertEquals("display_name has 10000 characters; the limit is 256", message(displayName));
        assertEquals("display_name", error(displayName).get("param").asText());
    }

    // ---- helpers

    /** A tenant with {@code quota} bytes of storage and a key that chats and manages. */
    static String tenant(String id, long quota) throws Exception {
        HttpResponse<String> created = send(json("POST", "/v1/admin/tenants", ADMIN_KEY,
                "{\"id\": \"" + id + "\", \"limits\": {\"storage_quota_bytes\": " + quota + "}}"));
        assertTrue(created.statusCode() == 200 || created.statusCode() == 201, created.body());
        HttpResponse<String> key = send(json("POST", "/v1/admin/tenants/" + id + "/keys", ADMIN_KEY, "{\"scopes\": [\"chat\", \"manage\"]}"));
        assertTrue(key.statusCode() == 200 || key.statusCode() == 201, key.body());
        return json.readTree(key.body()).get("key").asText();
    }

    static long storageUsed(String tenant) {
        try {
            HttpResponse<String> r = send(json("GET", "/v1/admin/tenants/" + tenant, ADMIN_KEY, null));
            assertEquals(200, r.statusCode(), r.body());
            return json.readTree(r.body()).findValue("storage_used_bytes").asLong();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static Path adapter(String label, long seed) throws IOException {
        Path dir = work.resolve("staged-" + label + "-" + UUID.randomUUID());
        AdapterWriter.writeRandom(dir, base, EnumSet.of(TargetModule.Q_PROJ), 8, 16, false, DType.F32, seed);
        return dir;
    }

    static byte[] validConfig() throws IOException {
        return Files.readAllBytes(adapter("config", 3).resolve(ContentHash.CONFIG_FILE));
    }

    /** A safetensors header declaring one F32 tensor of {@code size} bytes in all: what the zeros after it claim to be. */
    static byte[] safetensorsHead(long size) {
        String header = "{\"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[1,"
                + (size / 4) + "],\"data_offsets\":[0," + (size / 4 * 4) + "]}}";
        byte[] text = header.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + text.length).order(ByteOrder.LITTLE_ENDIAN).putLong(text.length).put(text).array();
    }

    static Multipart adapterForm(String name, Path dir) throws IOException {
        return new Multipart().field("name", name)
                .file(ContentHash.CONFIG_FILE, dir.resolve(ContentHash.CONFIG_FILE))
                .file(ContentHash.WEIGHTS_FILE, dir.resolve(ContentHash.WEIGHTS_FILE));
    }

    static String chatBody(String model, int maxTokens) {
        return "{\"model\": \"" + model + "\", \"max_tokens\": " + maxTokens + ", \"temperature\": 0, "
                + "\"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]}";
    }

    static HttpRequest upload(String path, String key, Multipart form) {
        return HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(120))
                .header("Authorization", "Bearer " + key).header("Content-Type", form.contentType()).POST(form.publisher()).build();
    }

    static HttpRequest json(String method, String path, String key, String body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(60))
                .header("Authorization", "Bearer " + key);
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        return b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body)).build();
    }

    static HttpResponse<String> send(HttpRequest request) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
        bodies.add(response.body());
        return response;
    }

    /** A multipart form with one field and a file part of {@code size} zero bytes, streamed (never held in memory). */
    static HttpResponse<String> sendLarge(String path, String key, String field, String value, String fileField, String fileName,
            long size) throws IOException, InterruptedException {
        String boundary = "loraplex-" + UUID.randomUUID();
        byte[] head = ("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + field + "\"\r\n\r\n" + value + "\r\n--" + boundary
                + "\r\nContent-Disposition: form-data; name=\"" + fileField + "\"; filename=\"" + fileName
                + "\"\r\nContent-Type: application/octet-stream\r\n\r\n").getBytes(StandardCharsets.UTF_8);
        byte[] tail = ("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8);
        // the length declared and 100-continue asked for, as curl does for large bodies: a server refusing the size answers
        // before the body is sent, instead of closing on a client still writing (which it would see as a broken pipe)
        HttpRequest request = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(120)).expectContinue(true)
                .header("Authorization", "Bearer " + key).header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.fromPublisher(HttpRequest.BodyPublishers.ofInputStream(() -> new SequenceInputStream(
                        java.util.Collections.enumeration(List.of(new java.io.ByteArrayInputStream(head), zeros(size),
                                new java.io.ByteArrayInputStream(tail))))), head.length + size + tail.length))
                .build();
        return send(request);
    }

    static InputStream zeros(long size) {
        return new InputStream() {
            long left = size;

            @Override
            public int read() {
                return left-- > 0 ? 0 : -1;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (left <= 0) {
                    return -1;
                }
                int n = (int) Math.min(len, left);
                java.util.Arrays.fill(b, off, off + n, (byte) 0);
                left -= n;
                return n;
            }
        };
    }

    static JsonNode error(HttpResponse<String> response) throws IOException {
        return json.readTree(response.body()).get("error");
    }

    static String message(HttpResponse<String> response) throws IOException {
        return error(response).get("message").asText();
    }

    /**
     * Bytes of every regular file under {@code dir}, each file once by its identity (a blob renamed
     * into place mid-walk is one file), {@code .tmp} included; files vanishing mid-walk count as gone.
     */
    static long bytesUnder(Path dir) {
        Map<Object, Long> files = new HashMap<>();
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.forEach(p -> {
                try {
                    BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                    if (a.isRegularFile()) {
                        files.put(a.fileKey() != null ? a.fileKey() : p, a.size());
                    }
                } catch (IOException e) {
                    // gone meanwhile
                }
            });
        } catch (IOException | java.io.UncheckedIOException e) {
            // a directory vanished mid-walk: this sample counts what it saw
        }
        return files.values().stream().mapToLong(Long::longValue).sum();
    }
}
