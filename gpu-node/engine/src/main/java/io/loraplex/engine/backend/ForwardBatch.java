package io.loraplex.engine.backend;

import io.loraplex.engine.lora.PagedAdapter;
import java.util.Objects;

/**
 * The tokens of one forward step, from one or more sequences.
 *
 * <p>Each token is written to its sequence's KV cache at its position, then attends to positions
 * {@code 0..position} of that sequence. A sequence's tokens in one step are consecutive positions
 * (a prefill chunk, or one decode token).
 *
 * @param tokens      (T) token ids
 * @param positions   (T) position of each token in its sequence
 * @param sequence    (T) index of each token's sequence in {@code blockTables}
 * @param blockTables (B) (blocks) each sequence's KV pages, covering its positions up to this step
 * @param adapter     (T) index of each token's adapter in {@code adapters}, or {@link #NO_ADAPTER}
 * @param adapters    the distinct adapters this step uses
 * @param logitRows   token rows whose logits are wanted, in output order
 */
public record ForwardBatch(
        int[] tokens,
        int[] positions,
        int[] sequence,
        int[][] blockTables,
        int[] adapter,
        PagedAdapter[] adapters,
        int[] logitRows) {

    /** A token that runs on the base model alone. */
    public static final int NO_ADAPTER = -1;

    public ForwardBatch {
        Objects.requireNonNull(tokens, "tokens");
        int t = tokens.length;
        if (positions.length != t || sequence.length != t || adapter.length != t) {
            throw new IllegalArgumentException("tokens, positions, sequence and adapter must have one entry per token");
        }
        for (int i = 0; i < t; i++) {
            if (sequence[i] < 0 || sequence[i] >= blockTables.length) {
                throw new IllegalArgumentException("token " + i + " names sequence " + sequence[i] + " of " + blockTables.length);
            }
            if (adapter[i] != NO_ADAPTER && (adapter[i] < 0 || adapter[i] >= adapters.length)) {
                throw new IllegalArgumentException("token " + i + " names adapter " + adapter[i] + " of " + adapters.length);
            }
        }
        for (int row : logitRows) {
            if (row < 0 || row >= t) {
                throw new IllegalArgumentException("logit row " + row + " is not a token of this step");
            }
        }
    }

    public int numTokens() {
        return tokens.length;
    }

    /** (B) each sequence's last position in this step + 1: its length so far, which picks LongRoPE's factors. */
    public int[] sequenceLengths() {
        int[] lengths = new int[blockTables.length];
        for (int t = 0; t < tokens.length; t++) {
            lengths[sequence[t]] = Math.max(lengths[sequence[t]], positions[t] + 1);
        }
        return lengths;
    }

    /** One sequence of tokens at positions {@code start…}, with its logits wanted at the last one. */
    public static ForwardBatch single(int[] tokens, int start, int[] blockTable, PagedAdapter adapter) {
        int t = tokens.length;
        int[] positions = new int[t];
        int[] adapterIndex = new int[t];
        for (int i = 0; i < t; i++) {
            positions[i] = start + i;
            adapterIndex[i] = adapter == null ? NO_ADAPTER : 0;
        }
        PagedAdapter[] adapters = adapter == null ? new PagedAdapter[0] : new PagedAdapter[] {adapter};
        return new ForwardBatch(tokens, positions, new int[t], new int[][] {blockTable}, adapterIndex, adapters,
                new int[] {t - 1});
    }
}
