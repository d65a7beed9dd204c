/**
 * LoRA fine-tuning on the frozen base: datasets ({@link io.loraplex.engine.train.Dataset}), the
 * chat template and loss mask ({@link io.loraplex.engine.train.ExampleEncoder}), the batched
 * forward pass with saved activations and its hand-written backward
 * ({@link io.loraplex.engine.train.BatchTrainingModel} on the float32 vector kernels of
 * {@link io.loraplex.engine.train.TrainKernels}), AdamW with warmup and cosine decay over one or
 * several adapters ({@link io.loraplex.engine.train.Trainer}) and the PEFT output
 * ({@link io.loraplex.engine.train.TrainedAdapter}).
 *
 * <p>Dimensions: {@code T} tokens (of one sequence, or of a batch's sequences one after another),
 * {@code C} hidden, {@code NH}/{@code NKV} heads, {@code HS} head size, {@code I} MLP intermediate,
 * {@code V} vocab, {@code R} LoRA rank, {@code in}/{@code out} a projection's features, {@code N}
 * rows with a loss. Activations, gradients and the LoRA matrices of a pass are float32; the frozen
 * base is read in the dtype it is served in (f32, bf16, f16, Q8_0, Q4_0). float64 remains in the
 * adapters' master weights and AdamW moments ({@link io.loraplex.engine.train.LoraParameters}, a
 * few MB) and in the test-scope reference ({@code TrainingModel}, {@code Layers}) that the float32
 * step and the finite-difference checks compare against.
 */
package io.loraplex.engine.train;
