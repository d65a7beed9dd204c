package io.loraplex.engine.batch;

import io.loraplex.engine.lora.AdapterBounds;
import java.util.List;
import java.util.Map;

/**
 * Every limit of the serving engine in one place. Exceeding a limit queues work; it never fails it.
 *
 * @param maxRunning          requests in the running batch at once
 * @param maxTokensPerStep    tokens (prefill and decode together) in one forward step
 * @param prefillChunk        prompt tokens of one request in one step, so long prompts do not stall decoding
 * @param blockSize           positions per KV block ({@code P})
 * @param memoryBudgetBytes   the one budget of KV blocks and resident (hot) adapters
 * @param maxResidentAdapters adapters resident at once
 * @param maxLoraRank         the largest adapter rank accepted
 * @param warmBudgetBytes     host memory for loaded adapters not resident (the warm tier)
 * @param maxRunningPerTenant requests of one tenant in the running batch
 * @param maxKvBlocksPerTenant KV blocks one tenant's running requests may hold
 * @param adapterLoadThreads  threads that read and place adapters, off the step loop
 * @param adapterBounds       how large an adapter's alpha, weights and gain may be (keys {@code maxLoraAlpha},
 *                            {@code maxAdapterWeight}, {@code maxAdapterGain})
 */
public record EngineSettings(
        int maxRunning,
        int maxTokensPerStep,
        int prefillChunk,
        int blockSize,
        long memoryBudgetBytes,
        int maxResidentAdapters,
        int maxLoraRank,
        long warmBudgetBytes,
        int maxRunningPerTenant,
        int maxKvBlocksPerTenant,
        int adapterLoadThreads,
        AdapterBounds adapterBounds) {

    public EngineSettings {
        java.util.Objects.requireNonNull(adapterBounds, "adapterBounds");
        positive("maxRunning", maxRunning);
        positive("maxTokensPerStep", maxTokensPerStep);
        positive("prefillChunk", prefillChunk);
        positive("blockSize", blockSize);
        positive("maxResidentAdapters", maxResidentAdapters);
        positive("maxLoraRank", maxLoraRank);
        positive("maxRunningPerTenant", maxRunningPerTenant);
        positive("maxKvBlocksPerTenant", maxKvBlocksPerTenant);
        positive("adapterLoadThreads", adapterLoadThreads);
        if (memoryBudgetBytes <= 0 || warmBudgetBytes < 0) {
            throw new IllegalArgumentException("memory budgets must be positive");
        }
        if (maxTokensPerStep < maxRunning && maxTokensPerStep < 1) {
            throw new IllegalArgumentException("maxTokensPerStep must allow at least one token");
        }
    }

    private static void positive(String name, long value) {
        if (value <= 0) {
            throw new IllegalArgumentException(name + " must be positive, got " + value);
        }
    }

    public static EngineSettings defaults() {
        return new EngineSettings(64, 512, 256, 16, 512L << 20, 1024, 64, 1L << 30, 32, Integer.MAX_VALUE, 2,
                AdapterBounds.DEFAULTS);
    }

    /** The keys {@link #fromMap} reads: the components above, with {@link AdapterBounds}' three in place of {@code adapterBounds}. */
    public static final List<String> KEYS = List.of("maxRunning", "maxTokensPerStep", "prefillChunk", "blockSize",
            "memoryBudgetBytes", "maxResidentAdapters", "maxLoraRank", "warmBudgetBytes", "maxRunningPerTenant",
            "maxKvBlocksPerTenant", "adapterLoadThreads", "maxLoraAlpha", "maxAdapterWeight", "maxAdapterGain");

    /**
     * Settings from string values (the keys are {@link #KEYS}), over the {@link #defaults()}, the one
     * place the engine's defaults live: how the GPU node maps its configuration without the engine
     * depending on a config library. An unknown key is refused by name, so a misspelt setting is never
     * silently the default.
     */
    public static EngineSettings fromMap(Map<String, String> values) {
        for (String key : new java.util.TreeSet<>(values.keySet())) {
            if (!KEYS.contains(key)) {
                throw new IllegalArgumentException("unknown engine setting " + key + "; the engine's settings are "
                        + String.join(", ", KEYS));
            }
        }
        EngineSettings d = defaults();
        return new EngineSettings(
                intOf(values, "maxRunning", d.maxRunning),
                intOf(values, "maxTokensPerStep", d.maxTokensPerStep),
                intOf(values, "prefillChunk", d.prefillChunk),
                intOf(values, "blockSize", d.blockSize),
                longOf(values, "memoryBudgetBytes", d.memoryBudgetBytes),
                intOf(values, "maxResidentAdapters", d.maxResidentAdapters),
                intOf(values, "maxLoraRank", d.maxLoraRank),
                longOf(values, "warmBudgetBytes", d.warmBudgetBytes),
                intOf(values, "maxRunningPerTenant", d.maxRunningPerTenant),
                intOf(values, "maxKvBlocksPerTenant", d.maxKvBlocksPerTenant),
                intOf(values, "adapterLoadThreads", d.adapterLoadThreads),
                new AdapterBounds(doubleOf(values, "maxLoraAlpha", d.adapterBounds.maxAlpha()),
                        doubleOf(values, "maxAdapterWeight", d.adapterBounds.maxWeight()),
                        doubleOf(values, "maxAdapterGain", d.adapterBounds.maxGain())));
    }

    private static int intOf(Map<String, String> values, String key, int fallback) {
        String v = values.get(key);
        try {
            return v == null ? fallback : Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("engine setting " + key + " must be an integer, got '" + v + "'");
        }
    }

    private static long longOf(Map<String, String> values, String key, long fallback) {
        String v = values.get(key);
        try {
            return v == null ? fallback : Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("engine setting " + key + " must be an integer, got '" + v + "'");
        }
    }

    private static double doubleOf(Map<String, String> values, String key, double fallback) {
        String v = values.get(key);
        try {
            return v == null ? fallback : Double.parseDouble(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("engine setting " + key + " must be a number, got '" + v + "'");
        }
    }

    public EngineSettings withMaxRunning(int v) {
        return new EngineSettings(v, maxTokensPerStep, prefillChunk, blockSize, memoryBudgetBytes, maxResidentAdapters,
                maxLoraRank, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads, adapterBounds);
    }

    public EngineSettings withMaxTokensPerStep(int v) {
        return new EngineSettings(maxRunning, v, prefillChunk, blockSize, memoryBudgetBytes, maxResidentAdapters,
                maxLoraRank, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads, adapterBounds);
    }

    public EngineSettings withPrefillChunk(int v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, v, blockSize, memoryBudgetBytes, maxResidentAdapters,
                maxLoraRank, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads, adapterBounds);
    }

    public EngineSettings withBlockSize(int v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, v, memoryBudgetBytes, maxResidentAdapters,
                maxLoraRank, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads, adapterBounds);
    }

    public EngineSettings withMemoryBudgetBytes(long v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, blockSize, v, maxResidentAdapters,
                maxLoraRank, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads, adapterBounds);
    }

    public EngineSettings withMaxResidentAdapters(int v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, blockSize, memoryBudgetBytes, v,
                maxLoraRank, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads, adapterBounds);
    }

    public EngineSettings withMaxLoraRank(int v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, blockSize, memoryBudgetBytes,
                maxResidentAdapters, v, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads, adapterBounds);
    }

    public EngineSettings withWarmBudgetBytes(long v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, blockSize, memoryBudgetBytes,
                maxResidentAdapters, maxLoraRank, v, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads, adapterBounds);
    }

    public EngineSettings withMaxRunningPerTenant(int v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, blockSize, memoryBudgetBytes,
                maxResidentAdapters, maxLoraRank, warmBudgetBytes, v, maxKvBlocksPerTenant, adapterLoadThreads, adapterBounds);
    }

    public EngineSettings withMaxKvBlocksPerTenant(int v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, blockSize, memoryBudgetBytes,
                maxResidentAdapters, maxLoraRank, warmBudgetBytes, maxRunningPerTenant, v, adapterLoadThreads, adapterBounds);
    }

    public EngineSettings withAdapterBounds(AdapterBounds v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, blockSize, memoryBudgetBytes,
                maxResidentAdapters, maxLoraRank, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads, v);
    }
}
