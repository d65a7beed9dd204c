package io.loraplex.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.Roles;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.cli.Flags;
import io.loraplex.engine.model.WeightFormat;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.Address;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * {@code loraplex serve}: one JVM with every role on the embedded default — a generated tiny model
 * (or {@code --model DIR}), a GPU node on the CPU backend, the tenants' shards, the HTTP API, and
 * two demo tenants with keys and adapters, printed with a ready {@code curl}.
 */
final class ServeCommand {

    private ServeCommand() {
    }

    static final int ROUTER_CLUSTER_PORT = 25520;

    static Flags flags() {
        return new Flags("serve", "[--model DIR] [flags]")
                .option("model", null, "a Hugging Face model directory to serve (default: a generated tiny model in the data dir)")
                .option("model-id", null, "the name clients use for the base model (default: the directory's name, or "
                        + EmbeddedServer.DEMO_MODEL_ID + ")")
                .option("data", "data", "the data directory (generated model, adapters, demo keys)")
                .option("host", "127.0.0.1", "HTTP interface to bind")
                .option("port", "8080", "HTTP port (0: any free port)")
                .option("config", null, "a HOCON file overriding the embedded configuration")
                .option("threads", null, "CPU backend threads (default: all processors)")
                .option("weights", null, "dtype of the base projections: f32, bf16, int8 or int4, converted at load "
                        + "(default: the checkpoint's own)")
                .flag("no-demo", "do not create the demo tenants")
                // the cluster: one JVM per role, or both in one (the default)
                .option("roles", "router,gpu-node", "this JVM's roles: router (HTTP API, tenants, placement), gpu-node (a model "
                        + "and its engine), or both")
                .option("node-id", null, "this GPU node's id, as operators name it (default: host:port of its cluster address)")
                .option("cluster-host", null, "the address other JVMs reach this one at (default: 127.0.0.1)")
                .option("cluster-port", null, "the cluster (Artery) port (default: " + ROUTER_CLUSTER_PORT
                        + " for --roles router, else any free port)")
                .option("seed-nodes", null, "host:port,... of the routers to join (default: none, this JVM forms a cluster)")
                .option("management-port", null, "serve Pekko Management (/alive, /ready) on this port (default: off)")
                .option("bootstrap", null, "kubernetes: form the cluster through the Kubernetes API (Cluster Bootstrap)")
                .option("journal", null, "where tenants' and adapters' events are kept: embedded (a log under --data) or cassandra")
                .option("cassandra", null, "host:port of Cassandra for --journal cassandra (default: 127.0.0.1:9042)")
                .flag("fast-failure", "notice and down a dead JVM within seconds (local clusters and tests; not for real networks)");
    }

    static int run(Flags f, PrintStream out, PrintStream err) throws Exception {
        Path data = Path.of(f.required("data")).toAbsolutePath();
        if (f.has("config") && !Files.exists(Path.of(f.required("config")))) {
            throw f.bad("--config: file not found: " + f.required("config"));
        }
        if (f.has("model") && !Files.exists(Path.of(f.required("model")).resolve("config.json"))) {
            throw f.bad("--model: " + f.required("model") + " has no config.json (a Hugging Face model directory is expected)");
        }
        Map<String, Object> overrides = clusterOverrides(f);
        overrides.put("loraplex.router.host", f.required("host"));
        overrides.put("loraplex.router.port", f.integer("port"));
        if (f.has("threads")) {
            overrides.put("loraplex.threads", f.integer("threads"));
        }
        if (f.has("model-id")) {
            overrides.put("loraplex.node.base-model-id", f.required("model-id"));
        }
        if (f.has("weights")) {
            overrides.put("loraplex.weights", weights(f).flagName());
        }
        Config config = ConfigFactory.parseMap(overrides)
                .withFallback(f.has("config") ? ConfigFactory.parseFile(Path.of(f.required("config")).toFile()) : ConfigFactory.empty());
        EmbeddedServer server = EmbeddedServer.start(data, f.has("model") ? Path.of(f.required("model")) : null, config,
                !f.has("no-demo"), out);
        if (server.url() == null) {
            Address self = Cluster.get(server.system()).selfMember().address();
            out.print(String.format("loraplex GPU node %s is serving %s in the cluster at %s%n",
                    EmbeddedServer.nodeId(f.has("node-id") ? f.required("node-id") : "", self), server.model().id(), self));
            out.flush();
        } else {
            banner(out, server);
        }
        server.system().getWhenTerminated().toCompletableFuture().join();
        return 0;
    }

    /** {@code --weights} as a format; an unknown name is refused naming it and the allowed ones. */
    static WeightFormat weights(Flags f) {
        try {
            return WeightFormat.parse(f.required("weights"));
        } catch (IllegalArgumentException e) {
            throw f.bad("--weights: " + e.getMessage());
        }
    }

