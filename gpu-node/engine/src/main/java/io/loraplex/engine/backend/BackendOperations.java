package io.loraplex.engine.backend;

import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.lora.TargetModule;
import java.util.List;

/**
 * Where a backend plugs in: the operations one forward step is made of. {@link LayerSequence} calls
 * them in the model's order (embed; per layer: norm, q/k/v projections and their LoRA, rope, KV
 * write, attention, o projection and its LoRA, residual, norm, gate/up and their LoRA, SwiGLU, down
 * and its LoRA, residual; final norm, lm head), so the layer sequence is written once and a backend
 * (reference, CPU, CUDA) supplies only these.
 *
 * <p>Activations stay inside the backend (host arrays on the CPU, device memory on a GPU) and are
 * named by {@link Activation}; the only data that leaves it are the logits rows, the sampler's
 * input. A backend runs one step at a time: {@link #begin} binds the step's batch and KV arena, and
 * every later operation refers to that step. Shapes: {@code T} tokens of the step, {@code C} hidden,
 * {@code NH}/{@code NKV} heads, {@code HS} head size, {@code I} MLP width, {@code R} LoRA rank,
 * {@code rows} the step's logit rows.
 */
public interface BackendOperations extends Backend {

    /** The activations of one step, each a matrix of one row per token (or per logit row). */
    enum Activation {
        /** (T, C) the residual stream. */
        X,
        /** (T, C) the normed residual, input of the q/k/v and gate/up projections. */
        H,
        /** (T, NH·HS) queries. */
        Q,
        /** (T, NKV·HS) keys. */
        K,
        /** (T, NKV·HS) values. */
        V,
        /** (T, NH·HS) attention output, input of the o projection. */
        ATT,
        /** (T, C) a layer's contribution to the residual stream (o or down projection). */
        DELTA,
        /** (T, I) gate projection, then SwiGLU's output. */
        GATE,
        /** (T, I) up projection. */
        UP,
        /** (rows, C) the final-normed residual of the logit rows, input of the lm head. */
        FINAL
    }

    /**
     * Which norm weight of a layer: {@code ATTENTION} and {@code MLP} norm rows of C; {@code QUERY}
     * and {@code KEY} (Qwen3's and Gemma 3's {@code q_norm}, {@code k_norm}) norm each head of q or k,
     * HS wide, on its own; {@code POST_ATTENTION} and {@code POST_MLP} (Gemma's post-norms) norm rows
     * of C of the attention and MLP outputs before their residual adds.
     */
    enum Norm {
        ATTENTION, MLP, QUERY, KEY, POST_ATTENTION, POST_MLP
    }

    /** A base projection of one layer: {@code out = in·Wᵀ + b} with the module's weight and bias. */
    record Projection(TargetModule module, Activation out) {
    }

    /**
     * Starts a step: sizes the activations for {@code batch.numTokens()} tokens and prepares what the
     * step's operations share (rotary angles of the positions, the adapter segments of the batch).
     */
    void begin(ForwardBatch batch, PageArena arena);

    /** {@code out[t] = embed[tokens[t]] · s}, (T, C), with s the config's embedding scale (Gemma's √C; else 1). */
    void embed(Activation out);

    /**
     * {@code out[t] = in[t] / sqrt(mean(in[t]²) + eps) · weight}, with the layer's {@code norm} weight
     * ({@code 1 + weight} where the config's {@code normAddsOne}, Gemma's zero-centred norms);
     * for {@code QUERY} and {@code KEY} the same per head, {@code out[t, h] = rmsnorm(in[t, h]) · weight}
     * (HS), where {@code in} and {@code out} may be the same activation.
     */
    void rmsnorm(int layer, Norm norm, Activation in, Activation out);

    /**
     * The base projections of one layer that read the same input, {@code p.out = in·W_pᵀ + b_p} for
     * each. Given together so a backend may run them as one kernel (the CPU backend splits all their
     * rows across its threads at once).
     */
    void project(int layer, Activation in, List<Projection> projections);

    /**
     * Adds each token's own adapter contribution to one projection, for a batch that mixes adapters
     * (SGMV over a run of one adapter's tokens, BGMV over lone decode tokens):
     * <pre>
     *   for t with adapter a = adapter[t] != NO_ADAPTER, adapted at (layer, module):
     *     s      = in[t] · A_aᵀ           // shrink: (R_a)
     *     out[t] += scale_a · (s · B_aᵀ)    // expand: (out features)
     * </pre>
     * Ranks differ per adapter; nothing is padded. One operation, so a backend may fuse both halves.
     */
    void lora(int layer, TargetModule module, Activation in, Activation out);

    /**
     * The adapters of several projections that read the same input ({@code in}), each into its
     * projection's output; one after another unless a backend does them together (the CPU backend
     * runs them as one parallel region).
     */
    default void lora(int layer, Activation in, java.util.List<Projection> projections) {
        for (Projection p : projections) {
            lora(layer, p.module(), in, p.out());
        }
    }

    /**
     * Rotates each head of {@code q} and {@code k} by the rotary angles of its token's position, with
     * the layer's RoPE (Gemma 3's sliding layers have a base of their own).
     */
    void rope(int layer, Activation q, Activation k);

    /** Writes each token's keys and values of {@code layer} to its sequence's KV pages at its position. */
    void storeKv(int layer, Activation k, Activation v);

    /**
     * Causal GQA attention over the paged KV cache: each token's query heads against keys and values
     * {@code first..position} of its own sequence ({@code first} from the layer's sliding window, if
     * any), {@code out[t, head] = softmax(cap(q·Kᵀ·scale))·V} with the config's attention scale
     * (HS^-0.5, Gemma's query_pre_attn_scalar^-0.5) and, where it sets one, its soft-cap
     * {@code cap(s) = c·tanh(s/c)} (Gemma 2's {@code attn_logit_softcapping}).
     */
    void attention(int layer, Activation q, Activation out);

    /** {@code gate = silu(gate) · up}, elementwise. */
    void swiglu(Activation gate, Activation up);

    /**
     * {@code gate = gelu_tanh(gate) · up}, elementwise (GeGLU, Gemma's {@code gelu_pytorch_tanh}):
     * {@code gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))}.
     */
    void geglu(Activation gate, Activation up);

    /** {@code x += delta}, elementwise: a residual connection. */
    void residual(Activation delta, Activation x);

    /** {@code out[r] = rmsnorm(in[logitRows[r]])} with the final norm weight. */
    void finalNorm(Activation in, Activation out);

    /**
     * The sampling inputs: {@code logits[r] = in[r]·lm_headᵀ}, (rows, V), written to host memory
     * (from a GPU, the only copy back of the step).
     */
    void lmHead(Activation in, float[] logits);

    /** Runs the shared layer sequence; a backend supplies the operations, never its own forward pass. */
    @Override
    default void forward(ForwardBatch batch, PageArena arena, float[] logits) {
        LayerSequence.forward(this, batch, arena, logits);
    }
}
