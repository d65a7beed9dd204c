package io.loraplex.engine.backend.cuda;

import static io.loraplex.engine.backend.cuda.HostLaunch.count;
import static io.loraplex.engine.backend.cuda.HostLaunch.covers;
import static io.loraplex.engine.backend.cuda.HostLaunch.pointer;

import io.loraplex.engine.backend.cuda.HostBuffers.Bf16;
import io.loraplex.engine.backend.cuda.HostBuffers.F64s;
import io.loraplex.engine.backend.cuda.HostBuffers.I32s;
import io.loraplex.kernels.Kernels;

/** rope.cu on the host: f64 angles, f32 cos and sin (times attention_scale), f32 rotation, bf16 store. */
final class HostRope {

    private HostRope() {
    }

    /** Rotate-half RoPE of q's and k's heads in place (grid (T)). */
    static void rope(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_rope";
        int tokens = count(k, args, "num_tokens");
        covers(k, "grid.x", shape.gridX(), "num_tokens", tokens);
        int heads = count(k, args, "num_heads");
        int kvHeads = count(k, args, "num_kv_heads");
        int headDim = count(k, args, "head_dim");
        int rotary = count(k, args, "rotary_dim");
        if (rotary % 2 != 0 || rotary > headDim || rotary / 2 > Kernels.MAX_ROTARY_HALF) {
            throw new IllegalArgumentException(k + ": rotary_dim " + rotary + " must be even, at most head_dim " + headDim
                    + " and at most " + 2 * Kernels.MAX_ROTARY_HALF);
        }
        if (tokens == 0) {
            return;
        }
        int half = rotary / 2;
        Bf16 q = Bf16.at(memory, pointer(k, args, "q"));
        Bf16 key = kvHeads == 0 ? null : Bf16.at(memory, pointer(k, args, "k"));
        I32s positions = I32s.at(memory, pointer(k, args, "positions"));
        F64s invFreq = F64s.at(memory, pointer(k, args, "inv_freq"));
        long freqRowPtr = args.ptr("freq_row"); // null: row 0 for every token
        I32s freqRow = freqRowPtr == 0 ? null : I32s.at(memory, freqRowPtr);
        int qStride = args.i32("q_stride");
        int kStride = args.i32("k_stride");
        double scale = args.f64("attention_scale");
        float[] cos = new float[half];
        float[] sin = new float[half];
        for (int t = 0; t < tokens; t++) {
            long row = (long) (freqRow == null ? 0 : freqRow.get(t)) * half;
            double position = positions.get(t);
            for (int i = 0; i < half; i++) {
                double angle = position * invFreq.get(row + i);
                cos[i] = (float) (Math.cos(angle) * scale);
                sin[i] = (float) (Math.sin(angle) * scale);
            }
            for (int h = 0; h < heads + kvHeads; h++) {
                Bf16 x = h < heads ? q : key;
                long base = h < heads ? (long) t * qStride + (long) h * headDim : (long) t * kStride + (long) (h - heads) * headDim;
                for (int i = 0; i < half; i++) {
                    float a = x.get(base + i);
                    float b = x.get(base + i + half);
                    x.put(base + i, a * cos[i] - b * sin[i]);
                    x.put(base + i + half, b * cos[i] + a * sin[i]);
                }
            }
        }
    }
}
