package io.loraplex.engine.request;

import io.loraplex.engine.sample.SamplingParams;

/**
 * A request ready for the engine.
 *
 * @param prompt the prompt's tokens, at least one and fewer than the model's context
 * @param params the sampling parameters, max tokens within what the context leaves
 */
public record PreparedRequest(int[] prompt, SamplingParams params) {
}
