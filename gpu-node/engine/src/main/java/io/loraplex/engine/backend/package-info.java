/**
 * The forward step and its implementations. A {@link io.loraplex.engine.backend.ForwardBatch} holds
 * the tokens of many sequences, each token with its own adapter; a
 * {@link io.loraplex.engine.backend.Backend} runs the base model once over all of them and adds each
 * token's adapter contribution. {@code ReferenceBackend} is the plain, obviously correct version;
 * {@code CpuBackend} is the fast one (Vector API, threads). Every output row is reduced in a fixed
 * order, so a token's result never depends on its batch-mates.
 */
package io.loraplex.engine.backend;
