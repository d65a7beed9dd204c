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
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash safety of the embedded default, with real SIGKILLs of the packaged {@code serve}: a promote
 * acknowledged just before the kill is there after the restart; an upload cut by the kill leaves
 * no half-written blob; afterwards the adapter registry and the blob store agree.
 */
class CrashIT {

    static final String ADMIN_KEY = "lp-admin-crash-test";
    static final ObjectMapper json = new ObjectMapper();
    static final HttpClient http = HttpClient.newHttpClient();

    @TempDir
    Path work;

    @Test
    void anAcknowledgedPromoteSurvivesSigkillAndAKilledUploadLeavesNothing() throws Exception {
        Path data = work.resolve("data");
        Map<String, String> env = Map.of("LORAPLEX_ADMIN_KEY", ADMIN_KEY);
        ServeProcess first = ServeProcess.start(work, data, env, "--no-demo", "--threads", "1");
        String key;
        Path adapter = work.resolve("staged");
        try {
            String url = first.url();
            assertOk(post(url, "/v1/admin/tenants", ADMIN_KEY, "{\"id\": \"acme\"}"));
            key = json.readTree(assertOk(post(url, "/v1/admin/tenants/acme/keys", ADMIN_KEY,
                    "{\"scopes\": [\"chat\", \"manage\"]}")).body()).get("key").asText();
            AdapterWriter.writeRandom(adapter, ModelConfig.load(data.resolve("model")), EnumSet.of(TargetModule.Q_PROJ), 8, 16,
                    false, DType.F32, 5);
            HttpResponse<String> up = upload(url, key, new Multipart().field("name", "support")
                    .file(ContentHash.CONFIG_FILE, adapter.resolve(ContentHash.CONFIG_FILE))
                    .file(ContentHash.WEIGHTS_FILE, adapter.resolve(ContentHash.WEIGHTS_FILE)));
            assertEquals(201, up.statusCode(), up.body());
            assertOk(post(url, "/v1/adapters/support/promote", key, "{}"));
        } finally {
            first.kill(); // right after the acknowledgement
        }

        ServeProcess second = ServeProcess.start(work, data, env, "--no-demo", "--threads", "1");
        try {
            JsonNode view = json.readTree(assertOk(get(second.url(), "/v1/adapters/support", key)).body());
            assertEquals(1, view.get("promoted_version").asInt(), view.toString());
            assertOk(post(second.url(), "/v1/chat/completions", key,
                    "{\"model\": \"support\", \"max_tokens\": 2, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"));

            // an upload killed half-way: 8 MB of weights, 3 MB sent, the server dies once some of it is on disk
            Multipart body = new Multipart().field("name", "halfway")
                    .file(ContentHash.CONFIG_FILE, adapter.resolve(ContentHash.CONFIG_FILE))
                    .file(ContentHash.WEIGHTS_FILE, ContentHash.WEIGHTS_FILE, new byte[8 << 20]);
            byte[] bytes = body.bytes();
            URI uri = URI.create(second.url());
            try (Socket socket = new Socket(uri.getHost(), uri.getPort())) {
                OutputStream out = socket.getOutputStream();
                out.write(("POST /v1/adapters HTTP/1.1\r\nHost: " + uri.getAuthority() + "\r\nAuthorization: Bearer " + key
                        + "\r\nContent-Type: " + body.contentType() + "\r\nContent-Length: " + bytes.length + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                out.write(bytes, 0, 3 << 20); // the first 3 MB of 8, then nothing more
                out.flush();
                long until = System.nanoTime() + 30_000_000_000L;
                while (partialBytes(data.resolve("blobs/.tmp")) < (1 << 20) && System.nanoTime() < until) {
                    Thread.sleep(50);
                }
                // the kill does cut an upload: its bytes lie half-written in the store's temporary area
                assertTrue(partialBytes(data.resolve("blobs/.tmp")) >= (1 << 20), "no partial upload reached the disk");
                second.kill();
            }
        } finally {
            second.kill();
        }

        ServeProcess third = ServeProcess.start(work, data, env, "--no-demo", "--threads", "1");
        try {
            assertEquals(404, get(third.url(), "/v1/adapters/halfway", key).statusCode());
            Path blobs = data.resolve("blobs");
            Path tmp = blobs.resolve(".tmp");
            if (Files.isDirectory(tmp)) {
                try (Stream<Path> left = Files.list(tmp)) {
                    assertEquals(List.of(), left.toList(), "the start-up sweep removed the cut upload's files");
                }
            }
            // registry and blobs agree: every live version's blob is there and intact, every blob belongs to a version
            Set<String> referenced = new HashSet<>();
            for (JsonNode a : json.readTree(assertOk(get(third.url(), "/v1/adapters", key)).body()).get("data")) {
                JsonNode full = json.readTree(assertOk(get(third.url(), "/v1/adapters/" + a.get("name").asText(), key)).body());
                for (JsonNode v : full.get("versions")) {
                    String hash = v.get("hash").asText();
                    Path dir = blobs.resolve("acme").resolve(hash);
                    assertTrue(Files.isDirectory(dir), "version " + v + " has its blob");
                    assertEquals(hash, ContentHash.ofDirectory(dir).hex(), "the blob is whole");
                    referenced.add(hash);
                }
            }
            try (Stream<Path> stored = Files.list(blobs.resolve("acme"))) {
                assertEquals(referenced, new HashSet<>(stored.map(p -> p.getFileName().toString()).toList()));
            }
        } finally {
            third.kill();
        }
    }

    @Test
    void aRestartMidJobEndsInAFinishedOrFailedJobNeverAStuckOne() throws Exception {
        Path data = work.resolve("data");
        Map<String, String> env = Map.of("LORAPLEX_ADMIN_KEY", ADMIN_KEY);
        ServeProcess first = ServeProcess.start(work, data, env, "--no-demo", "--threads", "1");
        String key;
        String jobId;
        try {
            assertOk(post(first.url(), "/v1/admin/tenants", ADMIN_KEY, "{\"id\": \"acme\"}"));
            key = json.readTree(assertOk(post(first.url(), "/v1/admin/tenants/acme/keys", ADMIN_KEY,
                    "{\"scopes\": [\"chat\", \"manage\"]}")).body()).get("key").asText();
            String fileId = FineTuneIT.uploadTrainingFile(first.url(), key, work.resolve("pairs.jsonl"));
            jobId = FineTuneIT.createJob(first.url(), key, fileId, "restarted", 60);
            FineTuneIT.awaitStatus(first.url(), key, jobId, "running", 120);
            Thread.sleep(1000); // a few steps in
        } finally {
            first.kill();
        }
        ServeProcess second = ServeProcess.start(work, data, env, "--no-demo", "--threads", "1");
        try {
            JsonNode job = FineTuneIT.awaitStatus(second.url(), key, jobId, "succeeded", 300);
            String status = job.get("status").asText();
            assertTrue(Set.of("succeeded", "failed").contains(status), "the job ended: " + job);
            if (status.equals("failed")) {
                assertFalse(job.at("/error/message").asText().isBlank(), "a failed job says why: " + job);
            } else {
                JsonNode view = json.readTree(assertOk(get(second.url(), "/v1/adapters/restarted", key)).body());
                assertEquals(1, view.get("promoted_version").asInt(), view.toString());
            }
        } finally {
            second.kill();
        }
    }

    static long partialBytes(Path tmp) throws IOException {
        if (!Files.isDirectory(tmp)) {
            return 0;
        }
        try (Stream<Path> files = Files.walk(tmp)) {
            return files.filter(Files::isRegularFile).mapToLong(CrashIT::size).sum();
        }
    }

    static HttpResponse<String> upload(String url, String key, Multipart form) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url + "/v1/adapters")).header("Authorization", "Bearer " + key)
                .header("Content-Type", form.contentType()).POST(form.publisher()).build(), HttpResponse.BodyHandlers.ofString());
    }

    static long size(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            return 0;
        }
    }

    static HttpResponse<String> assertOk(HttpResponse<String> r) {
        assertTrue(r.statusCode() / 100 == 2, r.statusCode() + " " + r.body());
        return r;
    }

    static HttpResponse<String> post(String url, String path, String key, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url + path)).header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(String url, String path, String key) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url + path)).header("Authorization", "Bearer " + key).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
