package io.loraplex.engine.cli;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Map;

/** The engine's commands of the launcher; they need nothing beyond this module. */
public final class EngineCli {

    /** Command name to one-line summary, in the order {@code loraplex help} lists them. */
    public static final Map<String, String> COMMANDS = new LinkedHashMap<>();

    static {
        COMMANDS.put("tiny-model", "write a small random model with a real tokenizer (deterministic by seed)");
        COMMANDS.put("generate", "generate text from a prompt or chat messages, optionally with an adapter");
        COMMANDS.put("logits", "print the last-position logits of a batch of token sequences as JSON");
        COMMANDS.put("bench", "measure prompt and decode tokens/s for one request");
    }

    private EngineCli() {
    }

    public static int run(String command, String[] args, PrintStream out, PrintStream err) {
        Flags flags = switch (command) {
            case "bench" -> BenchCommand.flags();
            case "logits" -> LogitsCommand.flags();
            case "generate" -> GenerateCommand.flags();
            case "tiny-model" -> TinyModelCommand.flags();
            default -> null;
        };
        if (flags == null) {
            err.println("loraplex: unknown command '" + command + "'");
            return 2;
        }
        try {
            flags.parse(args);
            if (flags.helpRequested()) {
                out.print(flags.usage());
                return 0;
            }
            return switch (command) {
                case "bench" -> BenchCommand.run(flags, out, err);
                case "logits" -> LogitsCommand.run(flags, out, err);
                case "generate" -> GenerateCommand.run(flags, out, err);
                case "tiny-model" -> TinyModelCommand.run(flags, out, err);
                default -> 1;
            };
        } catch (Flags.UsageException e) {
            err.println(e.getMessage());
            return 2;
        } catch (Exception e) {
            err.println("loraplex " + command + ": " + e.getMessage());
            return 1;
        }
    }
}
