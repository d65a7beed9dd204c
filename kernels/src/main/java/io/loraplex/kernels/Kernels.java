package io.loraplex.kernels;

import static io.loraplex.kernels.ParamType.BF16_PTR;
import static io.loraplex.kernels.ParamType.CONST_BF16_PTR;
import static io.loraplex.kernels.ParamType.CONST_F32_PTR;
import static io.loraplex.kernels.ParamType.CONST_F64_PTR;
import static io.loraplex.kernels.ParamType.CONST_I32_PTR;
import static io.loraplex.kernels.ParamType.CONST_I64_PTR;
import static io.loraplex.kernels.ParamType.F32;
import static io.loraplex.kernels.ParamType.F32_PTR;
import static io.loraplex.kernels.ParamType.F64;
import static io.loraplex.kernels.ParamType.I32;
import static io.loraplex.kernels.ParamType.I32_PTR;

import io.loraplex.kernels.KernelSignature.Param;
import java.util.List;

/**
 * Every kernel entry point of {@code src/main/cuda}, with its parameters in order. The meaning,
 * layouts and launch shape of each are documented at the top of its {@code .cu} file.
 */
public final class Kernels {

    private Kernels() {
    }

    /** The largest head size {@link #PAGED_ATTENTION_DECODE} takes ({@code MAX_HEAD_DIM} in paged_attention.cu). */
    public static final int MAX_HEAD_DIM = 256;

    /** The largest rotary_dim / 2 {@link #ROPE} takes ({@code MAX_HALF} in rope.cu). */
    public static final int MAX_ROTARY_HALF = 256;

    /** The most rows one tile of {@link #PAGED_ATTENTION_PREFILL} takes ({@code TILE_ROWS} in paged_attention.cu). */
    public static final int PREFILL_TILE_ROWS = 16;

    /** {@code out[t, :] = table[tokens[t], :]}. */
    public static final KernelSignature EMBEDDING_GATHER = new KernelSignature(KernelImage.EMBEDDING,
            "loraplex_embedding_gather", List.of(
                    p("out", BF16_PTR), p("table", CONST_BF16_PTR), p("tokens", CONST_I32_PTR),
                    p("num_tokens", I32), p("hidden", I32), p("vocab", I32)));

    /** {@code out = x / rms(x) · (add_one ? 1 + w : w)} per row. */
    public static final KernelSignature RMSNORM = new KernelSignature(KernelImage.RMSNORM,
            "loraplex_rmsnorm", List.of(
                    p("out", BF16_PTR), p("x", CONST_BF16_PTR), p("weight", CONST_BF16_PTR),
                    p("rows", I32), p("n", I32), p("eps", F32), p("add_one", I32)));

    /** {@code out[r] = rmsnorm(x[row_index[r]])}: the norm of gathered rows (the final norm of the logit rows). */
    public static final KernelSignature RMSNORM_ROWS = new KernelSignature(KernelImage.RMSNORM,
            "loraplex_rmsnorm_rows", List.of(
                    p("out", BF16_PTR), p("x", CONST_BF16_PTR), p("weight", CONST_BF16_PTR),
                    p("row_index", CONST_I32_PTR),
                    p("rows", I32), p("n", I32), p("eps", F32), p("add_one", I32)));

    /** Rotate-half RoPE on q and k in place, per-token positions, partial rotary. */
    public static final KernelSignature ROPE = new KernelSignature(KernelImage.ROPE,
            "loraplex_rope", List.of(
                    p("q", BF16_PTR), p("k", BF16_PTR), p("positions", CONST_I32_PTR),
                    p("inv_freq", CONST_F64_PTR), p("freq_row", CONST_I32_PTR),
                    p("num_tokens", I32), p("num_heads", I32), p("num_kv_heads", I32), p("head_dim", I32),
                    p("rotary_dim", I32), p("q_stride", I32), p("k_stride", I32), p("attention_scale", F64)));

