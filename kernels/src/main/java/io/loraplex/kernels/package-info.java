/**
 * CUDA kernels ({@code src/main/cuda/*.cu}, one operation per file) compiled ahead of time by
 * {@code nvcc} when present into fatbins under {@code io/loraplex/kernels/}: {@link
 * io.loraplex.kernels.KernelImages} lists them and returns their bytes, {@link
 * io.loraplex.kernels.Kernels} declares each entry point's parameters (kept equal to the sources by
 * a test), {@link io.loraplex.kernels.FatbinContents} says which architectures and kernels a fatbin
 * holds. The launchers (JCuda) come with the CUDA backend.
 *
 * <p>Dimensions in the kernels' comments: {@code T} tokens of the step, {@code B} sequences,
 * {@code C} hidden, {@code I} intermediate, {@code V} vocab, {@code NH}/{@code NKV} query/KV heads,
 * {@code HS} head size, {@code L} layers, {@code P} KV block size (positions per page), {@code R}
 * LoRA rank, {@code S} adapter slots of a step, {@code G} segments.
 */
package io.loraplex.kernels;
