package io.loraplex.engine.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.cluster.TenantId;
import io.loraplex.engine.batch.AdapterSpec;
import io.loraplex.engine.batch.Engine;
import io.loraplex.engine.batch.EngineRequest;
import io.loraplex.engine.batch.EngineSettings;
import io.loraplex.engine.batch.GenerationListener;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import io.loraplex.engine.lora.AdapterException;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.model.BaseModel;
import io.loraplex.engine.model.WeightFormat;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code loraplex logits --model DIR --batch FILE}: reads {@code [{"adapter": "DIR or null",
 * "tokens": [ids…]}]}, runs all requests through the serving engine in one batched step, and prints
 * {@code [{"logits": [float…]}]}, one per request in order, at each request's last position.
 * Other implementations are checked against the engine through exactly this format.
 */
final class LogitsCommand {

    private LogitsCommand() {
    }

    static Flags flags() {
        return new Flags("logits", "--model DIR --batch FILE [flags]")
                .option("model", null, "model directory (config.json, safetensors weights)")
                .option("batch", null, "JSON file: [{\"adapter\": \"DIR or null\", \"tokens\": [ids...]}, ...]; - for stdin")
                .option("backend", Backends.CPU, "backend: cpu, cuda (the CPU where no GPU serves) or reference")
                .option(WeightsFlag.NAME, null, WeightsFlag.HELP)
                .option("threads", Integer.toString(Backends.defaultThreads()), "CPU threads")
                .option("max-lora-rank", Integer.toString(EngineSettings.defaults().maxLoraRank()), "largest adapter rank accepted");
    }

    static int run(Flags f, PrintStream out, PrintStream err) throws Exception {
        Path modelDir = Path.of(f.required("model"));
        String batchArg = f.required("batch");
        JsonNode batch = readBatch(f, batchArg);
        WeightFormat weights = WeightsFlag.of(f);
        try (BaseModel model = BaseModel.load(modelDir, weights);
                Backend backend = Backends.create(f.required("backend"), model, f.integer("threads"))) {
            AdapterLoader loader = new AdapterLoader(model.config(), f.integer("max-lora-rank"));
            Map<String, LoraAdapter> adapters = new HashMap<>();
            List<LoraAdapter> requestAdapters = new ArrayList<>();
            List<int[]> requestTokens = new ArrayList<>();
            for (int i = 0; i < batch.size(); i++) {
                JsonNode entry = batch.get(i);
                String where = batchArg + ": request " + i;
                if (!entry.isObject()) {
                    throw f.bad(where + " is not an object");
                }
                JsonNode adapterNode = entry.get("adapter");
                LoraAdapter adapter = null;
                if (adapterNode != null && !adapterNode.isNull()) {
                    if (!adapterNode.isTextual()) {
                        throw f.bad(where + ": \"adapter\" must be a directory path or null");
                    }
                    String path = adapterNode.asText();
                    adapter = adapters.get(path);
                    if (adapter == null) {
                        try {
                            adapter = loader.load(path, Path.of(path));
                        } catch (AdapterException e) {
                            throw f.bad(where + ": adapter refused: " + e.getMessage());
                        }
                        adapters.put(path, adapter);
                    }
                }
                JsonNode tokensNode = entry.get("tokens");
                if (tokensNode == null || !tokensNode.isArray() || tokensNode.isEmpty()) {
                    throw f.bad(where + ": \"tokens\" must be a non-empty array of token ids");
                }
                int[] tokens = new int[tokensNode.size()];
                for (int t = 0; t < tokens.length; t++) {
                    JsonNode id = tokensNode.get(t);
                    if (!id.canConvertToInt() || !id.isIntegralNumber()) {
                        throw f.bad(where + ": tokens[" + t + "] is not an integer: " + id);
                    }
                    tokens[t] = id.asInt();
                    if (tokens[t] < 0 || tokens[t] >= model.config().vocabSize()) {
                        throw f.bad(where + ": tokens[" + t + "] = " + tokens[t] + " is outside the vocabulary [0, "
                                + model.config().vocabSize() + ")");
                    }
                }
                requestAdapters.add(adapter);
                requestTokens.add(tokens);
            }
            List<float[]> logits = score(model, backend, f.integer("max-lora-rank"), requestAdapters, requestTokens);
            StringBuilder sb = new StringBuilder(logits.size() * model.config().vocabSize() * 12 + 16);
            sb.append('[');
            for (int i = 0; i < logits.size(); i++) {
                sb.append(i == 0 ? "" : ",\n ").append("{\"logits\": [");
                float[] v = logits.get(i);
                for (int j = 0; j < v.length; j++) {
                    if (j > 0) {
                        sb.append(", ");
                    }
                    sb.append(v[j]);
                }
                sb.append("]}");
            }
            out.println(sb.append(']'));
        }
        return 0;
    }

