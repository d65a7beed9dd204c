package io.loraplex.engine.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.engine.tokenizer.ChatStyle;
import io.loraplex.engine.tokenizer.TinyTokenizer;
import io.loraplex.engine.tokenizer.TokenizerKind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Writes a random model in Hugging Face's layout with a real small tokenizer (learned merges,
 * special tokens, a chat template) and a generation config, byte-identical for the same spec.
 */
public final class TinyModel {

    /** The shape and flavour of a generated model; {@code vocab} is the tokenizer size asked for. */
    public record Spec(Architecture arch, int hidden, int layers, int heads, int kvHeads, Integer headDim, int intermediate,
            int vocab, DType dtype, Double ropeTheta, RopeScaling ropeScaling, int maxPositions, Boolean tie, int slidingWindow,
            TokenizerKind tokenizer, ChatStyle chatStyle, int shards, long seed) {

        /** The default generated model of tests and the demo: about 1M parameters, llama style. */
        public static Spec defaults(long seed) {
            return new Spec(Architecture.LLAMA, 128, 4, 4, 2, null, 384, 1024, DType.F32, null, null, 4096, null, 0, null, null, 1,
                    seed);
        }
    }

    /** What {@link #write} produced. */
    public record Written(ModelConfig config, TinyTokenizer.Written tokenizer) {
    }

    private TinyModel() {
    }

