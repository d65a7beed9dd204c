package io.loraplex.engine.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.TenantId;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.batch.Engine;
import io.loraplex.engine.batch.EngineRequest;
import io.loraplex.engine.batch.EngineSettings;
import io.loraplex.engine.batch.GenerationListener;
import io.loraplex.engine.constrain.ConstraintState;
import io.loraplex.engine.constrain.Constraints;
import io.loraplex.engine.constrain.TokenConstraint;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.request.OutputFormat;
import io.loraplex.engine.request.Prompt;
import io.loraplex.engine.request.RequestParams;
import io.loraplex.engine.request.RequestPreparation;
import io.loraplex.engine.sample.GenerationDefaults;
import io.loraplex.engine.sample.SamplingParams;
import io.loraplex.engine.tokenizer.ChatStyle;
import io.loraplex.engine.tokenizer.TinyTokenizer;
import io.loraplex.engine.tokenizer.Tokenizer;
import io.loraplex.engine.tokenizer.TokenizerKind;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * The constrained suite of {@code loraplex bench}: what structured outputs cost. Per schema size (5,
 * 50, 500 properties): the compile time (schema to automaton, plus the first step's mask) and the
 * per-step cost of the mask and the state's advance over a valid document's tokens, with the caches
 * cold (the first request of a schema) and warm (the next ones). Then a batch of 32 requests through
 * the engine, each with its own schema, against the same batch unconstrained: the decode-step time
 * of each, from runs of {@code decode} tokens minus runs of one token (which share the prefill).
 */
final class ConstrainedBench {

    private static final ObjectMapper JSON = new ObjectMapper();

    private ConstrainedBench() {
    }

    static void run(Backend backend, Path work, int promptTokens, int decodeTokens, int batch, PrintStream out, PrintStream err)
            throws Exception {
        ModelConfig cfg = backend.config();
        Path tokDir = work.resolve("constrained-tokenizer-" + cfg.vocabSize());
        if (!Files.exists(tokDir.resolve(Tokenizer.FILE))) {
            err.printf("bench: learning a byte-level tokenizer of up to %d tokens in %s%n", cfg.vocabSize(), tokDir);
            TinyTokenizer.write(tokDir, TokenizerKind.BYTE_LEVEL, ChatStyle.LLAMA3, cfg.vocabSize(), 1);
        }
        Tokenizer tokenizer = Tokenizer.load(tokDir);
        out.printf("constrained decoding: tokenizer of %d tokens (model vocab %d)%n", tokenizer.vocabSize(), cfg.vocabSize());

        out.printf("%-11s %12s %10s %16s %16s%n", "properties", "compile ms", "doc tokens", "cold µs/step", "warm µs/step");
        for (int size : new int[] {5, 50, 500}) {
            maskCost(tokenizer, cfg.vocabSize(), size, out);
        }

        RequestPreparation prep = new RequestPreparation("bench", tokenizer, null, GenerationDefaults.NONE,
                cfg.maxPositionEmbeddings(), 64);
        int[] prompt = new int[promptTokens];
        for (int i = 0; i < promptTokens; i++) {
            prompt[i] = 1 + (i * 7919) % (tokenizer.vocabSize() - 1);
        }
        try (Engine engine = new Engine(backend, tokenizer, List.of(), EngineSettings.defaults().withMaxRunning(batch)
                .withMemoryBudgetBytes(512L << 20))) {
            // warm the JIT on both kinds before timing
            batchSeconds(engine, prep, prompt, batch, decodeTokens, false, 0);
            batchSeconds(engine, prep, prompt, batch, decodeTokens, true, 1_000);
            double free = batchSeconds(engine, prep, prompt, batch, decodeTokens, false, 0)
                    - batchSeconds(engine, prep, prompt, batch, 1, false, 0);
            double cold = batchSeconds(engine, prep, prompt, batch, decodeTokens, true, 2_000)
                    - batchSeconds(engine, prep, prompt, batch, 1, true, 3_000);
            double warm = batchSeconds(engine, prep, prompt, batch, decodeTokens, true, 2_000)
                    - batchSeconds(engine, prep, prompt, batch, 1, true, 3_000);
            int steps = decodeTokens - 1;
            out.printf("batch of %d, prompt %d, %d decode steps: unconstrained %.2f ms/step; each its own schema (50 properties): "
                    + "%.2f ms/step with new schemas (%.3f×), %.2f ms/step with schemas seen before (%.3f×)%n", batch, promptTokens,
                    steps, 1e3 * free / steps, 1e3 * cold / steps, cold / free, 1e3 * warm / steps, warm / free);
        }
    }

    /** A schema of {@code n} properties of mixed kinds; {@code salt} makes its names (and so its hash) its own. */
    static String schema(int n, int salt) {
        ObjectNode s = JSON.createObjectNode();
        s.put("type", "object");
        ObjectNode props = s.putObject("properties");
        var required = s.putArray("required");
        for (int i = 0; i < n; i++) {
            String name = "field_" + salt + "_" + i;
            ObjectNode p = props.putObject(name);
            switch (i % 5) {
                case 0 -> p.put("type", "integer");
                case 1 -> p.put("type", "string");
                case 2 -> p.put("type", "boolean");
                case 3 -> p.put("type", "string").putArray("enum").add("red").add("green").add("blue");
                default -> p.put("type", "string").put("pattern", "^[a-z]{1,8}$");
            }
            required.add(name);
        }
        s.put("additionalProperties", false);
        return s.toString();
    }

    /** A document valid against {@link #schema}. */
    static String document(int n, int salt) {
        ObjectNode d = JSON.createObjectNode();
        for (int i = 0; i < n; i++) {
            String name = "field_" + salt + "_" + i;
            switch (i % 5) {
                case 0 -> d.put(name, 1000 + i);
                case 1 -> d.put(name, "some text number " + i);
                case 2 -> d.put(name, i % 2 == 0);
                case 3 -> d.put(name, "green");
                default -> d.put(name, "abc");
            }
        }
        return d.toString();
    }

    private static void maskCost(Tokenizer tokenizer, int vocab, int size, PrintStream out) {
        // warm-up on another schema of the same size, so the JIT does not count as cost
        for (int w = 0; w < 3; w++) {
            walk(new Constraints(tokenizer, vocab, 4).jsonSchema(schema(size, 900 + w)), tokenizer.encode(document(size, 900 + w), false));
        }
        Constraints constraints = new Constraints(tokenizer, vocab, 4);
        long t0 = System.nanoTime();
        TokenConstraint compiled = constraints.jsonSchema(schema(size, 1));
        double compileMs = (System.nanoTime() - t0) / 1e6;
        int[] doc = tokenizer.encode(document(size, 1), false);
        double cold = walk(compiled, doc);
        double warm = walk(compiled, doc);
        out.printf("%-11d %12.2f %10d %16.1f %16.1f%n", size, compileMs, doc.length, cold / doc.length / 1e3, warm / doc.length / 1e3);
    }

    /** Nanoseconds to take the mask and advance, token after token, over {@code tokens}. */
    private static double walk(TokenConstraint compiled, int[] tokens) {
        ConstraintState state = new ConstraintState(compiled, List.of());
        long t0 = System.nanoTime();
        long sink = 0;
        for (int t : tokens) {
            long[] mask = state.allowed();
            if ((mask[t >>> 6] & (1L << t)) == 0) {
                throw new IllegalStateException("the mask refuses token " + t + " of a valid document");
            }
            sink += mask[0];
            state.advance(t);
        }
        if (!state.accepting()) {
            throw new IllegalStateException("a valid document did not end complete");
        }
        return System.nanoTime() - t0 + (sink == 42 ? 1 : 0);
    }

    /** Seconds for {@code batch} requests of {@code tokens} tokens each, all submitted at once. */
    private static double batchSeconds(Engine engine, RequestPreparation prep, int[] prompt, int batch, int tokens, boolean constrained,
            int salt) throws InterruptedException {
        List<EngineRequest> requests = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            SamplingParams params;
            if (constrained) {
                // 50 properties: more than a run's tokens, so no request completes its value early
                RequestParams p = new RequestParams(1.0, null, null, null, null, null, null, Map.of(), (long) i, tokens, List.of(),
                        List.of(), true, false, 0);
                params = prep.prepare(new Prompt.Text("x"), p, new OutputFormat.JsonSchema(schema(50, salt + i))).params();
            } else {
                params = SamplingParams.builder().temperature(1).seed((long) i).maxTokens(tokens).ignoreEos(true).build();
            }
            int[] own = prompt.clone();
            own[0] = 1 + i; // distinct prompts: no prefix-cache hits across the batch
            requests.add(EngineRequest.generate("b" + i, new TenantId("bench"), null, own, params));
        }
        CountDownLatch done = new CountDownLatch(batch);
        long t0 = System.nanoTime();
        for (EngineRequest r : requests) {
            engine.submit(r, new GenerationListener() {
                @Override
                public void onToken(Token token) {
                }

                @Override
                public void onFinish(Completion completion) {
                    done.countDown();
                }
            });
        }
        done.await();
        return (System.nanoTime() - t0) / 1e9;
    }
}