    /** The configuration the cluster flags stand for; refuses a bad value with the flag's name. */
    static Map<String, Object> clusterOverrides(Flags f) {
        Map<String, Object> o = new HashMap<>();
        List<String> roles = List.of(f.required("roles").split(",")).stream().map(String::strip).filter(r -> !r.isEmpty()).toList();
        if (roles.isEmpty() || !List.of(Roles.ROUTER, Roles.GPU_NODE).containsAll(roles)) {
            throw f.bad("--roles: router, gpu-node or router,gpu-node; got " + f.required("roles"));
        }
        o.put("pekko.cluster.roles", roles);
        if (f.has("node-id")) {
            if (!f.required("node-id").matches("[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}")) {
                throw f.bad("--node-id: letters, digits, '_', '.', '-' (at most 64); got " + f.required("node-id"));
            }
            o.put("loraplex.node.id", f.required("node-id"));
        }
        if (f.has("cluster-host")) {
            o.put("pekko.remote.artery.canonical.hostname", f.required("cluster-host"));
        }
        if (f.has("cluster-port")) {
            o.put("pekko.remote.artery.canonical.port", port(f, "cluster-port", f.required("cluster-port")));
        } else if (roles.equals(List.of(Roles.ROUTER))) {
            // GPU nodes need a port to join: a router alone takes Pekko's conventional one
            o.put("pekko.remote.artery.canonical.port", ROUTER_CLUSTER_PORT);
        }
        if (f.has("seed-nodes")) {
            List<String> seeds = new java.util.ArrayList<>();
            for (String s : f.required("seed-nodes").split(",")) {
                String[] hp = hostPort(f, "seed-nodes", s.strip());
                seeds.add("pekko://loraplex@" + hp[0] + ":" + hp[1]);
            }
            o.put("pekko.cluster.seed-nodes", seeds);
        }
        if (f.has("management-port")) {
            o.put("loraplex.management.port", port(f, "management-port", f.required("management-port")));
        }
        if (f.has("bootstrap")) {
            if (!f.required("bootstrap").equals("kubernetes")) {
                throw f.bad("--bootstrap: only kubernetes is known; got " + f.required("bootstrap"));
            }
            o.put("loraplex.management.bootstrap", "kubernetes");
        }
        if (f.has("journal")) {
            if (f.required("journal").equals("h2")) {
                throw f.bad("--journal h2 is gone: H2 lost acknowledged writes when killed under load. Use --journal embedded (the"
                        + " default); an H2 journal in --data is moved into it at the first start");
            }
            if (!List.of("embedded", "cassandra").contains(f.required("journal"))) {
                throw f.bad("--journal: embedded or cassandra; got " + f.required("journal"));
            }
            o.put("loraplex.journal", f.required("journal"));
        }
        if (f.has("cassandra")) {
            String[] hp = hostPort(f, "cassandra", f.required("cassandra"));
            o.put("loraplex.cassandra.host", hp[0]);
            o.put("loraplex.cassandra.port", Integer.parseInt(hp[1]));
        }
        if (f.has("fast-failure")) {
            o.put("loraplex.cluster.fast-failure", true);
        }
        return o;
    }

    private static String[] hostPort(Flags f, String flag, String value) {
        int colon = value.lastIndexOf(':');
        if (colon <= 0 || colon == value.length() - 1) {
            throw f.bad("--" + flag + ": host:port expected; got " + value);
        }
        return new String[] {value.substring(0, colon), String.valueOf(port(f, flag, value.substring(colon + 1)))};
    }

    private static int port(Flags f, String flag, String value) {
        try {
            int p = Integer.parseInt(value);
            if (p >= 0 && p <= 65535) {
                return p;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw f.bad("--" + flag + ": a port 0-65535 expected; got " + value);
    }

    /** Written in one piece: the log lines other threads print meanwhile go before or after it, never inside a line. */
    private static void banner(PrintStream console, EmbeddedServer server) {
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        try (PrintStream out = new PrintStream(text, false, StandardCharsets.UTF_8)) {
            banner(out, server, server.url());
        }
        console.print(text.toString(StandardCharsets.UTF_8));
        console.flush();
    }

    private static void banner(PrintStream out, EmbeddedServer server, String url) {
        ServedModel served = server.model();
        List<DemoTenants.Demo> demos = server.demos();
        out.printf("%nloraplex is serving on %s%n", url);
        if (served != null) {
            out.printf("  base model: %s (%s, %.2fM parameters, %s backend)%n", served.id(),
                    served.model().config().architecture().hfClass(), served.model().config().parameterCount() / 1e6,
                    server.backendName());
        } else {
            Address self = Cluster.get(server.system()).selfMember().address();
            out.printf("  router of the cluster at %s; GPU nodes join it with --seed-nodes %s%n", self, EmbeddedServer.hostPort(self));
        }
        if (!demos.isEmpty()) {
            // keys are shown at the start that made them, like the admin key; later starts say where they are kept
            boolean shown = demos.stream().anyMatch(DemoTenants.Demo::newKey);
            Path keys = server.dataDir().resolve(DemoTenants.KEYS_FILE);
            out.println(shown ? "  demo tenants (keys shown this once; kept in " + keys + ", readable by you alone):"
                    : "  demo tenants (keys in " + keys + ", readable by you alone):");
            for (DemoTenants.Demo d : demos) {
                out.printf("    %-8s %s   adapter \"%s\"%n", d.tenant(), shown ? "key " + d.apiKey() : "", d.adapter().name());
            }
            for (DemoTenants.Demo d : demos) {
                String key = shown ? d.apiKey() : "$(jq -r ." + d.tenant().value() + " " + keys + ")";
                out.printf("%n  curl %s/v1/chat/completions \\%n    -H \"Authorization: Bearer %s\" -H \"Content-Type: application/json\" \\%n"
                                + "    -d '{\"model\": \"%s\", \"temperature\": 0, \"messages\": [{\"role\": \"user\", \"content\": \"%s\"}]}'%n",
                        url, key, d.adapter().name(), DemoTenants.QUESTION);
            }
        }
        out.println();
        out.println("  Ctrl-C stops it gracefully (in-flight requests finish first).");
    }
}
