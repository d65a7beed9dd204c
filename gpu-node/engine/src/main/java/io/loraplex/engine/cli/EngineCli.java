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
        COMMANDS.put("train", "fine-tune a LoRA adapter on a JSONL dataset and write it as a PEFT directory");
        COMMANDS.put("bench", "measure prompt and decode tokens/s for one request");
        COMMANDS.put("gpu-check", "on a GPU: each CUDA kernel against the host reference, the CUDA backend against the CPU, decode bench");
        COMMANDS.put("package-engine", "write the engine alone with a jlinked Java runtime, for machines without Java");
    }

    private EngineCli() {
    }

    /** A command body that may throw; usage errors and failures become exit codes 2 and 1. */
    @FunctionalInterface
    public interface Body {
        int run(Flags flags) throws Exception;
    }

    /** Parses {@code args} into {@code flags} and runs {@code body} with the launcher's error handling. */
    public static int runCommand(Flags flags, String[] args, PrintStream out, PrintStream err, Body body) {
        try {
            flags.parse(args);
            if (flags.helpRequested()) {
                out.print(flags.usage());
                return 0;
            }
            return body.run(flags);
        } catch (Flags.UsageException e) {
            err.println(e.getMessage());
            return 2;
        } catch (Exception e) {
            err.println("loraplex: " + e.getMessage());
            return 1;
        }
    }

    public static int run(String command, String[] args, PrintStream out, PrintStream err) {
        Flags flags = switch (command) {
            case "bench" -> BenchCommand.flags();
            case "logits" -> LogitsCommand.flags();
            case "generate" -> GenerateCommand.flags();
            case "tiny-model" -> TinyModelCommand.flags();
            case "train" -> TrainCommand.flags();
            case "package-engine" -> PackageEngineCommand.flags();
            case "gpu-check" -> GpuCheckCommand.flags();
            default -> null;
        };
        if (flags == null) {
            err.println("loraplex: unknown command '" + command + "'");
            return 2;
        }
        return runCommand(flags, args, out, err, f -> switch (command) {
            case "bench" -> BenchCommand.run(f, out, err);
            case "logits" -> LogitsCommand.run(f, out, err);
            case "generate" -> GenerateCommand.run(f, out, err);
            case "tiny-model" -> TinyModelCommand.run(f, out, err);
            case "train" -> TrainCommand.run(f, out, err);
            case "package-engine" -> PackageEngineCommand.run(f, out, err);
            case "gpu-check" -> GpuCheckCommand.run(f, out, err);
            default -> 2;
        });
    }
}
