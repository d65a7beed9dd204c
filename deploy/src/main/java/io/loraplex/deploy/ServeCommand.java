package io.loraplex.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.cli.Flags;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code loraplex serve}: one JVM with every role on the embedded default — a generated tiny model
 * (or {@code --model DIR}), a GPU node on the CPU backend, the tenants' shards, the HTTP API, and
 * two demo tenants with keys and adapters, printed with a ready {@code curl}.
 */
final class ServeCommand {

    private ServeCommand() {
    }

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
                .flag("no-demo", "do not create the demo tenants");
    }

    static int run(Flags f, PrintStream out, PrintStream err) throws Exception {
        Path data = Path.of(f.required("data")).toAbsolutePath();
        if (f.has("config") && !Files.exists(Path.of(f.required("config")))) {
            throw f.bad("--config: file not found: " + f.required("config"));
        }
        if (f.has("model") && !Files.exists(Path.of(f.required("model")).resolve("config.json"))) {
            throw f.bad("--model: " + f.required("model") + " has no config.json (a Hugging Face model directory is expected)");
        }
        Map<String, Object> overrides = new HashMap<>();
        overrides.put("loraplex.router.host", f.required("host"));
        overrides.put("loraplex.router.port", f.integer("port"));
        if (f.has("threads")) {
            overrides.put("loraplex.threads", f.integer("threads"));
        }
        if (f.has("model-id")) {
            overrides.put("loraplex.node.base-model-id", f.required("model-id"));
        }
        Config config = ConfigFactory.parseMap(overrides)
                .withFallback(f.has("config") ? ConfigFactory.parseFile(Path.of(f.required("config")).toFile()) : ConfigFactory.empty());
        EmbeddedServer server = EmbeddedServer.start(data, f.has("model") ? Path.of(f.required("model")) : null, config,
                !f.has("no-demo"), out);
        banner(out, server);
        server.system().getWhenTerminated().toCompletableFuture().join();
        return 0;
    }

    private static void banner(PrintStream out, EmbeddedServer server) {
        ServedModel served = server.model();
        List<DemoTenants.Demo> demos = server.demos();
        String url = server.url();
        out.printf("%nloraplex is serving on %s%n", url);
        out.printf("  base model: %s (%s, %.2fM parameters, %s backend)%n", served.id(),
                served.model().config().architecture().hfClass(), served.model().config().parameterCount() / 1e6, server.backendName());
        if (!demos.isEmpty()) {
            out.println("  demo tenants:");
            for (DemoTenants.Demo d : demos) {
                out.printf("    %-8s key %s   adapter \"%s\"%n", d.tenant(), d.apiKey(), d.adapter().name());
            }
            for (DemoTenants.Demo d : demos) {
                out.printf("%n  curl %s/v1/chat/completions \\%n    -H \"Authorization: Bearer %s\" -H \"Content-Type: application/json\" \\%n"
                                + "    -d '{\"model\": \"%s\", \"temperature\": 0, \"messages\": [{\"role\": \"user\", \"content\": \"%s\"}]}'%n",
                        url, d.apiKey(), d.adapter().name(), DemoTenants.QUESTION);
            }
        }
        out.println();
        out.println("  Ctrl-C stops it gracefully (in-flight requests finish first).");
        out.flush();
    }
}
