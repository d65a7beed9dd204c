/**
 * Turning one position's logits into the next token, and deciding when a request is finished.
 *
 * <p>Per request: {@link io.loraplex.engine.sample.SamplingParams} (what the API user asked for,
 * validated), one {@link io.loraplex.engine.sample.Sampler} (logit bias, penalties, temperature,
 * top-k, top-p, min-p, a seeded draw, raw logprobs), one
 * {@link io.loraplex.engine.sample.StopChecker} (eos, stop token ids, max tokens) and one
 * {@link io.loraplex.engine.sample.StopStringMatcher} (stop strings over streamed text).
 *
 * <p>Dimensions: {@code V} vocabulary size; {@code K} candidate tokens kept for ranking (at most
 * {@code V}); {@code N} top-logprob alternatives (at most 20); {@code B} tokens with a logit bias.
 *
 * <p>Semantics follow vLLM so that a client moving from vLLM or OpenAI sees the same behaviour:
 * logit bias, then penalties, then temperature; temperature 0 is greedy; logprobs are taken from
 * the model's raw distribution, before any of these transformations.
 */
package io.loraplex.engine.sample;
