package io.loraplex.simulations.fleet.replay;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The replay from a shell, against any loraplex URL:
 * <pre>
 * java ... ReplayMain generate --out trace.csv [--seed 1]                  # the validation trace (TraceSpec.validation)
 * java ... ReplayMain replay --url http://127.0.0.1:8080 --model DIR --trace trace.csv --out results.csv [--work DIR]
 * </pre>
 * {@code replay} takes the admin key from {@code LORAPLEX_ADMIN_KEY}, writes the result file and, beside
 * it, {@code <out>.summary}, and prints the summary.
 */
public final class ReplayMain {

    private ReplayMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0 || (!args[0].equals("generate") && !args[0].equals("replay")) || args.length % 2 == 0) {
            throw usage("the first argument is generate or replay, followed by --flag value pairs");
        }
        Map<String, String> flags = new HashMap<>();
        for (int i = 1; i < args.length; i += 2) {
            if (!args[i].startsWith("--")) {
                throw usage("expected a --flag, got '" + args[i] + "'");
            }
            flags.put(args[i].substring(2), args[i + 1]);
        }
        Path out = Path.of(required(flags, "out"));
        if (args[0].equals("generate")) {
            TraceGenerator.write(TraceSpec.validation(Long.parseLong(flags.getOrDefault("seed", "1"))), out);
            System.out.println("trace written to " + out);
            return;
        }
        String adminKey = System.getenv("LORAPLEX_ADMIN_KEY");
        if (adminKey == null || adminKey.isBlank()) {
            throw usage("set LORAPLEX_ADMIN_KEY to the server's admin key");
        }
        ReplayTarget target = new ReplayTarget(URI.create(required(flags, "url")), adminKey, Path.of(required(flags, "model")));
        Path work = flags.containsKey("work") ? Path.of(flags.get("work")) : Files.createTempDirectory("loraplex-replay");
        ReplaySummary summary = new TraceReplayer(target).replay(Path.of(required(flags, "trace")), out, work);
        Files.writeString(out.resolveSibling(out.getFileName() + ".summary"), summary.describe());
        System.out.print(summary.describe());
    }

    private static String required(Map<String, String> flags, String name) {
        String v = flags.get(name);
        if (v == null) {
            throw usage("--" + name + " is required");
        }
        return v;
    }

    private static IllegalArgumentException usage(String problem) {
        return new IllegalArgumentException(problem + "; usage: ReplayMain generate --out FILE [--seed N] | ReplayMain replay "
                + "--url URL --model DIR --trace FILE --out FILE [--work DIR]");
    }
}
