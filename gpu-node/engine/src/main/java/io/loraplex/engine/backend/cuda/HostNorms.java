package io.loraplex.engine.backend.cuda;

import static io.loraplex.engine.backend.cuda.HostLaunch.count;
import static io.loraplex.engine.backend.cuda.HostLaunch.covers;
import static io.loraplex.engine.backend.cuda.HostLaunch.pointer;

import io.loraplex.engine.backend.cuda.HostBuffers.Bf16;
import io.loraplex.engine.backend.cuda.HostBuffers.I32s;

/**
 * rmsnorm.cu on the host: {@code loraplex_rmsnorm} and {@code loraplex_rmsnorm_rows}. Thread i of
 * the block sums the squares of elements i, i + blockDim, ... with {@code fmaf}, the block sums the
 * threads as {@code block_sum} does; {@code rsqrtf} is taken as the correctly rounded f32 1/√x.
 */
final class HostNorms {

    private HostNorms() {
    }

    /** {@code out[r] = x[r] / rms(x[r]) · g}, rows contiguous (grid (rows)). */
    static void rmsnorm(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_rmsnorm";
        int rows = count(k, args, "rows");
        covers(k, "grid.x", shape.gridX(), "rows", rows);
        run(k, shape, args, memory, rows, null);
    }

    /** {@code out[r] = rmsnorm(x[row_index[r]])} (grid (rows)). */
    static void rmsnormRows(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_rmsnorm_rows";
        int rows = count(k, args, "rows");
        covers(k, "grid.x", shape.gridX(), "rows", rows);
        run(k, shape, args, memory, rows, I32s.at(memory, pointer(k, args, "row_index")));
    }

    private static void run(String k, LaunchShape shape, HostKernel.Args args, HostMemory memory, int rows, I32s rowIndex) {
        int n = count(k, args, "n");
        if (rows == 0 || n == 0) {
            return;
        }
        Bf16 out = Bf16.at(memory, pointer(k, args, "out"));
        Bf16 x = Bf16.at(memory, pointer(k, args, "x"));
        Bf16 weight = Bf16.at(memory, pointer(k, args, "weight"));
        float eps = args.f32("eps");
        float offset = args.i32("add_one") != 0 ? 1.0f : 0.0f;
        int threads = shape.blockX();
        float[] squares = new float[threads];
        float[] row = new float[n];
        for (int r = 0; r < rows; r++) {
            long in = (long) (rowIndex == null ? r : rowIndex.get(r)) * n;
            for (int i = 0; i < n; i++) {
                row[i] = x.get(in + i); // read the whole row first: out may equal x
            }
            java.util.Arrays.fill(squares, 0.0f);
            for (int i = 0; i < n; i++) {
                squares[i % threads] = Math.fma(row[i], row[i], squares[i % threads]);
            }
            float inv = rsqrt(HostReductions.blockSum(squares) / n + eps);
            for (int i = 0; i < n; i++) {
                out.put((long) r * n + i, row[i] * inv * (offset + weight.get(i)));
            }
        }
    }

    /** f32 1/√x, rounded once from f64 (the GPU's rsqrtf is within 2 ulp of it). */
    static float rsqrt(float x) {
        return (float) (1.0 / Math.sqrt(x));
    }
}
