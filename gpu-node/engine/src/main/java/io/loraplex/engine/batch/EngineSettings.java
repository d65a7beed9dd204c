package io.loraplex.engine.batch;

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
        int adapterLoadThreads) {

    public EngineSettings {
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
        return new EngineSettings(64, 512, 256, 16, 512L << 20, 1024, 64, 1L << 30, 32, Integer.MAX_VALUE, 2);
    }

    /**
     * Settings from string values (the keys are the component names above), over the defaults:
     * how the GPU node maps its configuration without the engine depending on a config library.
     */
    public static EngineSettings fromMap(Map<String, String> values) {
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
                intOf(values, "adapterLoadThreads", d.adapterLoadThreads));
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

    public EngineSettings withMaxRunning(int v) {
        return new EngineSettings(v, maxTokensPerStep, prefillChunk, blockSize, memoryBudgetBytes, maxResidentAdapters,
                maxLoraRank, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads);
    }

    public EngineSettings withMaxTokensPerStep(int v) {
        return new EngineSettings(maxRunning, v, prefillChunk, blockSize, memoryBudgetBytes, maxResidentAdapters,
                maxLoraRank, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads);
    }

    public EngineSettings withPrefillChunk(int v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, v, blockSize, memoryBudgetBytes, maxResidentAdapters,
                maxLoraRank, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads);
    }

    public EngineSettings withBlockSize(int v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, v, memoryBudgetBytes, maxResidentAdapters,
                maxLoraRank, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads);
    }

    public EngineSettings withMemoryBudgetBytes(long v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, blockSize, v, maxResidentAdapters,
                maxLoraRank, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads);
    }

    public EngineSettings withMaxResidentAdapters(int v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, blockSize, memoryBudgetBytes, v,
                maxLoraRank, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads);
    }

    public EngineSettings withMaxLoraRank(int v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, blockSize, memoryBudgetBytes,
                maxResidentAdapters, v, warmBudgetBytes, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads);
    }

    public EngineSettings withWarmBudgetBytes(long v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, blockSize, memoryBudgetBytes,
                maxResidentAdapters, maxLoraRank, v, maxRunningPerTenant, maxKvBlocksPerTenant, adapterLoadThreads);
    }

    public EngineSettings withMaxRunningPerTenant(int v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, blockSize, memoryBudgetBytes,
                maxResidentAdapters, maxLoraRank, warmBudgetBytes, v, maxKvBlocksPerTenant, adapterLoadThreads);
    }

    public EngineSettings withMaxKvBlocksPerTenant(int v) {
        return new EngineSettings(maxRunning, maxTokensPerStep, prefillChunk, blockSize, memoryBudgetBytes,
                maxResidentAdapters, maxLoraRank, warmBudgetBytes, maxRunningPerTenant, v, adapterLoadThreads);
    }
}
