package io.loraplex.engine.backend;

import io.loraplex.engine.kv.KvCache;
import io.loraplex.engine.model.ModelConfig;

/**
 * Runs the forward pass of one base model over batched steps. Implementations hold the model's
 * weights in whatever form suits them and own the KV storage they read.
 */
public interface Backend extends AutoCloseable {

    /** "reference", "cpu", "cuda". */
    String name();

    ModelConfig config();

    /** Allocates KV storage for {@code numBlocks} blocks of {@code blockSize} positions. */
    KvCache allocateKv(int numBlocks, int blockSize);

    /**
     * Runs one step: writes each token's keys and values to {@code kv}, and writes the logits of
     * {@code batch.logitRows()} to {@code logits} as {@code (logitRows, V)}.
     */
    void forward(ForwardBatch batch, KvCache kv, float[] logits);

    @Override
    default void close() {
    }
}
