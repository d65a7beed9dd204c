package io.loraplex.simulations.fleet;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;

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
 * @param routeSeconds          what a request costs before it reaches a node's engine (the router's arrival, admission,
 *                              placement and hop: its {@code x-loraplex-route-ms}); counted in its time to first token
 */
public record CostModel(String name, long baseWeightBytes, long baseParams, long kvBytesPerToken, long adapterBytesPerRank,
        double memoryBandwidth, double compute, double stepOverheadSeconds, double hostToDevice, double network,
        double networkLatencySeconds, double routeSeconds) {

    /** The resource holding the measured CPU figures, and their path in it. */
    public static final String MEASURED_CPU_RESOURCE = "cpu-cost-model.conf";
    public static final String MEASURED_CPU_PATH = "loraplex.simulations.cpu-cost-model";

    public CostModel {
        if (memoryBandwidth <= 0 || compute <= 0 || hostToDevice <= 0 || network <= 0) {
            throw new IllegalArgumentException("cost model '" + name + "': memory-bandwidth, compute, host-to-device and network"
                    + " must be > 0, were " + memoryBandwidth + ", " + compute + ", " + hostToDevice + ", " + network);
        }
        if (baseWeightBytes < 0 || baseParams < 0 || kvBytesPerToken < 0 || adapterBytesPerRank <= 0 || stepOverheadSeconds < 0
                || networkLatencySeconds < 0 || routeSeconds < 0) {
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
                12.5e9, 0.005, 0);
    }

    /** This machine's CPU engine on the local cluster's model: {@link #measuredCpu} of {@value #MEASURED_CPU_RESOURCE}. */
    public static CostModel cpu() {
        return measuredCpu("cpu", ConfigFactory.parseResources(CostModel.class.getClassLoader(), MEASURED_CPU_RESOURCE).resolve()
                .getConfig(MEASURED_CPU_PATH));
    }

    /**
     * Reads one from config: every field named as in {@code fleet.conf}'s {@code cost-models}, or, for a model that
     * says {@code measured = "<resource>"}, {@link #measuredCpu} of that resource (the figures stay in one file).
     */
    public static CostModel create(String name, Config c) {
        if (c.hasPath("measured")) {
            String resource = c.getString("measured");
            Config measured = ConfigFactory.parseResources(CostModel.class.getClassLoader(), resource).resolve();
            if (!measured.hasPath(MEASURED_CPU_PATH)) {
                throw new IllegalArgumentException("fleet.cost-models." + name + ".measured: the resource '" + resource
                        + "' has no " + MEASURED_CPU_PATH + " section");
            }
            return measuredCpu(name, measured.getConfig(MEASURED_CPU_PATH));
        }
        return new CostModel(name, c.getBytes("base-weight-bytes"), c.getLong("base-params"), c.getBytes("kv-bytes-per-token"),
                c.getBytes("adapter-bytes-per-rank"), c.getDouble("memory-bandwidth"), c.getDouble("compute"),
                c.getDuration("step-overhead").toNanos() / 1e9, c.getDouble("host-to-device"), c.getDouble("network"),
                c.getDuration("network-latency").toNanos() / 1e9,
                c.hasPath("route-overhead") ? c.getDuration("route-overhead").toNanos() / 1e9 : 0);
    }

    /**
     * The roofline fitted to the figures {@code loraplex bench} and the adapter-load bench measured (the keys of
     * {@code cpu-cost-model.conf}): the prefill slope is the compute rate (a token costs {@code 2 * base-params} FLOPs,
     * so a step of n tokens takes n times {@code prefill-ms-per-token}); the batch-1 decode step reads the base weights
     * once, which gives the memory bandwidth; a warm load is the adapter over the host link, which gives its
     * bandwidth; a cold load is the fetch from the store and the engine's cold load, all latency for an adapter this
     * small (no bandwidth of the fetch was measured apart from it, so the network's bandwidth is taken as unbounded);
     * the route overhead is the router's p50. The decode steps of larger batches are not fitted: a roofline has one
     * compute rate, and the validation's load keeps batches at 1 or 2.
     */
    static CostModel measuredCpu(String name, Config m) {
        long adapterBytes = m.getBytes("adapter-bytes");
        int adapterRank = m.getInt("adapter-rank");
        long weightBytes = m.getBytes("base-weight-bytes");
        long params = m.getLong("base-params");
        double prefillSeconds = m.getDouble("prefill-ms-per-token") / 1000;
        double decodeOneSeconds = m.getDouble("decode-step-ms-by-batch.\"1\"") / 1000;
        double warmSeconds = m.getDouble("adapter-load-warm-ms") / 1000;
        double coldSeconds = m.getDouble("adapter-load-cold-ms") / 1000;
        double fetchSeconds = m.getDouble("adapter-fetch-ms") / 1000;
        double hostToDevice = adapterBytes / warmSeconds;
        return new CostModel(name, weightBytes, params, m.getBytes("kv-bytes-per-token"), adapterBytes / adapterRank,
                weightBytes / decodeOneSeconds, 2.0 * params / prefillSeconds, m.getDouble("step-overhead-ms") / 1000, hostToDevice,
                Double.MAX_VALUE, fetchSeconds + coldSeconds - warmSeconds, m.getDouble("route-ms-p50") / 1000);
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