    public static Written write(Path dir, Spec s) throws IOException {
        TokenizerKind kind = s.tokenizer() != null ? s.tokenizer()
                : s.arch() == Architecture.MISTRAL || s.arch() == Architecture.PHI3 || s.arch().gemma() ? TokenizerKind.BYTE_FALLBACK
                : TokenizerKind.BYTE_LEVEL;
        ChatStyle style = s.chatStyle() != null ? s.chatStyle() : switch (s.arch()) {
            case LLAMA -> ChatStyle.LLAMA3;
            case QWEN2 -> ChatStyle.CHATML;
            case QWEN3 -> ChatStyle.QWEN3;
            case MISTRAL -> ChatStyle.LLAMA2;
            case PHI3 -> ChatStyle.PHI3;
            case GEMMA2, GEMMA3 -> ChatStyle.GEMMA;
        };
        if (s.shards() < 1) {
            throw new IllegalArgumentException("shards must be at least 1");
        }
        Files.createDirectories(dir);
        TinyTokenizer.Written tok = TinyTokenizer.write(dir, kind, style, s.vocab(), s.seed());
        double theta = s.ropeTheta() != null ? s.ropeTheta() : switch (s.arch()) {
            case LLAMA -> 500000.0;
            case QWEN2, QWEN3 -> 1000000.0;
            case MISTRAL, PHI3, GEMMA2 -> 10000.0;
            case GEMMA3 -> 1000000.0;
        };
        boolean tie = s.tie() != null ? s.tie() : s.arch() == Architecture.QWEN2 || s.arch() == Architecture.QWEN3 || s.arch().gemma();
        int window = s.arch().gemma() && s.slidingWindow() == 0 ? GEMMA_SLIDING_WINDOW : s.slidingWindow();
        Set<Integer> windowLayers = slidingLayers(s.arch(), s.layers(), window);
        int headDim = s.headDim() != null ? s.headDim() : defaultHeadDim(s.arch(), s.hidden(), s.heads());
        // a generated Phi-3 has LongRoPE with a small original max (so tests reach the long factors)
        // and Phi-4-mini's partial rotary factor
        double partialRotary = s.arch() == Architecture.PHI3 ? PHI3_PARTIAL_ROTARY : 1.0;
        RopeScaling scaling = s.ropeScaling() == null && s.arch() == Architecture.PHI3
                ? phi3Longrope((int) (headDim * partialRotary), s.maxPositions()) : s.ropeScaling();
        ModelConfig cfg = new ModelConfig(s.arch(), s.hidden(), s.intermediate(), s.layers(), s.heads(), s.kvHeads(), headDim,
                s.vocab(), 1e-5, theta, scaling, s.maxPositions(), tie, s.arch() == Architecture.QWEN2, false, false,
                window, windowLayers, s.dtype(), tok.bosId().isPresent() ? tok.bosId().getAsInt() : null, tok.eosIds(),
                partialRotary, gemmaFeatures(s.arch(), s.hidden(), s.heads()));
        RandomWeights.write(dir, cfg, s.shards(), s.seed());

        ObjectMapper json = new ObjectMapper();
        ObjectNode gen = json.createObjectNode();
        if (tok.bosId().isPresent()) {
            gen.put("bos_token_id", tok.bosId().getAsInt());
        }
        var eos = gen.putArray("eos_token_id");
        tok.eosIds().forEach(eos::add);
        if (tok.padId().isPresent()) {
            gen.put("pad_token_id", tok.padId().getAsInt());
        }
        Files.writeString(dir.resolve("generation_config.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(gen));
        return new Written(cfg, tok);
    }

    /**
     * The head size when none is given: hidden / heads, except Qwen3, whose head size is set apart from
     * the hidden size (Qwen3-0.6B: 1024 hidden, 16 heads of 128), so generated Qwen3 models get twice it.
     */
    public static int defaultHeadDim(Architecture arch, int hidden, int heads) {
        int derived = hidden / Math.max(1, heads);
        return arch == Architecture.QWEN3 || arch.gemma() ? 2 * derived : derived;
    }

    /** A generated Gemma's window: small, so test prompts cross it. */
    public static final int GEMMA_SLIDING_WINDOW = 16;
    /** A generated Gemma 3's global layers: every third (real ones: every sixth, more than a tiny model has). */
    public static final int GEMMA3_PATTERN = 3;

    /**
     * The layers with a sliding window of a generated model: Gemma 2's even layers, Gemma 3's all but
     * every {@link #GEMMA3_PATTERN}-th (their layer types, kept without a window too), every layer
     * elsewhere; none without a window.
     */
    public static Set<Integer> slidingLayers(Architecture arch, int layers, int window) {
        Set<Integer> out = new TreeSet<>();
        for (int l = 0; (window > 0 || arch.gemma()) && l < layers; l++) {
            boolean sliding = switch (arch) {
                case GEMMA2 -> l % 2 == 0;
                case GEMMA3 -> (l + 1) % GEMMA3_PATTERN != 0;
                default -> true;
            };
            if (sliding) {
                out.add(l);
            }
        }
        return out;
    }

    /**
     * A generated Gemma's settings: query_pre_attn_scalar hidden/heads while the head is twice that
     * (so the two scales differ, as in Gemma 2 27B), Gemma 2's soft-caps (50, 30), Gemma 3's local base
     * 10000; null for the other architectures.
     */
    public static GemmaFeatures gemmaFeatures(Architecture arch, int hidden, int heads) {
        return switch (arch) {
            case GEMMA2 -> new GemmaFeatures(hidden / Math.max(1, heads), 50.0, 30.0, null);
            case GEMMA3 -> new GemmaFeatures(hidden / Math.max(1, heads), null, null, 10000.0);
            default -> null;
        };
    }

    /** Phi-4-mini's {@code partial_rotary_factor}. */
    public static final double PHI3_PARTIAL_ROTARY = 0.75;
    /** The generated Phi-3's {@code original_max_position_embeddings}: small, so a test prompt can exceed it. */
    public static final int PHI3_ORIGINAL_MAX = 64;

    /**
     * LongRoPE factors shaped like Phi-3's (short near 1, long growing from 1 to ~{@code 2·max/original}
     * over the pairs), deterministic, for {@code rotary/2} pairs.
     */
    public static RopeScaling phi3Longrope(int rotaryDim, int maxPositions) {
        int pairs = rotaryDim / 2;
        double scale = Math.max(1.0, (double) maxPositions / PHI3_ORIGINAL_MAX);
        List<Double> shortFactor = new java.util.ArrayList<>();
        List<Double> longFactor = new java.util.ArrayList<>();
        for (int i = 0; i < pairs; i++) {
            double x = pairs == 1 ? 1.0 : (double) i / (pairs - 1);
            shortFactor.add(1.0 + 0.05 * x);
            longFactor.add(1.0 + (2 * scale - 1) * x * x);
        }
        return RopeScaling.longrope(shortFactor, longFactor, PHI3_ORIGINAL_MAX, scale, null);
    }

    /** The files a written model has, for checks. */
    public static List<String> files() {
        return List.of("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json");
    }
}
