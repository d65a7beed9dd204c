package io.loraplex.engine.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Writes random weights for a config in Hugging Face's layout, deterministic by seed: linear
 * weights ~ N(0, 1/in) so activations keep unit scale, embeddings ~ N(0, 1), norm weights near 1
 * and biases small, so that mixing up any two tensors changes the logits.
 *
 * <p>Every value is drawn while its tensor is written ({@link SafetensorsWriter.ValueSource}), from one
 * random stream in file order, so the heap holds a chunk, never a tensor: an 8B model's embedding alone
 * is 525M values. The bytes are those of drawing every tensor up front in the same order.
 */
public final class RandomWeights {

    private RandomWeights() {
    }

    /** Writes {@code config.json} and the weights (in {@code shards} files when more than one). */
    public static void write(Path dir, ModelConfig cfg, int shards, long seed) throws IOException {
        Files.createDirectories(dir);
        ObjectMapper json = new ObjectMapper();
        Files.writeString(dir.resolve("config.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(cfg.toJson()));

        SplittableRandom random = new SplittableRandom(seed);
        DType dtype = cfg.torchDtype();
        int c = cfg.hiddenSize();
        Shards out = new Shards(shards > 1 ? (estimateBytes(cfg) + shards - 1) / shards : Long.MAX_VALUE, shards);

        // Gemma scales its embeddings by √C, so its generated ones start at 1/√C to keep unit scale
        double embedStd = cfg.architecture().gemma() ? 1.0 / Math.sqrt(c) : 1.0;
        out.add("model.embed_tokens.weight", dtype, gaussian(random, embedStd), cfg.vocabSize(), c);
        for (int l = 0; l < cfg.numLayers(); l++) {
            String p = "model.layers." + l + ".";
            out.add(p + "input_layernorm.weight", dtype, norm(cfg, random), c);
            if (cfg.architecture() == Architecture.PHI3) {
                // Phi-3 stores q, k and v stacked by rows in one tensor, and gate and up likewise
                linear(out, random, dtype, p + "self_attn.qkv_proj", cfg.qDim() + 2 * cfg.kvDim(), c, false);
            } else {
                linear(out, random, dtype, p + "self_attn.q_proj", cfg.qDim(), c, cfg.qkvBias());
                linear(out, random, dtype, p + "self_attn.k_proj", cfg.kvDim(), c, cfg.qkvBias());
                linear(out, random, dtype, p + "self_attn.v_proj", cfg.kvDim(), c, cfg.qkvBias());
            }
            linear(out, random, dtype, p + "self_attn.o_proj", c, cfg.qDim(), cfg.oBias());
            if (cfg.qkNorm()) {
                out.add(p + "self_attn.q_norm.weight", dtype, norm(cfg, random), cfg.headDim());
                out.add(p + "self_attn.k_norm.weight", dtype, norm(cfg, random), cfg.headDim());
            }
            out.add(p + "post_attention_layernorm.weight", dtype, norm(cfg, random), c);
            if (cfg.postNorms()) {
                out.add(p + "pre_feedforward_layernorm.weight", dtype, norm(cfg, random), c);
                out.add(p + "post_feedforward_layernorm.weight", dtype, norm(cfg, random), c);
            }
            if (cfg.architecture() == Architecture.PHI3) {
                linear(out, random, dtype, p + "mlp.gate_up_proj", 2 * cfg.intermediateSize(), c, false);
            } else {
                linear(out, random, dtype, p + "mlp.gate_proj", cfg.intermediateSize(), c, cfg.mlpBias());
                linear(out, random, dtype, p + "mlp.up_proj", cfg.intermediateSize(), c, cfg.mlpBias());
            }
            linear(out, random, dtype, p + "mlp.down_proj", c, cfg.intermediateSize(), cfg.mlpBias());
        }
        out.add("model.norm.weight", dtype, norm(cfg, random), c);
        if (!cfg.tieWordEmbeddings()) {
            out.add("lm_head.weight", dtype, gaussian(random, 1.0 / Math.sqrt(c)), cfg.vocabSize(), c);
        }
        List<SafetensorsWriter> files = out.files;
        long totalBytes = files.stream().mapToLong(SafetensorsWriter::dataBytes).sum();

        if (files.size() == 1) {
            files.getFirst().write(dir.resolve(WeightFiles.SINGLE));
            return;
        }
        ObjectNode index = json.createObjectNode();
        index.putObject("metadata").put("total_size", totalBytes);
        ObjectNode map = index.putObject("weight_map");
        for (int i = 0; i < files.size(); i++) {
            String name = String.format("model-%05d-of-%05d.safetensors", i + 1, files.size());
            files.get(i).write(dir.resolve(name));
            for (String tensor : files.get(i).names()) {
                map.put(tensor, name);
            }
        }
        Files.writeString(dir.resolve(WeightFiles.INDEX), json.writerWithDefaultPrettyPrinter().writeValueAsString(index));
    }

    /** Tensors in order, starting a new file once one holds its share of the bytes. */
    private static final class Shards {
        final List<SafetensorsWriter> files = new ArrayList<>();
        final long perShard;
        final int maxShards;

        Shards(long perShard, int maxShards) {
            this.perShard = perShard;
            this.maxShards = Math.max(1, maxShards);
            files.add(new SafetensorsWriter());
        }

        void add(String name, DType dtype, SafetensorsWriter.ValueSource values, long... shape) {
            if (files.getLast().dataBytes() >= perShard && files.size() < maxShards) {
                files.add(new SafetensorsWriter());
            }
            files.getLast().add(name, dtype, values, shape);
        }
    }

    private static long estimateBytes(ModelConfig cfg) {
        return cfg.parameterCount() * cfg.torchDtype().bytes();
    }

    private static void linear(Shards out, SplittableRandom random, DType dtype, String name, int rows, int cols,
            boolean bias) {
        out.add(name + ".weight", dtype, gaussian(random, 1.0 / Math.sqrt(cols)), rows, cols);
        if (bias) {
            out.add(name + ".bias", dtype, gaussian(random, 0.1), rows);
        }
    }

    /** Norm weights near 1, or for Gemma's zero-centred norms ({@code 1 + w}) near 0. */
    private static SafetensorsWriter.ValueSource norm(ModelConfig cfg, SplittableRandom random) {
        SafetensorsWriter.ValueSource g = gaussian(random, 0.1);
        return (dst, count) -> {
            g.next(dst, count);
            if (!cfg.normAddsOne()) {
                for (int i = 0; i < count; i++) {
                    dst[i] += 1.0f;
                }
            }
        };
    }

    /** N(0, std²) values drawn from {@code random} as the writer asks for them. */
    static SafetensorsWriter.ValueSource gaussian(SplittableRandom random, double std) {
        return (dst, count) -> {
            for (int i = 0; i < count; i++) {
                dst[i] = (float) (random.nextGaussian() * std);
            }
        };
    }

    public static float[] gaussian(SplittableRandom random, long n, double std) {
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor of " + n + " elements is too large to generate");
        }
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (random.nextGaussian() * std);
        }
        return v;
    }
}