    /** All requests as SCORE requests through one engine, submitted together so they share one step. */
    private static List<float[]> score(BaseModel model, Backend backend, int maxRank, List<LoraAdapter> adapters,
            List<int[]> tokens) throws Exception {
        if (tokens.isEmpty()) {
            return List.of();
        }
        int total = tokens.stream().mapToInt(t -> t.length).sum();
        int longest = tokens.stream().mapToInt(t -> t.length).max().orElse(1);
        int blockSize = 16;
        long kvBytes = 0;
        var layout = io.loraplex.engine.kv.ArenaLayout.of(model.config(), blockSize);
        for (int[] t : tokens) {
            kvBytes += (long) ((t.length + blockSize - 1) / blockSize) * layout.pageBytes();
        }
        for (LoraAdapter a : new java.util.LinkedHashSet<>(adapters)) {
            if (a != null) {
                kvBytes += (long) io.loraplex.engine.lora.PagedAdapter.pagesNeeded(a, layout) * layout.pageBytes();
            }
        }
        EngineSettings settings = EngineSettings.defaults().withBlockSize(blockSize).withMaxTokensPerStep(total)
                .withPrefillChunk(longest).withMaxRunning(tokens.size()).withMaxRunningPerTenant(tokens.size())
                .withMaxResidentAdapters(Math.max(1, adapters.size())).withMaxLoraRank(maxRank)
                .withMemoryBudgetBytes(kvBytes + 2 * layout.pageBytes());
        try (Engine engine = new Engine(backend, null, List.of(), settings)) {
            for (LoraAdapter a : new java.util.LinkedHashSet<>(adapters)) {
                if (a != null) {
                    engine.preload(AdapterSpec.loaded(a), true).get(60, TimeUnit.SECONDS);
                }
            }
            List<EngineRequest> requests = new ArrayList<>();
            List<CompletableFuture<float[]>> results = new ArrayList<>();
            List<GenerationListener> listeners = new ArrayList<>();
            TenantId tenant = new TenantId("logits");
            for (int i = 0; i < tokens.size(); i++) {
                LoraAdapter a = adapters.get(i);
                requests.add(EngineRequest.score("logits-" + i, tenant, a == null ? null : AdapterSpec.loaded(a), tokens.get(i)));
                CompletableFuture<float[]> result = new CompletableFuture<>();
                results.add(result);
                listeners.add(new GenerationListener() {
                    @Override
                    public void onToken(Token token) {
                    }

                    @Override
                    public void onLogits(float[] logits) {
                        result.complete(logits);
                    }

                    @Override
                    public void onFinish(Completion completion) {
                        if (!result.isDone()) {
                            result.completeExceptionally(new IllegalStateException("request ended without logits: "
                                    + completion.error()));
                        }
                    }
                });
            }
            engine.submitAll(requests, listeners);
            List<float[]> out = new ArrayList<>();
            for (CompletableFuture<float[]> r : results) {
                out.add(r.get(600, TimeUnit.SECONDS));
            }
            return out;
        }
    }

    private static JsonNode readBatch(Flags f, String batchArg) throws IOException {
        String text;
        try {
            text = batchArg.equals("-") ? new String(System.in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8)
                    : Files.readString(Path.of(batchArg));
        } catch (NoSuchFileException e) {
            throw f.bad("--batch: file not found: " + batchArg);
        }
        JsonNode batch;
        try {
            batch = new ObjectMapper().readTree(text);
        } catch (IOException e) {
            throw f.bad("--batch " + batchArg + ": malformed JSON: " + e.getMessage());
        }
        if (batch == null || !batch.isArray()) {
            throw f.bad("--batch " + batchArg + ": expected a JSON array of {\"adapter\", \"tokens\"} objects");
        }
        return batch;
    }
}
