/**
 * The host side of the CUDA backend that needs no GPU: the int and long tables the kernels of
 * {@code kernels/src/main/cuda} take, built from the engine's own step description
 * ({@link io.loraplex.engine.backend.ForwardBatch}, the adapters' {@link io.loraplex.engine.lora.PagedAdapter}
 * rows, each sequence's KV block table). Each table's meaning is the one the matching {@code .cu}
 * header states; the tests walk the tables that way and compare with the CPU backend.
 *
 * <p>Dimensions: {@code T} tokens of the step, {@code S} adapter slots of the step (slot s is
 * {@code batch.adapters()[s]}), {@code G} adapter segments, {@code R} a slot's rank for one module,
 * {@code P} KV block size, {@code NH}/{@code NKV} heads, {@code HS} head size, {@code L} layers.
 * Offsets into the arena are element offsets: the device arena stores bf16 with the host arena's f32
 * element layout, so a host float offset is the device element offset unchanged.
 */
package io.loraplex.engine.backend.cuda;
