package io.loraplex.engine.backend.cuda;

import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.ModelConfig;

/**
 * Every index table one forward step's kernels take, built once per step on the host and copied to
 * the device in one transfer.
 *
 * @param tokens    (T) token ids for {@code embedding.cu}
 * @param logitRows (rows) token rows whose logits the step returns
 */
public record StepTables(int[] tokens, RopeTables rope, AttentionTables attention, LoraTables lora, int[] logitRows) {

    public static StepTables of(ForwardBatch batch, ModelConfig config, ArenaLayout layout) {
        if (config.architecture() == Architecture.GEMMA2 || config.architecture() == Architecture.GEMMA3) {
            // one RoPE table per step, no soft-cap or attention-scale field: Gemma needs both, per layer
            throw new IllegalArgumentException("the CUDA host tables do not cover " + config.architecture().hfClass()
                    + " yet (per-layer RoPE bases, attention soft-cap and scale)");
        }
        for (int t = 0; t < batch.numTokens(); t++) {
            int id = batch.tokens()[t];
            if (id < 0 || id >= config.vocabSize()) {
                // the kernel would write zeros; a wrong id is a bug upstream and must not pass silently
                throw new IllegalArgumentException("token " + t + " has id " + id + " outside the vocabulary [0, "
                        + config.vocabSize() + ")");
            }
        }
        return new StepTables(batch.tokens().clone(), RopeTables.of(batch, config), AttentionTables.of(batch, layout),
                LoraTables.of(batch, config.numLayers()), batch.logitRows().clone());
    }
}
