package io.loraplex.engine.cli;

/**
 * The main of the packaged engine ({@code loraplex package-engine}'s {@code bin/loraplex-engine}):
 * the engine's commands alone, as the full launcher runs them.
 */
public final class EngineMain {

    private EngineMain() {
    }

    public static void main(String[] args) {
        if (args.length == 0 || args[0].equals("help") || args[0].equals("--help")) {
            System.out.println("usage: loraplex-engine <command> [flags]   (<command> --help for its flags)");
            EngineCli.COMMANDS.forEach((name, summary) -> System.out.printf("  %-15s %s%n", name, summary));
            System.exit(args.length == 0 ? 2 : 0);
        }
        String[] rest = java.util.Arrays.copyOfRange(args, 1, args.length);
        try {
            System.exit(EngineCli.run(args[0], rest, System.out, System.err));
        } catch (NoClassDefFoundError e) {
            if (e.getMessage() != null && e.getMessage().startsWith("java/beans/")) {
                // the package leaves java.desktop out to stay under its size limit (PackageEngineCommand.MODULES)
                System.err.println("loraplex-engine: '" + args[0] + "' loads the chat template, whose Jinja engine needs "
                        + "java.desktop (java.beans), which this packaged runtime leaves out; run it from the full "
                        + "distribution (bin/loraplex). The package runs tiny-model, logits and bench.");
                System.exit(1);
            }
            throw e;
        }
    }
}
