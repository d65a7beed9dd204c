package io.loraplex.engine.backend;

import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.model.ModelConfig;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs many independent token sequences, each with its own adapter or none, through one forward
 * step and returns the logits at each sequence's last position. What {@code loraplex logits}
 * prints, and how the tests compare the engine with other implementations.
 */
public final class BatchLogits {

    /** One sequence: its adapter (null for the base) and its tokens from position 0. */
    public record Request(LoraAdapter adapter, int[] tokens) {
    }

    private BatchLogits() {
    }

    /** Logits (V) per request, in order, computed in one step with a fresh KV cache. */
    public static List<float[]> run(Backend backend, List<Request> requests, int blockSize) {
        ModelConfig cfg = backend.config();
        int total = 0;
        int blocks = 0;
        for (Request r : requests) {
            if (r.tokens().length == 0) {
                throw new IllegalArgumentException("request " + requests.indexOf(r) + " has no tokens");
            }
            for (int token : r.tokens()) {
                if (token < 0 || token >= cfg.vocabSize()) {
                    throw new IllegalArgumentException("request " + requests.indexOf(r) + " has token id " + token
                            + " outside the vocabulary [0, " + cfg.vocabSize() + ")");
                }
            }
            total += r.tokens().length;
            blocks += (r.tokens().length + blockSize - 1) / blockSize;
        }
        List<LoraAdapter> distinct = new ArrayList<>();
        for (Request r : requests) {
            if (r.adapter() != null && distinct.stream().noneMatch(a -> a == r.adapter())) {
                distinct.add(r.adapter());
            }
        }
        try (Workspace ws = Workspace.create(backend, blockSize, blocks, distinct)) {
            return run(backend, requests, ws, total);
        }
    }

    private static List<float[]> run(Backend backend, List<Request> requests, Workspace ws, int total) {
        ModelConfig cfg = backend.config();
        int blockSize = ws.arena().layout().blockSize();
        int[] tokens = new int[total];
        int[] positions = new int[total];
        int[] sequence = new int[total];
        int[] adapterIndex = new int[total];
        int[][] tables = new int[requests.size()][];
        int[] logitRows = new int[requests.size()];
        Map<LoraAdapter, Integer> adapterSlots = new IdentityHashMap<>();
        List<PagedAdapter> adapters = new ArrayList<>();
        int row = 0;
        for (int s = 0; s < requests.size(); s++) {
            Request r = requests.get(s);
            int n = r.tokens().length;
            tables[s] = ws.blocks((n + blockSize - 1) / blockSize);
            int slot = ForwardBatch.NO_ADAPTER;
            if (r.adapter() != null) {
                slot = adapterSlots.computeIfAbsent(r.adapter(), a -> {
                    adapters.add(ws.paged(a));
                    return adapters.size() - 1;
                });
            }
            for (int i = 0; i < n; i++) {
                tokens[row] = r.tokens()[i];
                positions[row] = i;
                sequence[row] = s;
                adapterIndex[row] = slot;
                row++;
            }
            logitRows[s] = row - 1;
        }
        ForwardBatch batch = new ForwardBatch(tokens, positions, sequence, tables, adapterIndex,
                adapters.toArray(PagedAdapter[]::new), logitRows);
        float[] logits = new float[requests.size() * cfg.vocabSize()];
        backend.forward(batch, ws.arena(), logits);
        List<float[]> out = new ArrayList<>();
        for (int s = 0; s < requests.size(); s++) {
            out.add(java.util.Arrays.copyOfRange(logits, s * cfg.vocabSize(), (s + 1) * cfg.vocabSize()));
        }
        return out;
    }
}
