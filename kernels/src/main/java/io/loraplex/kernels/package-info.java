/**
 * CUDA kernels ({@code src/main/cuda/*.cu}, one operation per file) compiled ahead of time by
 * {@code nvcc} when present, and the thin JCuda launchers that load them. Filled by "CUDA backend".
 */
package io.loraplex.kernels;
