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
        err.println("loraplex " + command + ": not built yet");
        return 1;
    }
}
