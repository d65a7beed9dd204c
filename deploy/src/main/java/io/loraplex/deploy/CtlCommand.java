package io.loraplex.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.engine.cli.Flags;
import java.io.PrintStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

/**
 * {@code loraplex ctl}: the operator's commands against a router's admin API — list the GPU nodes,
 * drain (optionally waiting until the node has left) and undrain one, rebalance, and pin, unpin or
 * evict a tenant's adapter. Authenticated with the admin key ({@code --admin-key} or
 * {@code LORAPLEX_ADMIN_KEY}). Exit status: 0 done, 1 the router refused or failed (its message
 * printed), 2 bad usage.
 */
final class CtlCommand {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String COMMANDS = "nodes | drain NODE [--wait] | undrain NODE | rebalance | pin TENANT/NAME [--node N] | "
            + "unpin TENANT/NAME | evict TENANT/NAME [--node N]";

    private CtlCommand() {
    }

    static Flags flags() {
        return new Flags("ctl", "[flags] " + COMMANDS)
                .option("url", "http://127.0.0.1:8080", "the router's HTTP API")
                .option("admin-key", null, "the admin key (default: $LORAPLEX_ADMIN_KEY)")
                .option("node", null, "pin/evict: the GPU node (default: where placement puts it / every node)")
                .option("timeout", "300", "drain --wait: seconds to wait for the node to leave")
                .flag("wait", "drain: wait until the node has left the cluster")
                .flag("json", "print the router's JSON as it came");
    }

    static int run(Flags f, PrintStream out, PrintStream err) throws Exception {
        List<String> args = f.positional();
        if (args.isEmpty()) {
            throw f.bad("ctl: a command is needed: " + COMMANDS);
        }
        String key = f.has("admin-key") ? f.required("admin-key") : System.getenv("LORAPLEX_ADMIN_KEY");
        if (key == null || key.isBlank()) {
            throw f.bad("ctl: the admin key is needed: --admin-key KEY or LORAPLEX_ADMIN_KEY (printed at the router's first start)");
        }
        Client client = new Client(URI.create(f.required("url").replaceAll("/+$", "")), key);
        String command = args.get(0);
        String arg = args.size() > 1 ? args.get(1) : null;
        int expected = switch (command) {
            case "nodes", "rebalance" -> 1;
            case "drain", "undrain", "pin", "unpin", "evict" -> 2;
            default -> throw f.bad("ctl: unknown command '" + command + "'; commands: " + COMMANDS);
        };
        if (args.size() != expected) {
            throw f.bad("ctl " + command + ": " + (expected == 1 ? "takes no argument" : "needs one argument") + "; " + COMMANDS);
        }
        Reply reply = switch (command) {
            case "nodes" -> client.call("GET", "/v1/admin/nodes", null);
            case "drain" -> client.call("POST", "/v1/admin/nodes/" + path(arg) + "/drain", null);
            case "undrain" -> client.call("POST", "/v1/admin/nodes/" + path(arg) + "/undrain", null);
            case "rebalance" -> client.call("POST", "/v1/admin/rebalance", null);
            default -> client.call("POST", adapterPath(f, arg) + "/" + command,
                    f.has("node") ? JSON.createObjectNode().put("node", f.required("node")).toString() : null);
        };
        if (reply.status() >= 300) {
            err.println("loraplex ctl " + command + ": " + reply.status() + " " + reply.errorMessage());
            return 1;
        }
        if (f.has("json")) {
            out.println(reply.body().toPrettyString());
        } else {
            print(command, reply.body(), out);
        }
        if (command.equals("drain") && f.has("wait")) {
            return waitUntilGone(client, arg, Duration.ofSeconds(f.integer("timeout")), out, err);
        }
        return 0;
    }

    /** Polls the node list until {@code node} is no longer in it (it left the cluster), or the timeout. */
    private static int waitUntilGone(Client client, String node, Duration timeout, PrintStream out, PrintStream err) throws Exception {
        long until = System.nanoTime() + timeout.toNanos();
        String last = "";
        while (System.nanoTime() < until) {
            Reply reply = client.call("GET", "/v1/admin/nodes/" + path(node), null);
            if (reply.status() == 404) {
                out.println("node " + node + " has left the cluster");
                return 0;
            }
            String status = reply.status() == 200 ? reply.body().path("drain_status").asText("") : "";
            if (!status.equals(last)) {
                out.println("node " + node + ": " + (status.isEmpty() ? "draining" : status));
                last = status;
            }
            if (status.startsWith("drained") || status.startsWith("drain failed")) {
                err.println("loraplex ctl drain: node " + node + " did not leave: " + status);
                return 1;
            }
            Thread.sleep(250);
        }
        err.println("loraplex ctl drain: node " + node + " had not left after " + timeout.toSeconds() + " s (" + last + ")");
        return 1;
    }

