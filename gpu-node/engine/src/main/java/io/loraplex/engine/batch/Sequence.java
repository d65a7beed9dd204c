package io.loraplex.engine.batch;

import io.loraplex.engine.kv.BlockManager;
import java.util.Arrays;

/**
 * One request inside the engine. Its tokens are the prompt followed by what it generated; the
 * first {@code computed} of them have keys and values in its blocks. Prefill, decode and the
 * recompute after a preemption are all the same move: compute the next chunk of {@code tokens}.
 */
final class Sequence {

    private static final System.Logger LOG = System.getLogger(Sequence.class.getName());

    final EngineRequest request;
    final GenerationListener listener;
    final OutputProcessor output; // null for SCORE requests
    final long arrival;
    final int promptLength;
    final String adapterKey;      // content hash hex, or BlockManager.PrefixKey.BASE
    final int reservedBlocks;     // worst case, counted against the tenant's KV cap
    int[] tokens;
    int length;
    int computed;
    int[] table = new int[8];
    int tableSize;
    AdapterPool.Entry adapter;
    int cachedPromptTokens;
    boolean everAdmitted;
    volatile boolean cancelRequested;
    volatile boolean paused;
    boolean finished;

    Sequence(EngineRequest request, GenerationListener listener, OutputProcessor output, long arrival, int reservedBlocks) {
        this.request = request;
        this.listener = listener;
        this.output = output;
        this.arrival = arrival;
        this.promptLength = request.prompt().length;
        this.adapterKey = request.adapter() == null ? BlockManager.PrefixKey.BASE : request.adapter().hash().hex();
        this.reservedBlocks = reservedBlocks;
        this.tokens = Arrays.copyOf(request.prompt(), request.prompt().length + 16);
        this.length = request.prompt().length;
    }

    void append(int token) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, tokens.length * 2);
        }
        tokens[length++] = token;
    }

    void addBlock(int page) {
        if (tableSize == table.length) {
            table = Arrays.copyOf(table, table.length * 2);
        }
        table[tableSize++] = page;
    }

    int[] blockTable() {
        return Arrays.copyOf(table, tableSize);
    }

    int generated() {
        return length - promptLength;
    }

    /** Calls this request's listener; a listener that throws is logged, never allowed to stop the step thread. */
    void deliver(Runnable callback) {
        try {
            callback.run();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "listener of request " + request.id() + " failed", e);
        }
    }

    /** Tokens still to compute before the next token can be sampled. */
    int remaining() {
        return length - computed;
    }
}
