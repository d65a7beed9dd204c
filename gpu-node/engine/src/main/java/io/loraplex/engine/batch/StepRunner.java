package io.loraplex.engine.batch;

import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.ComputeGate;
import io.loraplex.engine.backend.ForwardBatch;
import io.loraplex.engine.kv.BlockManager;
import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.lora.PagedAdapter;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.sample.Finish;
import io.loraplex.engine.sample.FinishReason;
import io.loraplex.engine.sample.SampledToken;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * One engine step over the scheduler's plan: gathers the chunks into one {@link ForwardBatch} (each
 * token with its own adapter), runs the forward pass under the {@link ComputeGate}, registers the
 * full KV blocks for prefix reuse, then checks, samples and emits each request's row of logits. A
 * row that came out non-finite fails its own request, or quarantines its adapter.
 *
 * <p>Used on the engine's step thread only.
 */
final class StepRunner {

    private static final System.Logger LOG = System.getLogger(StepRunner.class.getName());

    private final Backend backend;
    private final ModelConfig cfg;
    private final PageArena arena;
    private final ComputeGate gate;
    private final BlockManager blocks;
    private final AdapterPool adapters;
    private final FairScheduler scheduler;
    private final int blockSize;
    private final Consumer<Engine.Quarantine> quarantined;
    private float[] logitBuffer = new float[0]; // (rows, V), grown to the largest step
    private long steps;
    private long promptTokens;
    private long generatedTokens;

    /** @param quarantined told of each adapter this runner quarantines, after its requests failed */
    StepRunner(Backend backend, PageArena arena, ComputeGate gate, BlockManager blocks, AdapterPool adapters,
            FairScheduler scheduler, int blockSize, Consumer<Engine.Quarantine> quarantined) {
        this.backend = backend;
        this.cfg = backend.config();
        this.arena = arena;
        this.gate = gate;
        this.blocks = blocks;
        this.adapters = adapters;
        this.scheduler = scheduler;
        this.blockSize = blockSize;
        this.quarantined = quarantined;
    }

    long steps() {
        return steps;
    }

    long promptTokens() {
        return promptTokens;
    }

    long generatedTokens() {
        return generatedTokens;
    }