    /** {@code out = silu(gate) · up}. */
    public static final KernelSignature SWIGLU = new KernelSignature(KernelImage.SWIGLU,
            "loraplex_swiglu", List.of(
                    p("out", BF16_PTR), p("gate", CONST_BF16_PTR), p("up", CONST_BF16_PTR),
                    p("num_tokens", I32), p("intermediate", I32),
                    p("out_stride", I32), p("gate_stride", I32), p("up_stride", I32)));

    /** LoRA shrink, one adapter slot per token (decode). */
    public static final KernelSignature LORA_SHRINK_GATHERED = new KernelSignature(KernelImage.LORA_SHRINK,
            "loraplex_lora_shrink_gathered", List.of(
                    p("shrunk", F32_PTR), p("x", CONST_BF16_PTR), p("arena", CONST_BF16_PTR),
                    p("slots", CONST_I32_PTR), p("ranks", CONST_I32_PTR), p("row_start", CONST_I32_PTR),
                    p("a_rows", CONST_I64_PTR),
                    p("num_tokens", I32), p("in_features", I32), p("x_stride", I32), p("shrunk_stride", I32)));

    /** LoRA shrink, one adapter slot per segment of tokens (prefill). */
    public static final KernelSignature LORA_SHRINK_SEGMENTED = new KernelSignature(KernelImage.LORA_SHRINK,
            "loraplex_lora_shrink_segmented", List.of(
                    p("shrunk", F32_PTR), p("x", CONST_BF16_PTR), p("arena", CONST_BF16_PTR),
                    p("seg_starts", CONST_I32_PTR), p("seg_slots", CONST_I32_PTR), p("ranks", CONST_I32_PTR),
                    p("row_start", CONST_I32_PTR), p("a_rows", CONST_I64_PTR),
                    p("num_segments", I32), p("in_features", I32), p("x_stride", I32), p("shrunk_stride", I32)));

    /** LoRA expand, one adapter slot per token (decode). */
    public static final KernelSignature LORA_EXPAND_GATHERED = new KernelSignature(KernelImage.LORA_EXPAND,
            "loraplex_lora_expand_gathered", List.of(
                    p("y", BF16_PTR), p("shrunk", CONST_F32_PTR), p("arena", CONST_BF16_PTR),
                    p("slots", CONST_I32_PTR), p("ranks", CONST_I32_PTR), p("row_start", CONST_I32_PTR),
                    p("b_rows", CONST_I64_PTR), p("scales", CONST_F32_PTR),
                    p("num_tokens", I32), p("out_features", I32), p("y_stride", I32), p("shrunk_stride", I32)));

    /** LoRA expand, one adapter slot per segment of tokens (prefill). */
    public static final KernelSignature LORA_EXPAND_SEGMENTED = new KernelSignature(KernelImage.LORA_EXPAND,
            "loraplex_lora_expand_segmented", List.of(
                    p("y", BF16_PTR), p("shrunk", CONST_F32_PTR), p("arena", CONST_BF16_PTR),
                    p("seg_starts", CONST_I32_PTR), p("seg_slots", CONST_I32_PTR), p("ranks", CONST_I32_PTR),
                    p("row_start", CONST_I32_PTR), p("b_rows", CONST_I64_PTR), p("scales", CONST_F32_PTR),
                    p("num_segments", I32), p("out_features", I32), p("y_stride", I32), p("shrunk_stride", I32)));

    /** Decode attention over the paged KV arena, GQA, optional sliding window. */
    public static final KernelSignature PAGED_ATTENTION_DECODE = new KernelSignature(KernelImage.PAGED_ATTENTION,
            "loraplex_paged_attention_decode", List.of(
                    p("out", BF16_PTR), p("q", CONST_BF16_PTR), p("kv", CONST_BF16_PTR),
                    p("block_tables", CONST_I32_PTR), p("context_lens", CONST_I32_PTR),
                    p("num_seqs", I32), p("num_heads", I32), p("num_kv_heads", I32), p("head_dim", I32),
                    p("layer", I32), p("block_size", I32), p("page_elems", I32), p("max_blocks", I32),
                    p("window", I32), p("scale", F32), p("q_stride", I32), p("out_stride", I32)));

