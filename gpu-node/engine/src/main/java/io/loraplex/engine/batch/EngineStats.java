package io.loraplex.engine.batch;

/**
 * A snapshot of the engine's counters and gauges, taken at the end of a step.
 *
 * @param steps              forward steps run
 * @param promptTokens       prompt tokens computed (prefix-cache hits excluded)
 * @param generatedTokens    tokens sampled
 * @param preemptions        running requests pushed back to the queue for lack of KV blocks
 * @param adapterLoads       cold adapter loads completed
 * @param adapterWarmHits    adapters made hot again from host memory
 * @param adapterEvictions   adapters dropped from the hot tier
 * @param prefixLookups      full blocks looked up in the prefix cache
 * @param prefixHits         of those, found
 * @param running            requests in the running batch
 * @param waiting            requests queued
 * @param totalPages         pages of the arena (the whole memory budget)
 * @param freePages          pages free now
 * @param kvPages            pages holding KV blocks (cached idle ones included)
 * @param adapterPages       pages holding adapter weights
 * @param cachedBlocks       KV blocks in the prefix cache
 * @param idleCachedBlocks   of those, held by no request (their pages are reclaimable at once)
 * @param residentAdapters   adapters hot now
 * @param loadingAdapters    adapters being loaded or placed
 * @param warmAdapters       adapters in host memory only
 */
public record EngineStats(
        long steps,
        long promptTokens,
        long generatedTokens,
        long preemptions,
        long adapterLoads,
        long adapterWarmHits,
        long adapterEvictions,
        long prefixLookups,
        long prefixHits,
        int running,
        int waiting,
        int totalPages,
        int freePages,
        int kvPages,
        int adapterPages,
        int cachedBlocks,
        int idleCachedBlocks,
        int residentAdapters,
        int loadingAdapters,
        int warmAdapters) {
}
