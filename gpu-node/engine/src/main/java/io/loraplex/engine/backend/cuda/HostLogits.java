package io.loraplex.engine.backend.cuda;

import static io.loraplex.engine.backend.cuda.HostLaunch.count;
import static io.loraplex.engine.backend.cuda.HostLaunch.covers;
import static io.loraplex.engine.backend.cuda.HostLaunch.pointer;

import io.loraplex.engine.backend.cuda.HostBuffers.F32s;
import io.loraplex.engine.backend.cuda.HostBuffers.I32s;

/**
 * logits.cu on the host: per row the max (NaN never wins), the smallest index holding it, and the
 * log-sum-exp, its exp sum taken per thread (columns i, i + blockDim, ...) and then as
 * {@code block_sum} does.
 */
final class HostLogits {

    private HostLogits() {
    }

    /** {@code stats[2r] = max, stats[2r + 1] = log-sum-exp, argmax[r]} (grid (rows)). */
    static void logitsArgmax(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_logits_argmax";
        int rows = count(k, args, "rows");
        covers(k, "grid.x", shape.gridX(), "rows", rows);
        int vocab = count(k, args, "vocab");
        if (rows == 0) {
            return;
        }
        F32s stats = F32s.at(memory, pointer(k, args, "stats"));
        I32s argmax = I32s.at(memory, pointer(k, args, "argmax"));
        F32s logits = F32s.at(memory, pointer(k, args, "logits"));
        int stride = args.i32("stride");
        float[] sums = new float[shape.blockX()];
        for (int r = 0; r < rows; r++) {
            long row = (long) r * stride;
            float best = Float.NEGATIVE_INFINITY;
            int at = -1;
            for (int i = 0; i < vocab; i++) {
                float v = logits.get(row + i);
                // the first index of the max; comparisons with NaN are false, so NaN never wins
                if (v > best || (v == best && at < 0)) {
                    best = v;
                    at = i;
                }
            }
            java.util.Arrays.fill(sums, 0.0f);
            if (best != Float.NEGATIVE_INFINITY) {
                for (int i = 0; i < vocab; i++) {
                    sums[i % sums.length] += (float) Math.exp(logits.get(row + i) - best);
                }
            }
            stats.put(2L * r, best);
            stats.put(2L * r + 1, best == Float.NEGATIVE_INFINITY
                    ? Float.NEGATIVE_INFINITY : (float) Math.log(HostReductions.blockSum(sums)) + best);
            argmax.put(r, at);
        }
    }
}