    /** Prefill attention over the paged KV arena: the decode kernel's rows, a tile of one sequence's rows per block. */
    public static final KernelSignature PAGED_ATTENTION_PREFILL = new KernelSignature(KernelImage.PAGED_ATTENTION,
            "loraplex_paged_attention_prefill", List.of(
                    p("out", BF16_PTR), p("q", CONST_BF16_PTR), p("kv", CONST_BF16_PTR),
                    p("block_tables", CONST_I32_PTR), p("context_lens", CONST_I32_PTR), p("tile_starts", CONST_I32_PTR),
                    p("num_tiles", I32), p("num_heads", I32), p("num_kv_heads", I32), p("head_dim", I32),
                    p("layer", I32), p("block_size", I32), p("page_elems", I32), p("max_blocks", I32),
                    p("window", I32), p("scale", F32), p("q_stride", I32), p("out_stride", I32)));

    /** Each token's key and value rows into its KV block of the page arena, at its position. */
    public static final KernelSignature KV_STORE = new KernelSignature(KernelImage.KV_STORE,
            "loraplex_kv_store", List.of(
                    p("kv", BF16_PTR), p("k", CONST_BF16_PTR), p("v", CONST_BF16_PTR),
                    p("block_tables", CONST_I32_PTR), p("positions", CONST_I32_PTR),
                    p("num_tokens", I32), p("kv_dim", I32), p("layer", I32), p("block_size", I32),
                    p("page_elems", I32), p("max_blocks", I32), p("k_stride", I32), p("v_stride", I32)));

    /** {@code x += delta}, the residual connection. */
    public static final KernelSignature ADD = new KernelSignature(KernelImage.ADD,
            "loraplex_add", List.of(
                    p("x", BF16_PTR), p("delta", CONST_BF16_PTR),
                    p("rows", I32), p("n", I32), p("x_stride", I32), p("delta_stride", I32)));

    /** {@code y[r, :] += bias}, a projection's bias. */
    public static final KernelSignature ADD_BIAS = new KernelSignature(KernelImage.ADD,
            "loraplex_add_bias", List.of(
                    p("y", BF16_PTR), p("bias", CONST_BF16_PTR),
                    p("rows", I32), p("n", I32), p("y_stride", I32)));

    /** Per logit row: max, log-sum-exp and the first index of the max (the sampling inputs). */
    public static final KernelSignature LOGITS_ARGMAX = new KernelSignature(KernelImage.LOGITS,
            "loraplex_logits_argmax", List.of(
                    p("stats", F32_PTR), p("argmax", I32_PTR), p("logits", CONST_F32_PTR),
                    p("rows", I32), p("vocab", I32), p("stride", I32)));

    /** Every entry point, grouped by file in {@link KernelImage} order. */
    public static final List<KernelSignature> ALL = List.of(
            EMBEDDING_GATHER, RMSNORM, RMSNORM_ROWS, ROPE, SWIGLU,
            LORA_SHRINK_GATHERED, LORA_SHRINK_SEGMENTED, LORA_EXPAND_GATHERED, LORA_EXPAND_SEGMENTED,
            PAGED_ATTENTION_DECODE, PAGED_ATTENTION_PREFILL, KV_STORE, ADD, ADD_BIAS, LOGITS_ARGMAX);

    /** The entry points in {@code image}. */
    public static List<KernelSignature> in(KernelImage image) {
        return ALL.stream().filter(k -> k.image() == image).toList();
    }

    private static Param p(String name, ParamType type) {
        return new Param(name, type);
    }
}
