package io.loraplex.engine.backend;

import static io.loraplex.engine.backend.BackendOperations.Activation.ATT;
import static io.loraplex.engine.backend.BackendOperations.Activation.DELTA;
import static io.loraplex.engine.backend.BackendOperations.Activation.FINAL;
import static io.loraplex.engine.backend.BackendOperations.Activation.GATE;
import static io.loraplex.engine.backend.BackendOperations.Activation.H;
import static io.loraplex.engine.backend.BackendOperations.Activation.K;
import static io.loraplex.engine.backend.BackendOperations.Activation.Q;
import static io.loraplex.engine.backend.BackendOperations.Activation.UP;
import static io.loraplex.engine.backend.BackendOperations.Activation.V;
import static io.loraplex.engine.backend.BackendOperations.Activation.X;

import io.loraplex.engine.backend.BackendOperations.Norm;
import io.loraplex.engine.backend.BackendOperations.Projection;
import io.loraplex.engine.kv.PageArena;
import io.loraplex.engine.lora.TargetModule;
import java.util.List;

/**
 * The forward pass of the supported decoder architectures (Llama, Qwen2, Qwen3, Mistral, Phi-3, Gemma 2 and 3), written once as
 * a straight list of operations; each backend supplies them through {@link BackendOperations}.
 * Every projection is followed by its LoRA, so each token gets its own adapter's contribution.
 */
public final class LayerSequence {

    private static final List<Projection> QKV = List.of(new Projection(TargetModule.Q_PROJ, Q),
            new Projection(TargetModule.K_PROJ, K), new Projection(TargetModule.V_PROJ, V));
    private static final List<Projection> O = List.of(new Projection(TargetModule.O_PROJ, DELTA));
    private static final List<Projection> GATE_UP = List.of(new Projection(TargetModule.GATE_PROJ, GATE),
            new Projection(TargetModule.UP_PROJ, UP));
    private static final List<Projection> DOWN = List.of(new Projection(TargetModule.DOWN_PROJ, DELTA));

    private LayerSequence() {
    }

    /** One step: writes the batch's keys and values to {@code arena} and its logit rows to {@code logits} (rows, V). */
    public static void forward(BackendOperations ops, ForwardBatch batch, PageArena arena, float[] logits) {
        ops.begin(batch, arena);
        boolean postNorms = ops.config().postNorms();
        ops.embed(X);
        for (int l = 0; l < ops.config().numLayers(); l++) {
            // attention rmsnorm
            ops.rmsnorm(l, Norm.ATTENTION, X, H);
            // qkv projections, each with its adapter
            ops.project(l, H, QKV);
            ops.lora(l, H, QKV);
            // per-head q and k norms (Qwen3, Gemma 3), after the adapters and before the rotary embedding
            if (ops.config().qkNorm()) {
                ops.rmsnorm(l, Norm.QUERY, Q, Q);
                ops.rmsnorm(l, Norm.KEY, K, K);
            }
            // rotary embedding, then this step's keys and values into the paged cache
            ops.rope(l, Q, K);
            ops.storeKv(l, K, V);
            // causal attention over each token's sequence
            ops.attention(l, Q, ATT);
            // output projection and residual connection
            ops.project(l, ATT, O);
            ops.lora(l, TargetModule.O_PROJ, ATT, DELTA);
            // Gemma: the attention output is normed before it joins the residual stream
            if (postNorms) {
                ops.rmsnorm(l, Norm.POST_ATTENTION, DELTA, DELTA);
            }
            ops.residual(DELTA, X);
            // MLP rmsnorm, gate and up projections, SwiGLU (GeGLU for Gemma)
            ops.rmsnorm(l, Norm.MLP, X, H);
            ops.project(l, H, GATE_UP);
            ops.lora(l, H, GATE_UP);
            if (ops.config().gelu()) {
                ops.geglu(GATE, UP);
            } else {
                ops.swiglu(GATE, UP);
            }
            // down projection and residual connection (Gemma: the MLP output normed first)
            ops.project(l, GATE, DOWN);
            ops.lora(l, TargetModule.DOWN_PROJ, GATE, DELTA);
            if (postNorms) {
                ops.rmsnorm(l, Norm.POST_MLP, DELTA, DELTA);
            }
            ops.residual(DELTA, X);
        }
        // final norm and lm head, only for the rows whose logits are wanted
        ops.finalNorm(X, FINAL);
        ops.lmHead(FINAL, logits);
        // Gemma 2's final soft-cap, on the host rows the sampler reads
        softcap(logits, batch.logitRows().length * ops.config().vocabSize(), ops.config().finalLogitSoftcap());
    }

    /** {@code x[i] = cap·tanh(x[i]/cap)} for the first {@code n} values; nothing when {@code cap} is 0 (none). */
    static void softcap(float[] x, int n, float cap) {
        if (cap == 0f) {
            return;
        }
        for (int i = 0; i < n; i++) {
            x[i] = cap * (float) Math.tanh(x[i] / cap);
        }
    }
}
