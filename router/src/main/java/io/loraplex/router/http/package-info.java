/**
 * The OpenAI-compatible HTTP API. {@link io.loraplex.router.http.RouterServer} wires and binds it;
 * {@link io.loraplex.router.http.OpenAiRoutes} only maps paths to flows;
 * {@link io.loraplex.router.http.CompletionFlow} runs a generation (auth, admission, placement,
 * {@code Generate}, SSE or one body) and {@link io.loraplex.router.http.ModelsFlow} the model list.
 * Request bodies become records ({@link io.loraplex.router.http.ChatRequest},
 * {@link io.loraplex.router.http.CompletionRequest}) with errors that name the field;
 * {@link io.loraplex.router.http.OpenAiWriter} writes OpenAI's bodies and chunks. Every error leaves as
 * {@code {"error": {"message", "type", "param", "code"}}}.
 */
package io.loraplex.router.http;