    /** Builds the step's batch, runs it, samples and retires. */
    void run(List<FairScheduler.Chunk> plan) {
        // tokens of one adapter side by side, so the LoRA path sees long segments (SGMV)
        Map<AdapterPool.Entry, Integer> adapterIndex = new IdentityHashMap<>();
        List<PagedAdapter> paged = new ArrayList<>();
        for (FairScheduler.Chunk p : plan) {
            if (p.seq().adapter != null && !adapterIndex.containsKey(p.seq().adapter)) {
                adapterIndex.put(p.seq().adapter, paged.size());
                paged.add(p.seq().adapter.paged);
            }
        }
        List<FairScheduler.Chunk> ordered = new ArrayList<>(plan);
        ordered.sort(Comparator.comparingInt(p -> p.seq().adapter == null ? -1 : adapterIndex.get(p.seq().adapter)));
        int total = 0;
        for (FairScheduler.Chunk p : ordered) {
            total += p.count();
        }
        int[] tokens = new int[total];
        int[] positions = new int[total];
        int[] sequence = new int[total];
        int[] adapter = new int[total];
        int[][] tables = new int[ordered.size()][];
        List<Integer> logitRows = new ArrayList<>();
        List<FairScheduler.Chunk> logitOwners = new ArrayList<>();
        int row = 0;
        for (int k = 0; k < ordered.size(); k++) {
            FairScheduler.Chunk p = ordered.get(k);
            Sequence s = p.seq();
            tables[k] = s.blockTable();
            int slot = s.adapter == null ? ForwardBatch.NO_ADAPTER : adapterIndex.get(s.adapter);
            for (int j = 0; j < p.count(); j++) {
                tokens[row] = s.tokens[p.start() + j];
                positions[row] = p.start() + j;
                sequence[row] = k;
                adapter[row] = slot;
                row++;
            }
            if (p.start() + p.count() == s.length) {
                logitRows.add(row - 1);
                logitOwners.add(p);
            }
        }
        int vocab = cfg.vocabSize();
        if (logitBuffer.length < logitRows.size() * vocab) {
            logitBuffer = new float[logitRows.size() * vocab];
        }
        ForwardBatch batch = new ForwardBatch(tokens, positions, sequence, tables, adapter,
                paged.toArray(PagedAdapter[]::new), logitRows.stream().mapToInt(Integer::intValue).toArray());
        gate.serve(() -> backend.forward(batch, arena, logitBuffer));
        steps++;

        for (FairScheduler.Chunk p : ordered) {
            Sequence s = p.seq();
            int before = s.computed;
            s.computed = p.start() + p.count();
            promptTokens += Math.max(0, Math.min(s.computed, s.promptLength) - Math.min(before, s.promptLength));
            scheduler.charge(s, p.count());
            for (int b = p.start() / blockSize; b < s.computed / blockSize; b++) {
                blocks.register(s.request.tenant().value(), s.adapterKey, s.tokens, s.table, b);
            }
        }
        for (int r = 0; r < logitOwners.size(); r++) {
            Sequence s = logitOwners.get(r).seq();
            if (s.finished) {
                continue;
            }
            // Rows never mix (each is reduced on its own), so a non-finite row is its own request's:
            // a NaN or Inf in the hidden state at its last position, or in the KV its attention read,
            // reaches these logits, and failing here fails that request alone.
            int bad = firstNonFinite(logitBuffer, logitIndex(r, vocab), vocab);
            if (bad >= 0) {
                poisoned(s, logitBuffer[logitIndex(r, vocab) + bad], bad);
                continue;
            }
            try {
                emit(s, r, vocab);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.ERROR, "sampling request " + s.request.id() + " failed", e);
                scheduler.finish(s, Finish.of(FinishReason.ERROR), "", "internal error while sampling: " + e.getMessage(),
                        GenerationListener.Failure.ENGINE);
            }
        }
    }

    /** Samples or scores one request's row of logits and tells its listener. */
    private void emit(Sequence s, int r, int vocab) {
        if (s.request.kind() == EngineRequest.Kind.SCORE) {
            float[] copy = Arrays.copyOfRange(logitBuffer, logitIndex(r, vocab), logitIndex(r, vocab) + vocab);
            s.deliver(() -> s.listener.onLogits(copy));
            scheduler.finish(s, Finish.of(FinishReason.STOP), "", null);
            return;
        }
        OutputProcessor.Step out = s.output.next(logitBuffer, logitIndex(r, vocab));
        SampledToken sampled = out.sampled();
        s.append(sampled.token());
        generatedTokens++;
        scheduler.charge(s, 1);
        s.deliver(() -> s.listener.onToken(new GenerationListener.Token(sampled.token(), out.text(), sampled.logprob(),
                sampled.topLogprobs())));
        if (out.finish() != null) {
            scheduler.finish(s, out.finish(), "", null);
        } else if (s.length >= cfg.maxPositionEmbeddings()) {
            scheduler.finish(s, Finish.of(FinishReason.LENGTH), s.output.finish(Finish.of(FinishReason.LENGTH)), null);
        }
    }

    private static int logitIndex(int row, int vocab) {
        return row * vocab;
    }

    /** The index of the first NaN or Inf in {@code values[offset, offset + n)}, or -1. */
    private static int firstNonFinite(float[] values, int offset, int n) {
        for (int i = 0; i < n; i++) {
            if (!Float.isFinite(values[offset + i])) {
                return i;
            }
        }
        return -1;
    }

    /**
     * A request's logits came out non-finite. Without an adapter it is the base's doing and the
     * request fails alone; with one, the adapter version is quarantined.
     */
    private void poisoned(Sequence s, float value, int index) {
        String what = Float.isNaN(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf";
        if (s.adapter == null) {
            scheduler.finish(s, Finish.of(FinishReason.ERROR), "", "the base model produced a non-finite logit (" + what
                    + " at token " + index + ") for this request", GenerationListener.Failure.ENGINE);
            return;
        }
        quarantine(s.adapter, "adapter " + s.adapter.name + " produced a non-finite logit (" + what + " at token " + index
                + "); this adapter version is quarantined and will not be served again");
    }

    /**
     * Fails every request of the adapter (running or waiting: the version is not served again),
     * which frees its references, then drops it from every tier and refuses later loads of it.
     */
    private void quarantine(AdapterPool.Entry entry, String reason) {
        LOG.log(System.Logger.Level.WARNING, reason);
        scheduler.failAllOf(entry, reason);
        adapters.quarantine(entry.hash, reason);
        Engine.Quarantine q = new Engine.Quarantine(entry.hash, entry.name, reason);
        try {
            quarantined.accept(q);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "the quarantine listener failed for " + entry.name, e);
        }
    }
}
