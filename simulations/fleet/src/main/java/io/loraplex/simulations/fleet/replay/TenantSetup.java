package io.loraplex.simulations.fleet.replay;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.simulations.fleet.TraceRequest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * Prepares a server for a trace through its public APIs only, as an operator and its tenants would: each
 * tenant the trace names (admin API), one key per tenant with the {@code chat} and {@code manage} scopes,
 * and each adapter it names, generated at random on the base model's shape (rank 8 on q/v, seeded by its
 * order in the trace), uploaded and promoted.
 */
final class TenantSetup {

    /** The generated adapters' shape: small, as the validation's cold loads should measure the path, not the bytes. */
    static final int RANK = 8;

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient http;
    private final ReplayTarget target;

    TenantSetup(HttpClient http, ReplayTarget target) {
        this.http = http;
        this.target = target;
    }

    /** Creates the trace's tenants, keys and adapters; answers each tenant's key. */
    Map<String, String> prepare(List<TraceRequest> trace, Path work) throws IOException, InterruptedException {
        Map<String, Set<String>> adapters = new LinkedHashMap<>();
        for (TraceRequest r : trace) {
            adapters.computeIfAbsent(r.tenant(), t -> new LinkedHashSet<>()).add(r.model());
        }
        ModelConfig model = ModelConfig.load(target.baseModel());
        Map<String, String> keys = new LinkedHashMap<>();
        long seed = 1;
        for (var tenant : adapters.entrySet()) {
            String name = tenant.getKey();
            expect(201, 200, post("/v1/admin/tenants", target.adminKey(), JSON.createObjectNode().put("id", name).toString()),
                    "creating tenant " + name);
            JsonNode key = JSON.readTree(expect(201, 200, post("/v1/admin/tenants/" + name + "/keys", target.adminKey(),
                    "{\"scopes\":[\"chat\",\"manage\"]}"), "creating a key of tenant " + name).body());
            keys.put(name, key.path("key").asText());
            for (String adapter : tenant.getValue()) {
                Path dir = work.resolve("adapters").resolve(name).resolve(adapter);
                AdapterWriter.writeRandom(dir, model, EnumSet.of(TargetModule.Q_PROJ, TargetModule.V_PROJ), RANK, 2.0 * RANK, false,
                        DType.F32, seed++);
                upload(keys.get(name), name, adapter, dir);
            }
        }
        return keys;
    }

    private void upload(String key, String tenant, String adapter, Path dir) throws IOException, InterruptedException {
        String boundary = "replay-" + UUID.randomUUID();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        part(body, boundary, "Content-Disposition: form-data; name=\"name\"", adapter.getBytes(StandardCharsets.UTF_8));
        for (String file : List.of(ContentHash.CONFIG_FILE, ContentHash.WEIGHTS_FILE)) {
            part(body, boundary, "Content-Disposition: form-data; name=\"" + file + "\"; filename=\"" + file
                    + "\"\r\nContent-Type: application/octet-stream", Files.readAllBytes(dir.resolve(file)));
        }
        body.writeBytes(("--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        HttpResponse<String> up = http.send(HttpRequest.newBuilder(target.resolve("/v1/adapters"))
                .header("Authorization", "Bearer " + key).header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())).build(), HttpResponse.BodyHandlers.ofString());
        expect(201, 201, up, "uploading adapter " + tenant + "/" + adapter);
        expect(200, 200, post("/v1/adapters/" + adapter + "/promote", key, "{}"), "promoting adapter " + tenant + "/" + adapter);
    }

    private static void part(ByteArrayOutputStream body, String boundary, String headers, byte[] content) {
        body.writeBytes(("--" + boundary + "\r\n" + headers + "\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.writeBytes(content);
        body.writeBytes("\r\n".getBytes(StandardCharsets.UTF_8));
    }

    HttpResponse<String> post(String path, String key, String json) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(target.resolve(path)).header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(json)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The answer when its status is one of the two expected; otherwise a failure naming the step and the server's answer. */
    static HttpResponse<String> expect(int status, int orStatus, HttpResponse<String> answer, String what) {
        if (answer.statusCode() != status && answer.statusCode() != orStatus) {
            throw new IllegalStateException(what + " answered " + answer.statusCode() + " (expected " + status + "): "
                    + answer.body());
        }
        return answer;
    }
}