    private static String adapterPath(Flags f, String adapter) {
        int slash = adapter.indexOf('/');
        if (slash <= 0 || slash == adapter.length() - 1 || adapter.indexOf('/', slash + 1) >= 0) {
            throw f.bad("ctl: the adapter is named TENANT/NAME; got " + adapter);
        }
        return "/v1/admin/tenants/" + path(adapter.substring(0, slash)) + "/adapters/" + path(adapter.substring(slash + 1));
    }

    private static String path(String segment) {
        return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static void print(String command, JsonNode body, PrintStream out) {
        switch (command) {
            case "nodes" -> {
                out.printf("%-16s %-18s %-16s %-9s %-14s %-5s %-5s%n", "NODE", "ROLES", "BASE", "STATE", "RUN/WAIT/CAP", "HOT", "WARM");
                for (JsonNode n : body.path("data")) {
                    List<String> roles = n.path("roles").valueStream().map(JsonNode::asText).toList();
                    String state = n.path("draining").asBoolean() ? "draining" : n.path("ready").asBoolean() ? "ready" : "not-ready";
                    out.printf("%-16s %-18s %-16s %-9s %-14s %-5d %-5d%n", n.path("id").asText(), String.join(",", roles),
                            n.path("base_model").asText(), state,
                            n.path("running").asInt() + "/" + n.path("waiting").asInt() + "/" + n.path("capacity").asInt(),
                            n.path("hot").size(), n.path("warm").size());
                    for (JsonNode a : n.path("hot")) {
                        out.printf("    hot  %s/%s v%d%s%n", a.path("tenant").asText(), a.path("name").asText(), a.path("version").asInt(),
                                a.path("pinned").asBoolean() ? " (pinned)" : "");
                    }
                }
                JsonNode prefetch = body.path("prefetch");
                out.printf("session prefetch: %d hits, %d misses%n", prefetch.path("hits").asLong(), prefetch.path("misses").asLong());
            }
            case "drain" -> out.println("node " + body.path("id").asText() + " is draining (no new requests; its hot adapters move, "
                    + "then it leaves)");
            case "undrain" -> out.println("node " + body.path("id").asText() + " takes requests again");
            case "rebalance" -> {
                if (body.path("moves").isEmpty()) {
                    out.println("balanced: nothing to move");
                }
                for (JsonNode m : body.path("moves")) {
                    out.printf("moved %s/%s v%d: %s -> %s%n", m.path("tenant").asText(), m.path("name").asText(),
                            m.path("version").asInt(), m.path("from").asText(), m.path("to").asText());
                }
            }
            default -> out.printf("%s %s/%s v%d on: %s%n", command, body.path("tenant").asText(), body.path("name").asText(),
                    body.path("version").asInt(), body.path("nodes").valueStream().map(JsonNode::asText).toList());
        }
    }

    /** One answer of the admin API: its status and its JSON body. */
    record Reply(int status, JsonNode body) {
        String errorMessage() {
            JsonNode message = body.path("error").path("message");
            return message.isMissingNode() ? body.toString() : message.asText();
        }
    }

    /** The admin API over HTTP with the admin key. */
    private record Client(URI base, String key) {
        private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

        Reply call(String method, String path, String body) throws Exception {
            HttpRequest request = HttpRequest.newBuilder(URI.create(base + path))
                    .timeout(Duration.ofSeconds(90))
                    .header("Authorization", "Bearer " + key)
                    .header("Content-Type", "application/json")
                    .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
                    .build();
            HttpResponse<String> response;
            try {
                response = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
            } catch (java.net.ConnectException e) {
                throw new IllegalStateException("no router answers at " + base + " (--url)");
            }
            JsonNode json;
            try {
                json = response.body().isBlank() ? JSON.createObjectNode() : JSON.readTree(response.body());
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                json = JSON.createObjectNode().put("raw", response.body());
            }
            return new Reply(response.statusCode(), json);
        }
    }
}
