package io.loraplex.engine.backend.cuda;

import static io.loraplex.engine.backend.cuda.HostLaunch.count;
import static io.loraplex.engine.backend.cuda.HostLaunch.covers;
import static io.loraplex.engine.backend.cuda.HostLaunch.pointer;

import io.loraplex.engine.backend.cuda.HostBuffers.Bf16;
import io.loraplex.engine.backend.cuda.HostBuffers.I32s;

/** embedding.cu, swiglu.cu and add.cu on the host: one element at a time, f32 math, one bf16 rounding. */
final class HostElementwise {

    private HostElementwise() {
    }

    /** {@code out[t] = table[tokens[t]]}, a row of zeros for an id outside [0, V) (grid (T)). */
    static void embeddingGather(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_embedding_gather";
        int tokens = count(k, args, "num_tokens");
        covers(k, "grid.x", shape.gridX(), "num_tokens", tokens);
        int hidden = count(k, args, "hidden");
        int vocab = count(k, args, "vocab");
        if (tokens == 0 || hidden == 0) {
            return;
        }
        Bf16 out = Bf16.at(memory, pointer(k, args, "out"));
        Bf16 table = Bf16.at(memory, pointer(k, args, "table"));
        I32s ids = I32s.at(memory, pointer(k, args, "tokens"));
        for (int t = 0; t < tokens; t++) {
            int id = ids.get(t);
            for (int i = 0; i < hidden; i++) {
                short bits = id < 0 || id >= vocab ? 0 : table.bits((long) id * hidden + i);
                out.putBits((long) t * hidden + i, bits);
            }
        }
    }

    /** {@code out = silu(gate) · up} (grid (T)). */
    static void swiglu(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_swiglu";
        int tokens = count(k, args, "num_tokens");
        covers(k, "grid.x", shape.gridX(), "num_tokens", tokens);
        int width = count(k, args, "intermediate");
        if (tokens == 0 || width == 0) {
            return;
        }
        Bf16 out = Bf16.at(memory, pointer(k, args, "out"));
        Bf16 gate = Bf16.at(memory, pointer(k, args, "gate"));
        Bf16 up = Bf16.at(memory, pointer(k, args, "up"));
        int outStride = args.i32("out_stride");
        int gateStride = args.i32("gate_stride");
        int upStride = args.i32("up_stride");
        for (int t = 0; t < tokens; t++) {
            for (int i = 0; i < width; i++) {
                float g = gate.get((long) t * gateStride + i);
                float u = up.get((long) t * upStride + i);
                out.put((long) t * outStride + i, g / (1.0f + (float) Math.exp(-g)) * u);
            }
        }
    }

    /** {@code x += delta} (grid (ceil(n / block), rows)). */
    static void add(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_add";
        int rows = count(k, args, "rows");
        int n = count(k, args, "n");
        covers(k, "grid.x · block", (long) shape.gridX() * shape.blockX(), "n", n);
        covers(k, "grid.y", shape.gridY(), "rows", rows);
        if (rows == 0 || n == 0) {
            return;
        }
        Bf16 x = Bf16.at(memory, pointer(k, args, "x"));
        Bf16 delta = Bf16.at(memory, pointer(k, args, "delta"));
        int xStride = args.i32("x_stride");
        int deltaStride = args.i32("delta_stride");
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < n; i++) {
                long at = (long) r * xStride + i;
                x.put(at, x.get(at) + delta.get((long) r * deltaStride + i));
            }
        }
    }

    /** {@code y[r, :] += bias} (grid (ceil(n / block), rows)). */
    static void addBias(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_add_bias";
        int rows = count(k, args, "rows");
        int n = count(k, args, "n");
        covers(k, "grid.x · block", (long) shape.gridX() * shape.blockX(), "n", n);
        covers(k, "grid.y", shape.gridY(), "rows", rows);
        if (rows == 0 || n == 0) {
            return;
        }
        Bf16 y = Bf16.at(memory, pointer(k, args, "y"));
        Bf16 bias = Bf16.at(memory, pointer(k, args, "bias"));
        int yStride = args.i32("y_stride");
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < n; i++) {
                long at = (long) r * yStride + i;
                y.put(at, y.get(at) + bias.get(i));
            }
        }
    }
}
