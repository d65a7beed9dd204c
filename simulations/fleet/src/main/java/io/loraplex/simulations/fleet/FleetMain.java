package io.loraplex.simulations.fleet;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.loraplex.simulations.fleet.replay.TraceFiles;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.Consumer;

/**
 * The simulator's command line ({@code simulations/fleet/run.sh}). Flags override the config file,
 * which overrides {@code fleet.conf}:
 * <pre>
 *   --config FILE        a HOCON or JSON file of fleet.* settings
 *   --nodes N --duration 1h --policy rendezvous-bounded|random|least-loaded --load-factor X --load-slack N
 *   --prefetch on|off --cost-model h100|cpu --trace FILE --name NAME --seed N
 *   --set fleet.some.key=value   any other setting
 *   --out DIR            where the files go (default target/fleet)
 *   --no-results         no per-request result CSV (an hour of 1,000 nodes is millions of lines)
 *   --sweep              the policy comparison: rendezvous-bounded at three load-factor/load-slack pairs, random,
 *                        least-loaded, rendezvous-bounded without session prefetch, and with session spill (a session's
 *                        turn leaves its node when that is over the load bound); one summary CSV and HTML
 * </pre>
 */
public final class FleetMain {

    private FleetMain() {
    }

    /** The sweep's variants: name suffix and the settings each changes. */
    private record Variant(String suffix, String policy, double loadFactor, int loadSlack, boolean prefetch, boolean spill) {
    }

    private static final List<Variant> SWEEP = List.of(
            new Variant("rv-1.25-4", "rendezvous-bounded", 1.25, 4, true, false),
            new Variant("rv-1.1-1", "rendezvous-bounded", 1.1, 1, true, false),
            new Variant("rv-2.0-16", "rendezvous-bounded", 2.0, 16, true, false),
            new Variant("random", "random", 1.25, 4, true, false),
            new Variant("least-loaded", "least-loaded", 1.25, 4, true, false),
            new Variant("rv-1.25-4-noprefetch", "rendezvous-bounded", 1.25, 4, false, false),
            new Variant("rv-1.25-4-spill", "rendezvous-bounded", 1.25, 4, true, true));

    private static final String USAGE = """
            usage: simulations/fleet/run.sh [flags]   (settings and their defaults: fleet.conf)
              --config FILE        a HOCON or JSON file of fleet.* settings
              --nodes N --duration 1h --policy rendezvous-bounded|random|least-loaded --load-factor X --load-slack N
              --prefetch on|off --cost-model h100|cpu --trace FILE --name NAME --seed N
              --set fleet.some.key=value   any other setting
              --out DIR            where the files go (default target/fleet)
              --no-results         no per-request result CSV
              --sweep              the policy comparison (rendezvous-bounded at three load-factor/load-slack pairs, random,
                                   least-loaded, without session prefetch, with session spill)
            """;

    /** Runs the simulator; a wrong flag or setting is one line on stderr naming it, and exit status 2. */
    public static void main(String[] args) throws IOException {
        int status = command(args, System.out, System.err);
        if (status != 0) {
            System.exit(status);
        }
    }

    /** The command's work: 0 when it ran (or printed its usage), 2 with one line naming a wrong flag or setting. */
    static int command(String[] args, java.io.PrintStream out, java.io.PrintStream err) throws IOException {
        if (List.of(args).contains("--help") || List.of(args).contains("-h")) {
            out.print(USAGE);
            return 0;
        }
        try {
            run(args);
            return 0;
        } catch (IllegalArgumentException | com.typesafe.config.ConfigException e) {
            // NumberFormatException is an IllegalArgumentException: "--nodes many" is named by its value
            err.println("fleet: " + (e instanceof NumberFormatException ? "not a number: " : "") + e.getMessage());
            err.print(USAGE);
            return 2;
        }
    }

