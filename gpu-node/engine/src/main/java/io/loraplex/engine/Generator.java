package io.loraplex.engine;

import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.batch.OutputProcessor;
import io.loraplex.engine.backend.Workspace;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.sample.Finish;
import io.loraplex.engine.sample.FinishReason;
import io.loraplex.engine.sample.SamplingParams;
import io.loraplex.engine.tokenizer.Tokenizer;
import java.util.List;
import java.util.function.Consumer;

/**
 * Generates for one request at a time: the prompt in chunks, then one token per step, streaming
 * each step's text to a consumer. The serving engine runs many requests per step; this is the
 * direct path the {@code generate} command uses.
 */
public final class Generator {

    /** How a generation ended, and its token counts. */
    public record Result(Finish finish, int promptTokens, int generatedTokens, long prefillNanos, long decodeNanos) {
    }

    private static final int BLOCK_SIZE = 16;
    private static final int PREFILL_CHUNK = 512;

    private final Backend backend;
    private final Tokenizer tokenizer;
    private final List<Integer> eosIds;

    public Generator(Backend backend, Tokenizer tokenizer, List<Integer> eosIds) {
        this.backend = backend;
        this.tokenizer = tokenizer;
        this.eosIds = List.copyOf(eosIds);
    }

    public Result generate(int[] prompt, LoraAdapter adapter, SamplingParams params, Consumer<OutputProcessor.Step> onStep) {
        ModelConfig cfg = backend.config();
        int contextLimit = cfg.maxPositionEmbeddings();
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        if (prompt.length >= contextLimit) {
            throw new IllegalArgumentException("the prompt has " + prompt.length + " tokens; the model's context is "
                    + contextLimit);
        }
        long maxTotal = Math.min((long) contextLimit, (long) prompt.length + params.maxTokens());
        int blocks = (int) ((maxTotal + BLOCK_SIZE - 1) / BLOCK_SIZE);
        OutputProcessor output = new OutputProcessor(tokenizer, params, cfg.vocabSize(), eosIds, prompt);
        float[] logits = new float[cfg.vocabSize()];
        long t0 = System.nanoTime();
        try (Workspace ws = Workspace.create(backend, BLOCK_SIZE, blocks, adapter == null ? List.of() : List.of(adapter))) {
            int[] table = ws.blocks(blocks);
            PagedAdapter paged = ws.paged(adapter);
            for (int start = 0; start < prompt.length; start += PREFILL_CHUNK) {
                int end = Math.min(prompt.length, start + PREFILL_CHUNK);
                backend.forward(ForwardBatch.single(java.util.Arrays.copyOfRange(prompt, start, end), start, table, paged),
                        ws.arena(), logits);
            }
            long t1 = System.nanoTime();
            int position = prompt.length;
            while (true) {
                OutputProcessor.Step step = output.next(logits, 0);
                onStep.accept(step);
                if (step.finish() != null) {
                    return new Result(step.finish(), prompt.length, output.generated().size(), t1 - t0, System.nanoTime() - t1);
                }
                if (position + 1 >= maxTotal) {
                    String rest = output.finish(Finish.of(FinishReason.LENGTH));
                    onStep.accept(new OutputProcessor.Step(null, rest, output.finished()));
                    return new Result(output.finished(), prompt.length, output.generated().size(), t1 - t0,
                            System.nanoTime() - t1);
                }
                backend.forward(ForwardBatch.single(new int[] {step.sampled().token()}, position, table, paged), ws.arena(),
                        logits);
                position++;
            }
        }
    }
}
