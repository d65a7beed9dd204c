package io.loraplex.engine.model;

/**
 * What Gemma 2 and 3 add to the Llama decoder, as their configs set it (each cap or base null where
 * the config has none).
 *
 * @param queryPreAttnScalar attention scores are scaled by {@code query_pre_attn_scalar^-0.5}, not HS^-0.5
 * @param attnLogitSoftcap   {@code attn_logit_softcapping}: scores become {@code cap·tanh(scores/cap)}
 *                           before the mask and softmax (Gemma 2: 50; Gemma 3: null)
 * @param finalLogitSoftcap  {@code final_logit_softcapping}: the same on the lm head's logits (Gemma 2: 30)
 * @param localRopeTheta     Gemma 3's {@code rope_local_base_freq}: the RoPE base of the sliding-window
 *                           layers, which take no rope_scaling; null where every layer has the one base (Gemma 2)
 */
public record GemmaFeatures(double queryPreAttnScalar, Double attnLogitSoftcap, Double finalLogitSoftcap,
        Double localRopeTheta) {

    public GemmaFeatures {
        if (!(queryPreAttnScalar > 0)) {
            throw new IllegalArgumentException("query_pre_attn_scalar must be > 0, got " + queryPreAttnScalar);
        }
        if (attnLogitSoftcap != null && !(attnLogitSoftcap > 0)) {
            throw new IllegalArgumentException("attn_logit_softcapping must be > 0 or null, got " + attnLogitSoftcap);
        }
        if (finalLogitSoftcap != null && !(finalLogitSoftcap > 0)) {
            throw new IllegalArgumentException("final_logit_softcapping must be > 0 or null, got " + finalLogitSoftcap);
        }
        if (localRopeTheta != null && !(localRopeTheta > 0)) {
            throw new IllegalArgumentException("rope_local_base_freq must be > 0, got " + localRopeTheta);
        }
    }
}
