package io.loraplex.engine.backend;

import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.model.ModelConfig;

/**
 * Runs the forward pass of one base model over batched steps. Implementations hold the model's
 * weights in whatever form suits them and own the KV storage they read.
 */
public interface Backend extends AutoCloseable {

    /** "reference", "cpu", "cuda". */
    String name();

    ModelConfig config();

    /** Allocates an arena of {@code pages} pages for KV blocks and adapter weights. */
    PageArena allocateArena(ArenaLayout layout, int pages);

    /**
     * Runs one step: writes each token's keys and values to its blocks in {@code arena}, adds each
     * token's adapter (whose pages are in the same arena), and writes the logits of
     * {@code batch.logitRows()} to {@code logits} as {@code (logitRows, V)}.
     */
    void forward(ForwardBatch batch, PageArena arena, float[] logits);

    @Override
    default void close() {
    }
}
