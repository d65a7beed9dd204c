package io.loraplex.simulations.fleet;

import com.typesafe.config.Config;

/**
 * How long a simulated GPU node takes: an engine step reads the base weights, the adapters in the
 * batch and the batch's KV cache once (memory bound) or does the tokens' FLOPs (compute bound),
 * whichever is slower, plus a fixed overhead; an adapter moves over the network from the store to
 * host memory (cold) and over the host link to the device (cold and warm).
 *
 * @param baseWeightBytes       bytes of base weights read once per step
 * @param baseParams            base parameters: a token costs {@code 2 * baseParams} FLOPs
 * @param kvBytesPerToken       KV cache bytes per token of context, read once per decode step
 * @param adapterBytesPerRank   adapter bytes per unit of LoRA rank (A and B of every target, every layer)
 * @param memoryBandwidth       device memory bandwidth, bytes per second
 * @param compute               dense FLOP/s at the weights' precision
 * @param stepOverheadSeconds   fixed cost of one step (scheduling, launches, sampling)
 * @param hostToDevice          host → device bandwidth, bytes per second
 * @param network               store → host bandwidth, bytes per second
 * @param networkLatencySeconds the store's time to first byte
 */
public record CostModel(String name, long baseWeightBytes, long baseParams, long kvBytesPerToken, long adapterBytesPerRank,
        double memoryBandwidth, double compute, double stepOverheadSeconds, double hostToDevice, double network,
        double networkLatencySeconds) {

    public CostModel {
        if (memoryBandwidth <= 0 || compute <= 0 || hostToDevice <= 0 || network <= 0) {
            throw new IllegalArgumentException("cost model '" + name + "': memory-bandwidth, compute, host-to-device and network"
                    + " must be > 0, were " + memoryBandwidth + ", " + compute + ", " + hostToDevice + ", " + network);
        }
        if (baseWeightBytes < 0 || baseParams < 0 || kvBytesPerToken < 0 || adapterBytesPerRank <= 0 || stepOverheadSeconds < 0
                || networkLatencySeconds < 0) {
            throw new IllegalArgumentException("cost model '" + name + "': sizes and times must be >= 0 (adapter-bytes-per-rank > 0)");
        }
    }

    /**
     * An H100 SXM serving Llama-3-8B in bf16, from published figures: 3.35 TB/s HBM3, 989 TFLOP/s dense
     * bf16, PCIe 5 x16 at 64 GB/s; 8.03 B parameters (16.06 GB), 32 layers of 8 KV heads of 128 (128 KiB
     * of KV per token); LoRA on q, k, v and o (1.70 MB per rank). Assumed, not published: 3 ms of step
     * overhead, a 100 Gb/s network (12.5 GB/s) and 5 ms to the store's first byte.
     */
    public static CostModel h100() {
        return new CostModel("h100", 16_060_000_000L, 8_030_000_000L, 131_072L, 1_703_936L, 3.35e12, 989e12, 0.003, 64e9,
                12.5e9, 0.005);
    }

    /**
     * This machine's CPU engine on the local cluster's model. Placeholders until measured with
     * {@code loraplex bench} (issue 20's validation supplies them through the {@code cost-models.cpu} config).
     */
    public static CostModel cpuPlaceholder() {
        return new CostModel("cpu", 60_000_000L, 15_000_000L, 18_432L, 73_728L, 10e9, 50e9, 0.002, 5e9, 1e9, 0.001);
    }

    /** Reads one from config: every field named as in {@code reference.conf}'s {@code cost-models}. */
    public static CostModel create(String name, Config c) {
        return new CostModel(name, c.getBytes("base-weight-bytes"), c.getLong("base-params"), c.getBytes("kv-bytes-per-token"),
                c.getBytes("adapter-bytes-per-rank"), c.getDouble("memory-bandwidth"), c.getDouble("compute"),
                c.getDuration("step-overhead").toNanos() / 1e9, c.getDouble("host-to-device"), c.getDouble("network"),
                c.getDuration("network-latency").toNanos() / 1e9);
    }

    /** Bytes of an adapter of LoRA rank {@code rank}. */
    public long adapterBytes(int rank) {
        return adapterBytesPerRank * rank;
    }

    /**
     * One engine step: {@code tokens} tokens through the base (prefills count every prompt token),
     * {@code adapterBytes} of distinct adapters and {@code contextTokens} of KV read.
     */
    public double stepSeconds(long tokens, long adapterBytes, long contextTokens) {
        double memory = (baseWeightBytes + adapterBytes + (double) kvBytesPerToken * contextTokens) / memoryBandwidth;
        double flops = 2.0 * baseParams * tokens / compute;
        return stepOverheadSeconds + Math.max(memory, flops);
    }

    /** Store → host → device for an adapter of {@code bytes}. */
    public double coldLoadSeconds(long bytes) {
        return networkLatencySeconds + bytes / network + bytes / hostToDevice;
    }

    /** Host → device for an adapter of {@code bytes}. */
    public double warmLoadSeconds(long bytes) {
        return bytes / hostToDevice;
    }
}
