/**
 * LoRA fine-tuning on the frozen base: datasets ({@link io.loraplex.engine.train.Dataset}), the
 * chat template and loss mask ({@link io.loraplex.engine.train.ExampleEncoder}), the forward pass
 * with saved activations and its hand-written backward ({@link io.loraplex.engine.train.Layers},
 * {@link io.loraplex.engine.train.TrainingModel}), AdamW with warmup and cosine decay
 * ({@link io.loraplex.engine.train.Trainer}) and the PEFT output
 * ({@link io.loraplex.engine.train.TrainedAdapter}).
 *
 * <p>Dimensions: {@code T} tokens of one sequence, {@code C} hidden, {@code NH}/{@code NKV} heads,
 * {@code HS} head size, {@code I} MLP intermediate, {@code V} vocab, {@code R} LoRA rank,
 * {@code in}/{@code out} a projection's features, {@code N} rows with a loss. Activations are
 * float64; the frozen base projections run in float32 on the CPU kernels
 * ({@link io.loraplex.engine.train.FrozenLinear.Precision#F32}) or in float64 for the
 * finite-difference tests ({@code F64}).
 */
package io.loraplex.engine.train;
