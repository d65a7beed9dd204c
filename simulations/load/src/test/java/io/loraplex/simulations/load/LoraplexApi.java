package io.loraplex.simulations.load;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The few admin and adapter calls the simulations' setup makes, over plain HTTP like any client (never by writing into
 * the server's data directory). Setup is not measured: Gatling measures only the scenarios' own requests.
 */
final class LoraplexApi {

    /** A GPU node as {@code GET /v1/admin/nodes} lists it. */
    record Node(String id, String baseModel, boolean ready, boolean draining) {
    }

    /** A call the server refused or did not answer; the message names the call and quotes the answer. */
    static final class SetupException extends RuntimeException {
        SetupException(String message) {
            super(message);
        }
    }

    static final ObjectMapper JSON = new ObjectMapper();

    private final URI url;
    private final String adminKey;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    LoraplexApi(URI url, String adminKey) {
        this.url = url;
        this.adminKey = adminKey;
    }

    /**
     * Creates (or updates) a tenant whose limits leave room for the load: the run measures the fleet, not the tenant's
     * token buckets.
     */
    void createTenant(TenantId tenant) {
        ObjectNode body = JSON.createObjectNode().put("id", tenant.value());
        body.putObject("limits").put("requests_per_second", 10_000).put("request_burst", 10_000).put("tokens_per_minute", 100_000_000L)
                .put("max_concurrent", 1_000).put("storage_quota_bytes", 1L << 30);
        call("POST", "/v1/admin/tenants", adminKey, body, 200, 201);
    }

    /** A new key of the tenant with the given scopes ("chat", "manage"); the server shows it this once. */
    String createKey(TenantId tenant, String... scopes) {
        ObjectNode body = JSON.createObjectNode();
        var s = body.putArray("scopes");
        for (String scope : scopes) {
            s.add(scope);
        }
        return call("POST", "/v1/admin/tenants/" + tenant.value() + "/keys", adminKey, body, 200, 201).get("key").asText();
    }

    /** Uploads a PEFT adapter directory as a new version of {@code name}; returns the version number. */
    int uploadAdapter(String manageKey, String name, String baseModel, Path dir) {
        Multipart form = new Multipart().field("name", name).field("base_model", baseModel)
                .file(ContentHash.CONFIG_FILE, dir.resolve(ContentHash.CONFIG_FILE))
                .file(ContentHash.WEIGHTS_FILE, dir.resolve(ContentHash.WEIGHTS_FILE));
        HttpRequest request = HttpRequest.newBuilder(url.resolve("/v1/adapters")).timeout(Duration.ofMinutes(2))
                .header("Authorization", "Bearer " + manageKey).header("Content-Type", form.contentType()).POST(form.publisher()).build();
        return check("POST /v1/adapters (" + name + ")", send(request), 201).get("version").asInt();
    }

    void promote(String manageKey, String name, int version) {
        call("POST", "/v1/adapters/" + name + "/promote", manageKey, JSON.createObjectNode().put("version", version), 200);
    }

    /** One greedy chat request of a few tokens; the answer is not kept. */
    void chat(String chatKey, String model) {
        ObjectNode body = JSON.createObjectNode().put("model", model).put("max_tokens", 8).put("temperature", 0);
        body.putArray("messages").addObject().put("role", "user").put("content", "Hello!");
        call("POST", "/v1/chat/completions", chatKey, body, 200);
    }

    /** The GPU nodes the router's placement knows. */
    List<Node> nodes() {
        JsonNode body = call("GET", "/v1/admin/nodes", adminKey, null, 200);
        List<Node> nodes = new ArrayList<>();
        for (JsonNode n : body.get("data")) {
            nodes.add(new Node(n.get("id").asText(), n.get("base_model").asText(), n.get("ready").asBoolean(), n.get("draining").asBoolean()));
        }
        return nodes;
    }

    /** The base model the ready nodes serve (the first one's, should they serve several). */
    String baseModel() {
        return nodes().stream().filter(Node::ready).map(Node::baseModel).findFirst().orElseThrow(() -> new SetupException(
                "no GPU node is ready at " + url + " (GET /v1/admin/nodes lists none ready): start the server's GPU nodes first"));
    }

    private JsonNode call(String method, String path, String key, JsonNode body, int... expected) {
        HttpRequest request = HttpRequest.newBuilder(url.resolve(path)).timeout(Duration.ofMinutes(1))
                .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body.toString()))
                .build();
        return check(method + " " + path, send(request), expected);
    }

    private HttpResponse<String> send(HttpRequest request) {
        try {
            return http.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            // a refused connection has no message, only its type
            String why = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
            throw new SetupException(request.method() + " " + request.uri() + " failed: " + why
                    + " (is a loraplex router listening there? -Dloraplex.url names it)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SetupException(request.method() + " " + request.uri() + " was interrupted");
        }
    }

    private static JsonNode check(String what, HttpResponse<String> response, int... expected) {
        for (int status : expected) {
            if (response.statusCode() == status) {
                try {
                    return JSON.readTree(response.body());
                } catch (IOException e) {
                    throw new SetupException(what + " answered " + status + " with a body that is no JSON: " + response.body());
                }
            }
        }
        String hint = response.statusCode() == 401 ? " (is -Dloraplex.adminKey the server's admin key?)" : "";
        throw new SetupException(what + " answered " + response.statusCode() + hint + ": " + response.body());
    }
}