    private static void run(String[] args) throws IOException {
        Config overrides = ConfigFactory.empty();
        Path out = Path.of("target/fleet");
        boolean results = true;
        boolean sweep = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--config" -> overrides = ConfigFactory.parseFile(Path.of(value(args, ++i, a)).toFile()).withFallback(overrides);
                case "--nodes" -> overrides = set(overrides, "fleet.nodes", Integer.parseInt(value(args, ++i, a)));
                case "--duration" -> overrides = set(overrides, "fleet.duration", value(args, ++i, a));
                case "--policy" -> overrides = set(overrides, "fleet.placement.policy", value(args, ++i, a));
                case "--load-factor" -> overrides = set(overrides, "fleet.placement.load-factor", Double.parseDouble(value(args, ++i, a)));
                case "--load-slack" -> overrides = set(overrides, "fleet.placement.load-slack", Integer.parseInt(value(args, ++i, a)));
                case "--prefetch" -> overrides = set(overrides, "fleet.placement.session-prefetch", onOff(value(args, ++i, a)));
                case "--cost-model" -> overrides = set(overrides, "fleet.cost-model", value(args, ++i, a));
                case "--trace" -> overrides = set(overrides, "fleet.traffic.trace", value(args, ++i, a));
                case "--name" -> overrides = set(overrides, "fleet.name", value(args, ++i, a));
                case "--seed" -> overrides = set(overrides, "fleet.seed", Long.parseLong(value(args, ++i, a)));
                case "--set" -> overrides = ConfigFactory.parseString(value(args, ++i, a)).withFallback(overrides);
                case "--out" -> out = Path.of(value(args, ++i, a));
                case "--no-results" -> results = false;
                case "--sweep" -> sweep = true;
                default -> throw new IllegalArgumentException("unknown flag '" + a + "'");
            }
        }
        Files.createDirectories(out);
        FleetConfig base = FleetConfig.create(overrides);
        List<FleetSimulator.Result> runs = new ArrayList<>();
        if (sweep) {
            for (Variant v : SWEEP) {
                Config c = set(set(set(set(set(overrides, "fleet.placement.policy", v.policy()), "fleet.placement.load-factor",
                        v.loadFactor()), "fleet.placement.load-slack", v.loadSlack()), "fleet.placement.session-prefetch", v.prefetch()),
                        "fleet.name", base.name() + "-" + v.suffix());
                c = set(c, "fleet.placement.session-spill", v.spill());
                runs.add(runOne(FleetConfig.create(c), out, results));
            }
            Report.writeSummaries(out.resolve(base.name() + ".summary.csv"), runs.stream().map(FleetSimulator.Result::summary).toList());
            Report.writeHtml(out.resolve(base.name() + ".html"), "fleet simulator: " + base.nodes() + " nodes, " + base.tenants()
                    + " tenants, " + base.tenants() * base.adaptersPerTenant() + " adapters, " + base.costModel().name(), runs);
        } else {
            runs.add(runOne(base, out, results));
            Report.writeHtml(out.resolve(base.name() + ".html"), "fleet simulator: " + base.name(), runs);
        }
        System.out.println("wrote " + out.toAbsolutePath());
    }

    private static FleetSimulator.Result runOne(FleetConfig config, Path out, boolean keepResults) throws IOException {
        Iterator<TraceRequest> trace = config.traffic().trace().isEmpty() ? new Traffic(config)
                : TraceFiles.streamTrace(Path.of(config.traffic().trace()));
        FleetSimulator.Result result;
        if (keepResults) {
            try (BufferedWriter w = Files.newBufferedWriter(out.resolve(config.name() + ".results.csv"), StandardCharsets.UTF_8)) {
                w.write(TraceFiles.RESULT_HEADER + "\n");
                Consumer<RequestResult> sink = r -> {
                    try {
                        w.write(r.csv());
                        w.write('\n');
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                };
                result = FleetSimulator.run(config, trace, sink);
            }
        } else {
            result = FleetSimulator.run(config, trace, r -> { });
        }
        Report.writeSummaries(out.resolve(config.name() + ".summary.csv"), List.of(result.summary()));
        System.out.println(result.summary().brief());
        return result;
    }

    private static Config set(Config c, String path, Object value) {
        return c.withValue(path, ConfigValueFactory.fromAnyRef(value));
    }

    private static boolean onOff(String v) {
        return switch (v) {
            case "on", "true" -> true;
            case "off", "false" -> false;
            default -> throw new IllegalArgumentException("--prefetch takes on or off, was '" + v + "'");
        };
    }

    private static String value(String[] args, int i, String flag) {
        if (i >= args.length) {
            throw new IllegalArgumentException(flag + " needs a value");
        }
        return args[i];
    }
}
