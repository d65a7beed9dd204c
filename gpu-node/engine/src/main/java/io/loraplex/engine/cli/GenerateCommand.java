package io.loraplex.engine.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.engine.Generator;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.batch.OutputProcessor;
import io.loraplex.engine.lora.AdapterException;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.sample.SampledToken;
import io.loraplex.engine.sample.SamplingParams;
import io.loraplex.engine.sample.TokenLogprob;
import io.loraplex.engine.tokenizer.ChatMessage;
import io.loraplex.engine.tokenizer.ChatTemplate;
import io.loraplex.engine.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@code loraplex generate --model DIR [--adapter DIR] (--prompt TEXT | --messages FILE)}: streams
 * the generated text to stdout; timings and the finish reason go to stderr.
 */
final class GenerateCommand {

    private GenerateCommand() {
    }

    static Flags flags() {
        Flags f = new Flags("generate", "--model DIR [--adapter DIR] (--prompt TEXT | --messages FILE) [sampling flags]")
                .option("model", null, "model directory")
                .option("adapter", null, "PEFT adapter directory")
                .option("prompt", null, "prompt text, used as is (no chat template)")
                .option("messages", null, "JSON file of chat messages: [{\"role\", \"content\"}, ...] or {\"messages\": [...]}; "
                        + "rendered with the model's chat template")
                .option("backend", Backends.CPU, "backend: cpu or reference")
                .option("threads", Integer.toString(Backends.defaultThreads()), "CPU threads")
                .option("max-lora-rank", "64", "largest adapter rank accepted")
                .flag("quiet", "print only the generated text (no statistics on stderr)");
        return SamplingFlags.declare(f);
    }

    static int run(Flags f, PrintStream out, PrintStream err) throws Exception {
        Path modelDir = Path.of(f.required("model"));
        if (f.has("prompt") == f.has("messages")) {
            throw f.bad("give exactly one of --prompt TEXT and --messages FILE");
        }
        try (BaseModel model = BaseModel.load(modelDir);
                Backend backend = Backends.create(f.required("backend"), model, f.integer("threads"))) {
            Tokenizer tokenizer = Tokenizer.load(modelDir);
            SamplingParams params = SamplingFlags.params(f, modelDir);
            LoraAdapter adapter = null;
            if (f.has("adapter")) {
                try {
                    adapter = new AdapterLoader(model.config(), f.integer("max-lora-rank")).load(f.required("adapter"),
                            Path.of(f.required("adapter")));
                } catch (AdapterException e) {
                    throw f.bad("adapter refused: " + e.getMessage());
                }
            }
            int[] prompt;
            if (f.has("prompt")) {
                prompt = tokenizer.encode(f.required("prompt"), true);
            } else {
                Optional<ChatTemplate> template = ChatTemplate.load(modelDir);
                if (template.isEmpty()) {
                    throw f.bad(modelDir + " has no chat_template in tokenizer_config.json; use --prompt");
                }
                String rendered = template.get().render(readMessages(f, Path.of(f.required("messages"))), true);
                prompt = tokenizer.encode(rendered, false);
            }
            List<Integer> eos = SamplingFlags.eosIds(model.config(), tokenizer, modelDir);
            List<SampledToken> sampled = new ArrayList<>();
            Generator.Result result = new Generator(backend, tokenizer, eos).generate(prompt, adapter, params, step -> {
                out.print(step.text());
                out.flush();
                if (step.sampled() != null) {
                    sampled.add(step.sampled());
                }
            });
            out.println();
            if (params.logprobs()) {
                for (SampledToken s : sampled) {
                    StringBuilder sb = new StringBuilder();
                    sb.append(String.format("{\"token\": %d, \"text\": %s, \"logprob\": %.6f, \"top_logprobs\": [", s.token(),
                            jsonString(tokenizer.decode(new int[] {s.token()}, false)), s.logprob()));
                    for (int i = 0; i < s.topLogprobs().size(); i++) {
                        TokenLogprob t = s.topLogprobs().get(i);
                        sb.append(i == 0 ? "" : ", ").append(String.format("{\"token\": %d, \"logprob\": %.6f}", t.token(), t.logprob()));
                    }
                    err.println(sb.append("]}"));
                }
            }
            if (!f.has("quiet")) {
                err.printf("[%s; prompt %d tokens at %.1f tok/s; generated %d tokens at %.1f tok/s]%n",
                        result.finish().reason().name().toLowerCase(), result.promptTokens(),
                        result.promptTokens() / (result.prefillNanos() / 1e9), result.generatedTokens(),
                        result.generatedTokens() / Math.max(1e-9, result.decodeNanos() / 1e9));
            }
        }
        return 0;
    }

    /** A JSON array of messages, {"messages": [...]}, or JSONL with one message per line. */
    static List<ChatMessage> readMessages(Flags f, Path file) throws IOException {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw f.bad("--messages: file not found: " + file);
        }
        ObjectMapper json = new ObjectMapper();
        JsonNode list;
        try {
            JsonNode root = json.readTree(text);
            list = root != null && root.isObject() && root.has("messages") ? root.get("messages") : root;
            if (list != null && list.isObject()) {
                list = json.createArrayNode().add(list);
            }
        } catch (IOException e) {
            list = json.createArrayNode();
            String[] lines = text.split("\\R");
            for (int i = 0; i < lines.length; i++) {
                if (lines[i].isBlank()) {
                    continue;
                }
                try {
                    ((com.fasterxml.jackson.databind.node.ArrayNode) list).add(json.readTree(lines[i]));
                } catch (IOException lineError) {
                    throw f.bad("--messages " + file + ": line " + (i + 1) + ": malformed JSON: " + lineError.getMessage());
                }
            }
        }
        if (list == null || !list.isArray() || list.isEmpty()) {
            throw f.bad("--messages " + file + ": expected a non-empty array of {\"role\", \"content\"} (or {\"messages\": [...]})");
        }
        List<ChatMessage> messages = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            JsonNode m = list.get(i);
            if (!m.path("role").isTextual() || !m.path("content").isTextual()) {
                throw f.bad("--messages " + file + ": message " + (i + 1) + " needs string \"role\" and \"content\"");
            }
            messages.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
        }
        return messages;
    }

    static String jsonString(String s) {
        try {
            return new ObjectMapper().writeValueAsString(s);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
