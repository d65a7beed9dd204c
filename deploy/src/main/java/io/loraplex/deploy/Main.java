package io.loraplex.deploy;

import io.loraplex.engine.cli.EngineCli;
import java.io.PrintStream;
import java.util.Arrays;

/** The one {@code main} of the loraplex launcher: picks a subcommand and runs it. */
public final class Main {

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0 || args[0].equals("help") || args[0].equals("--help") || args[0].equals("-h")) {
            usage(out);
            return args.length == 0 ? 2 : 0;
        }
        String command = args[0];
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        if (EngineCli.COMMANDS.containsKey(command)) {
            return EngineCli.run(command, rest, out, err);
        }
        if (command.equals("serve")) {
            return EngineCli.runCommand(ServeCommand.flags(), rest, out, err, f -> ServeCommand.run(f, out, err));
        }
        if (command.equals("ctl")) {
            return EngineCli.runCommand(CtlCommand.flags(), rest, out, err, f -> CtlCommand.run(f, out, err));
        }
        if (command.equals("bench-http")) {
            return EngineCli.runCommand(BenchHttpCommand.flags(), rest, out, err, f -> BenchHttpCommand.run(f, out, err));
        }
        if (command.equals("bench-upload")) {
            return EngineCli.runCommand(BenchUploadCommand.flags(), rest, out, err, f -> BenchUploadCommand.run(f, out, err));
        }
        err.println("loraplex: unknown command '" + command + "'. Run 'loraplex help' for the list.");
        return 2;
    }

    private static void usage(PrintStream out) {
        out.println("usage: loraplex <command> [flags]   (loraplex <command> --help for its flags)");
        out.println();
        out.println("commands:");
        out.printf("  %-12s %s%n", "serve", "start the product (one JVM with every role by default; --roles for a cluster)");
        out.printf("  %-12s %s%n", "ctl", "operate a cluster: list nodes, drain/undrain, rebalance, pin/unpin/evict adapters");
        out.printf("  %-12s %s%n", "bench-http", "requests/s and time to first token of streaming clients against the embedded server");
        out.printf("  %-12s %s%n", "bench-upload", "upload-to-ready latency of a large adapter through the embedded server's lifecycle");
        EngineCli.COMMANDS.forEach((name, summary) -> out.printf("  %-12s %s%n", name, summary));
    }
}
