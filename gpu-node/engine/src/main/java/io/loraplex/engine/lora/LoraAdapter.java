package io.loraplex.engine.lora;

import io.loraplex.cluster.ContentHash;

/**
 * A validated LoRA adapter, held in the heap: for each layer and target module, its weights or
 * null where the adapter leaves the module alone. Immutable once loaded.
 */
public final class LoraAdapter {

    private final String name;
    private final ContentHash contentHash;
    private final AdapterConfig config;
    private final LoraWeights[][] weights; // (L, TargetModule.COUNT), null where not adapted
    private final int maxRank;
    private final long parameterCount;

    public LoraAdapter(String name, ContentHash contentHash, AdapterConfig config, LoraWeights[][] weights) {
        this.name = name;
        this.contentHash = contentHash;
        this.config = config;
        this.weights = weights;
        int max = 0;
        long params = 0;
        for (LoraWeights[] layer : weights) {
            for (LoraWeights w : layer) {
                if (w != null) {
                    max = Math.max(max, w.rank());
                    params += w.parameterCount();
                }
            }
        }
        this.maxRank = max;
        this.parameterCount = params;
    }

    public String name() {
        return name;
    }

    public ContentHash contentHash() {
        return contentHash;
    }

    public AdapterConfig config() {
        return config;
    }

    /** The weights for one projection, or null when the adapter does not touch it. */
    public LoraWeights weights(int layer, TargetModule module) {
        return weights[layer][module.ordinal()];
    }

    public int numLayers() {
        return weights.length;
    }

    public int maxRank() {
        return maxRank;
    }

    public long parameterCount() {
        return parameterCount;
    }

    /** Bytes the weights take as f32. */
    public long byteSize() {
        return parameterCount * Float.BYTES;
    }

    @Override
    public String toString() {
        return "LoraAdapter[" + name + " " + contentHash.shortHex() + " max rank " + maxRank + "]";
    }
}
