package io.loraplex.engine;

import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import io.loraplex.engine.model.RandomWeights;
import io.loraplex.engine.model.RopeScaling;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/** Small random models (weights and config only) for math tests. */
public final class TestModels {

    private TestModels() {
    }

    /** Llama style: GQA (4 query heads over 2 KV heads), untied lm_head, llama3 RoPE scaling. */
    public static ModelConfig llama(DType dtype) {
        return new ModelConfig(Architecture.LLAMA, 64, 160, 2, 4, 2, 16, 97, 1e-5, 500000.0,
                RopeScaling.llama3(8.0, 1.0, 4.0, 32), 2048, false, false, false, false, 0, Set.of(), dtype, 1, List.of(2));
    }

    /** Qwen2 style: q/k/v bias, tied embeddings, head_dim 12, one KV head. */
    public static ModelConfig qwen2(DType dtype) {
        return new ModelConfig(Architecture.QWEN2, 48, 96, 2, 4, 1, 12, 101, 1e-6, 1000000.0,
                null, 2048, true, true, false, false, 0, Set.of(), dtype, null, List.of(3));
    }

    /** Qwen3 style: per-head q/k norms, no biases, tied embeddings, head_dim 16 while hidden/heads is 12. */
    public static ModelConfig qwen3(DType dtype) {
        return new ModelConfig(Architecture.QWEN3, 48, 96, 2, 4, 2, 16, 103, 1e-6, 1000000.0,
                null, 2048, true, false, false, false, 0, Set.of(), dtype, null, List.of(3));
    }

    /** Qwen3 with an untied lm_head and one KV head, head_dim 8 while hidden/heads is 16 (as in the larger Qwen3s). */
    public static ModelConfig qwen3Untied(DType dtype) {
        return new ModelConfig(Architecture.QWEN3, 64, 128, 2, 4, 1, 8, 97, 1e-6, 1000000.0,
                null, 2048, false, false, false, false, 0, Set.of(), dtype, null, List.of(3));
    }

    /** Mistral style: a sliding window of 5 positions on every layer, head_dim 16 with 8 heads. */
    public static ModelConfig mistral(DType dtype) {
        return new ModelConfig(Architecture.MISTRAL, 64, 128, 2, 8, 2, 16, 89, 1e-5, 10000.0,
                null, 2048, false, false, false, false, 5, Set.of(0, 1), dtype, 1, List.of(2));
    }

    /** Llama with attention and MLP biases, head_dim larger than hidden/heads. */
    public static ModelConfig llamaBiased(DType dtype) {
        return new ModelConfig(Architecture.LLAMA, 32, 64, 2, 2, 2, 24, 50, 1e-5, 10000.0,
                RopeScaling.linear(2.0), 2048, false, true, true, true, 0, Set.of(), dtype, 1, List.of(2));
    }

    /**
     * Phi-3 style: fused qkv_proj and gate_up_proj, LongRoPE with an original max of 64 (so a prompt
     * of more than 64 tokens takes the long factors) and Phi-4-mini's partial rotary factor 0.75
     * (12 of 16 dims rotate).
     */
    public static ModelConfig phi3(DType dtype) {
        return new ModelConfig(Architecture.PHI3, 64, 128, 2, 4, 2, 16, 97, 1e-5, 10000.0,
                io.loraplex.engine.model.TinyModel.phi3Longrope(12, 256), 256, false, false, false, false, 0, Set.of(), dtype,
                1, List.of(2), 0.75);
    }

    /**
     * Gemma 2 style: 3 layers (0 and 2 sliding, window 5), head_dim 16 while hidden/heads and
     * query_pre_attn_scalar are 12, soft-caps small enough to bend the scores (3) and logits (4),
     * hidden 48 so √C (6.928…) rounds differently in bf16 (6.9375).
     */
    public static ModelConfig gemma2(DType dtype) {
        return new ModelConfig(Architecture.GEMMA2, 48, 96, 3, 4, 2, 16, 97, 1e-6, 10000.0,
                null, 2048, true, false, false, false, 5, Set.of(0, 2), dtype, 2, List.of(1), 1.0,
                new io.loraplex.engine.model.GemmaFeatures(12, 3.0, 4.0, null));
    }

    /**
     * Gemma 3 style: 3 layers (0 and 1 sliding with window 5 and the local RoPE base 10000, layer 2
     * global with base 1e6 and linear scaling 4), q/k norms, one KV head, head_dim 24 while
     * query_pre_attn_scalar is 20, no soft-caps, hidden 80 (√80 rounds to 8.9375 in bf16).
     */
    public static ModelConfig gemma3(DType dtype) {
        return new ModelConfig(Architecture.GEMMA3, 80, 160, 3, 4, 1, 24, 97, 1e-6, 1000000.0,
                RopeScaling.linear(4.0), 2048, true, false, false, false, 5, Set.of(0, 1), dtype, 2, List.of(1), 1.0,
                new io.loraplex.engine.model.GemmaFeatures(20, null, null, 10000.0));
    }

    public static Path write(Path dir, ModelConfig cfg, long seed) throws IOException {
        Files.createDirectories(dir);
        RandomWeights.write(dir, cfg, 1, seed);
        return dir;
    }

    /** The directory of the repository, found upward from the working directory. */
    public static Path repoRoot() {
        Path p = Path.of("").toAbsolutePath();
        while (p != null && !Files.isDirectory(p.resolve("tools/reference"))) {
            p = p.getParent();
        }
        if (p == null) {
            throw new IllegalStateException("cannot find the repository root (tools/reference) above " + Path.of("").toAbsolutePath());
        }
        return p;
    }

    public static int[] tokens(int n, int vocab, long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        return IntStream.range(0, n).map(i -> r.nextInt(vocab)).toArray();
    }

    public static String json(int[] tokens) {
        return IntStream.of(tokens).mapToObj(Integer::toString).collect(Collectors.joining(",", "[", "]"));
    }
}
