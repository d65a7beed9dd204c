/**
 * The forward step and where a backend plugs in. A {@link io.loraplex.engine.backend.ForwardBatch}
 * holds the tokens of many sequences, each token with its own adapter; a
 * {@link io.loraplex.engine.backend.Backend} runs the base model once over all of them and adds each
 * token's adapter contribution. The layer sequence is written once, in
 * {@link io.loraplex.engine.backend.LayerSequence}; a backend supplies its operations by implementing
 * {@link io.loraplex.engine.backend.BackendOperations} (base projections, segmented LoRA shrink and
 * expand, rope, paged-KV attention, the logits rows). {@code ReferenceBackend} is the plain,
 * obviously correct version; {@code CpuBackend} is the fast one (Vector API, threads). Every output
 * row is reduced in a fixed order, so a token's result never depends on its batch-mates.
 */
package io.loraplex.engine.backend;
