package io.loraplex.engine.cli;

import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.TinyModel;
import io.loraplex.engine.tokenizer.ChatStyle;
import io.loraplex.engine.tokenizer.TinyTokenizer;
import io.loraplex.engine.tokenizer.TokenizerKind;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;

/**
 * {@code loraplex tiny-model --out DIR --seed N [shape flags]}: a random model in Hugging Face's
 * layout with a real small tokenizer (learned merges, special tokens, a chat template) and a
 * generation config, byte-identical for the same flags and seed.
 */
final class TinyModelCommand {

    private TinyModelCommand() {
    }

    static Flags flags() {
        Flags f = new Flags("tiny-model", "--out DIR [--seed N] [--shape NAME | shape flags]")
                .option("out", null, "directory to write (created; existing model files are replaced)")
                .option("seed", "0", "random seed of the weights and tokenizer")
                .option("tokenizer", null, "byte-level or byte-fallback (default: byte-fallback for mistral, phi3 and gemma, else byte-level)")
                .option("chat-style", null, "llama3, chatml, qwen3, llama2, phi3 or gemma (default: llama3 for llama, chatml for qwen2, "
                        + "qwen3 for qwen3, llama2 for mistral, phi3 for phi3, gemma for gemma2 and gemma3)")
                .option("shards", "1", "number of safetensors files (more than 1 writes an index)");
        return ModelShapeFlags.declare(f, 128, 4, 4, 2, 384, 1024, "f32");
    }

    static int run(Flags f, PrintStream out, PrintStream err) throws Exception {
        Path dir = Path.of(f.required("out"));
        TokenizerKind kind = f.has("tokenizer") ? parseKind(f) : null;
        ChatStyle style = f.has("chat-style") ? parseStyle(f) : null;
        TinyModel.Written written;
        long t0 = System.nanoTime();
        try {
            written = TinyModel.write(dir, ModelShapeFlags.spec(f, kind, style, f.integer("shards"), f.longValue("seed")));
        } catch (IllegalArgumentException e) {
            throw f.bad(e.getMessage());
        }
        ModelConfig cfg = written.config();
        TinyTokenizer.Written tok = written.tokenizer();
        double seconds = (System.nanoTime() - t0) / 1e9;
        long bytes = 0;
        try (var files = java.nio.file.Files.list(dir)) {
            for (Path p : files.filter(p -> p.getFileName().toString().endsWith(".safetensors")).toList()) {
                bytes += java.nio.file.Files.size(p);
            }
        }
        out.printf("wrote %s: %s, %.2fM parameters (%s), hidden %d, %d layers, %d heads / %d KV heads, vocab %d "
                        + "(tokenizer %d)%n",
                dir, cfg.architecture().hfClass(), cfg.parameterCount() / 1e6, cfg.torchDtype().torchName(), cfg.hiddenSize(),
                cfg.numLayers(), cfg.numHeads(), cfg.numKvHeads(), cfg.vocabSize(), tok.vocabSize());
        out.printf("weights: %.2f GB in %.1f s%n", bytes / 1e9, seconds);
        return 0;
    }

    private static TokenizerKind parseKind(Flags f) {
        return switch (f.required("tokenizer")) {
            case "byte-level" -> TokenizerKind.BYTE_LEVEL;
            case "byte-fallback" -> TokenizerKind.BYTE_FALLBACK;
            default -> throw f.bad("--tokenizer must be byte-level or byte-fallback, got '" + f.required("tokenizer") + "'");
        };
    }

    private static ChatStyle parseStyle(Flags f) {
        try {
            return ChatStyle.valueOf(f.required("chat-style").toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw f.bad("--chat-style must be llama3, chatml, qwen3, llama2, phi3 or gemma, got '" + f.required("chat-style") + "'");
        }
    }
}
