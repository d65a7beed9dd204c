package io.loraplex.engine.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.cluster.TenantId;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.batch.AdapterSpec;
import io.loraplex.engine.batch.Engine;
import io.loraplex.engine.batch.EngineRequest;
import io.loraplex.engine.batch.EngineSettings;
import io.loraplex.engine.batch.GenerationListener;
import io.loraplex.engine.lora.AdapterException;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.WeightFormat;
import io.loraplex.engine.request.PreparedRequest;
import io.loraplex.engine.request.Prompt;
import io.loraplex.engine.request.RequestPreparation;
import io.loraplex.engine.request.RequestRefusal;
import io.loraplex.engine.sample.SamplingParams;
import io.loraplex.engine.sample.TokenLogprob;
import io.loraplex.engine.tokenizer.ChatMessage;
import io.loraplex.engine.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code loraplex generate --model DIR [--adapter DIR] (--prompt TEXT | --messages FILE)}: streams
 * the generated text to stdout; timings and the finish reason go to stderr. The request runs
 * through the serving engine, as a server's would.
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
                .option("backend", Backends.CPU, "backend: cpu, cuda (the CPU where no GPU serves) or reference")
                .option(WeightsFlag.NAME, null, WeightsFlag.HELP)
                .option("threads", Integer.toString(Backends.defaultThreads()), "CPU threads")
                .option("max-lora-rank", Integer.toString(EngineSettings.defaults().maxLoraRank()), "largest adapter rank accepted")
                .flag("quiet", "print only the generated text (no statistics on stderr)");
        return SamplingFlags.declare(f);
    }

    static int run(Flags f, PrintStream out, PrintStream err) throws Exception {
        Path modelDir = Path.of(f.required("model"));
        if (f.has("prompt") == f.has("messages")) {
            throw f.bad("give exactly one of --prompt TEXT and --messages FILE");
        }
        WeightFormat weights = WeightsFlag.of(f);
        try (ServedModel served = ServedModel.load(modelDir, null, weights);
                Backend backend = Backends.create(f.required("backend"), served.model(), f.integer("threads"))) {
            BaseModel model = served.model();
            Tokenizer tokenizer = served.tokenizer();
            if (f.has("messages") && served.chatTemplate().isEmpty()) {
                throw f.bad(modelDir + " has no chat_template in tokenizer_config.json; use --prompt");
            }
            Prompt text = f.has("prompt") ? new Prompt.Text(f.required("prompt"))
                    : new Prompt.Chat(readMessages(f, Path.of(f.required("messages"))));
            PreparedRequest prepared;
            try {
                // the GPU node's preparation: the same tokens, limits and defaults as a served request
                prepared = RequestPreparation.of(served, RequestPreparation.DEFAULT_MAX_TOKENS)
                        .prepare(text, SamplingFlags.params(f));
            } catch (RequestRefusal r) {
                throw f.bad(r.getMessage());
            }
            int[] prompt = prepared.prompt();
            SamplingParams params = prepared.params();
            LoraAdapter adapter = null;
            if (f.has("adapter")) {
                try {
                    adapter = new AdapterLoader(model.config(), f.integer("max-lora-rank")).load(f.required("adapter"),
                            Path.of(f.required("adapter")));
                } catch (AdapterException e) {
                    throw f.bad("adapter refused: " + e.getMessage());
                }
            }
            List<Integer> eos = served.eosIds();
            List<GenerationListener.Token> tokens = new ArrayList<>();
            long[] firstTokenAt = new long[1];
            java.util.concurrent.CompletableFuture<GenerationListener.Completion> done = new java.util.concurrent.CompletableFuture<>();
            EngineSettings settings = EngineSettings.defaults().withMaxLoraRank(f.integer("max-lora-rank"));
            long start;
            GenerationListener.Completion completion;
            try (Engine engine = new Engine(backend, tokenizer, eos, settings)) {
                EngineRequest request = EngineRequest.generate("generate", new TenantId("cli"),
                        adapter == null ? null : AdapterSpec.loaded(adapter), prompt, params);
                if (adapter != null) {
                    engine.preload(request.adapter(), true).get();
                }
                start = System.nanoTime();
                engine.submit(request, new GenerationListener() {
                    @Override
                    public void onToken(Token token) {
                        if (tokens.isEmpty()) {
                            firstTokenAt[0] = System.nanoTime();
                        }
                        tokens.add(token);
                        out.print(token.text());
                        out.flush();
                    }

                    @Override
                    public void onFinish(Completion completion) {
                        out.print(completion.text());
                        done.complete(completion);
                    }
                });
                completion = done.get();
            } catch (IllegalArgumentException e) {
                throw f.bad(e.getMessage());
            }
            long end = System.nanoTime();
            out.println();
            if (completion.error() != null && completion.finish().reason() == io.loraplex.engine.sample.FinishReason.ERROR) {
                err.println("loraplex generate: " + completion.error());
                return 1;
            }
            if (params.logprobs()) {
                for (GenerationListener.Token t : tokens) {
                    StringBuilder sb = new StringBuilder();
                    sb.append(String.format("{\"token\": %d, \"text\": %s, \"logprob\": %.6f, \"top_logprobs\": [", t.token(),
                            jsonString(tokenizer.tokenText(t.token())), t.logprob()));
                    for (int i = 0; i < t.topLogprobs().size(); i++) {
                        TokenLogprob top = t.topLogprobs().get(i);
                        sb.append(i == 0 ? "" : ", ").append(String.format("{\"token\": %d, \"logprob\": %.6f}", top.token(),
                                top.logprob()));
                    }
                    err.println(sb.append("]}"));
                }
            }
            if (!f.has("quiet")) {
                double prefillSeconds = ((tokens.isEmpty() ? end : firstTokenAt[0]) - start) / 1e9;
                double decodeSeconds = (end - (tokens.isEmpty() ? end : firstTokenAt[0])) / 1e9;
                err.printf("[%s; prompt %d tokens at %.1f tok/s; generated %d tokens at %.1f tok/s]%n",
                        completion.finish().reason().name().toLowerCase(), completion.usage().promptTokens(),
                        completion.usage().promptTokens() / Math.max(1e-9, prefillSeconds), completion.usage().completionTokens(),
                        Math.max(0, tokens.size() - 1) / Math.max(1e-9, decodeSeconds));
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
