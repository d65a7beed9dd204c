/**
 * Request preparation, the one entry point from a caller's request to what the engine runs: a
 * {@link io.loraplex.engine.request.Prompt} (text, or chat messages rendered with the base's chat
 * template) becomes prompt tokens, and {@link io.loraplex.engine.request.RequestParams} become
 * {@link io.loraplex.engine.sample.SamplingParams} (the request's values, then the model's
 * generation config, then the caller's default length, capped by the context). The GPU node and the
 * CLI both call {@link io.loraplex.engine.request.RequestPreparation}; a refusal is a typed
 * {@link io.loraplex.engine.request.RequestRefusal} naming the parameter.
 */
package io.loraplex.engine.request;
