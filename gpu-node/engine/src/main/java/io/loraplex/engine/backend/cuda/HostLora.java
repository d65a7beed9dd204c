package io.loraplex.engine.backend.cuda;

import static io.loraplex.engine.backend.cuda.HostLaunch.count;
import static io.loraplex.engine.backend.cuda.HostLaunch.covers;
import static io.loraplex.engine.backend.cuda.HostLaunch.pointer;
import static io.loraplex.engine.backend.cuda.HostReductions.WARP;

import io.loraplex.engine.backend.cuda.HostBuffers.Bf16;
import io.loraplex.engine.backend.cuda.HostBuffers.F32s;
import io.loraplex.engine.backend.cuda.HostBuffers.I32s;
import io.loraplex.engine.backend.cuda.HostBuffers.I64s;

/**
 * lora_shrink.cu and lora_expand.cu on the host, both forms. The shrink's dot products are summed
 * per lane in the kernel's order (bf16 pairs when the gathered form's vector path applies, else
 * elements lane, lane + 32, ...) and then by the warp's butterfly; the expand sums the ranks in order
 * r = 0, 1, ... and adds {@code scale · acc} to y with one fma and one rounding.
 */
final class HostLora {

    private HostLora() {
    }

    /** The tables both forms read. */
    private record Tables(Bf16 arena, I32s ranks, I32s rowStart, I64s rows) {
        static Tables of(String k, HostKernel.Args args, HostMemory memory, String rows) {
            return new Tables(Bf16.at(memory, pointer(k, args, "arena")), I32s.at(memory, pointer(k, args, "ranks")),
                    I32s.at(memory, pointer(k, args, "row_start")), I64s.at(memory, pointer(k, args, rows)));
        }

        long row(int slot, int r) {
            return rows.get(rowStart.get(slot) + r);
        }
    }

    /** The shrink's grid.x covers slot's rank (one warp per rank row) and its output row holds it. */
    private static void checkShrink(String k, LaunchShape shape, int slot, int rank, int shrunkStride) {
        covers(k, "grid.x · warps", (long) shape.gridX() * (shape.blockX() / WARP), "ranks[" + slot + "]", rank);
        if (shrunkStride < rank) {
            throw new IllegalArgumentException(k + ": shrunk_stride " + shrunkStride + " < ranks[" + slot + "] " + rank);
        }
    }

    /** {@code shrunk[t, r] = x[t] · A_s[r]}, a slot per token (grid (ceil(R_max / 8), T)). */
    static void shrinkGathered(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_lora_shrink_gathered";
        int tokens = count(k, args, "num_tokens");
        covers(k, "grid.y", shape.gridY(), "num_tokens", tokens);
        int in = count(k, args, "in_features");
        if (tokens == 0) {
            return;
        }
        F32s shrunk = F32s.at(memory, pointer(k, args, "shrunk"));
        Bf16 x = Bf16.at(memory, pointer(k, args, "x"));
        I32s slots = I32s.at(memory, pointer(k, args, "slots"));
        Tables tables = Tables.of(k, args, memory, "a_rows");
        int xStride = args.i32("x_stride");
        int shrunkStride = args.i32("shrunk_stride");
        float[] lanes = new float[WARP];
        for (int t = 0; t < tokens; t++) {
            int slot = slots.get(t);
            if (slot < 0) { // NO_SLOT: the base model only
                continue;
            }
            int rank = tables.ranks.get(slot);
            checkShrink(k, shape, slot, rank, shrunkStride);
            long xt = (long) t * xStride;
            for (int r = 0; r < rank; r++) {
                long a = tables.row(slot, r);
                java.util.Arrays.fill(lanes, 0.0f);
                if (in % 2 == 0 && tables.arena.aligned(a, 4) && x.aligned(xt, 4)) {
                    for (int p = 0; p < in / 2; p++) { // lane p % 32 takes pair p
                        int lane = p % WARP;
                        lanes[lane] = Math.fma(tables.arena.get(a + 2L * p), x.get(xt + 2L * p), lanes[lane]);
                        lanes[lane] = Math.fma(tables.arena.get(a + 2L * p + 1), x.get(xt + 2L * p + 1), lanes[lane]);
                    }
                } else {
                    for (int i = 0; i < in; i++) {
                        lanes[i % WARP] = Math.fma(tables.arena.get(a + i), x.get(xt + i), lanes[i % WARP]);
                    }
                }
                shrunk.put((long) t * shrunkStride + r, HostReductions.warpSum(lanes));
            }
        }
    }

    /** The same, a slot per segment of tokens (grid (ceil(R_max / 8), G, Z)). */
    static void shrinkSegmented(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_lora_shrink_segmented";
        int segments = count(k, args, "num_segments");
        covers(k, "grid.y", shape.gridY(), "num_segments", segments);
        int in = count(k, args, "in_features");
        if (segments == 0) {
            return;
        }
        F32s shrunk = F32s.at(memory, pointer(k, args, "shrunk"));
        Bf16 x = Bf16.at(memory, pointer(k, args, "x"));
        I32s segStarts = I32s.at(memory, pointer(k, args, "seg_starts"));
        I32s segSlots = I32s.at(memory, pointer(k, args, "seg_slots"));
        Tables tables = Tables.of(k, args, memory, "a_rows");
        int xStride = args.i32("x_stride");
        int shrunkStride = args.i32("shrunk_stride");
        float[] lanes = new float[WARP];
        for (int g = 0; g < segments; g++) {
            int slot = segSlots.get(g);
            if (slot < 0) {
                continue;
            }
            int rank = tables.ranks.get(slot);
            checkShrink(k, shape, slot, rank, shrunkStride);
            for (int t = segStarts.get(g); t < segStarts.get(g + 1); t++) {
                long xt = (long) t * xStride;
                for (int r = 0; r < rank; r++) {
                    long a = tables.row(slot, r);
                    java.util.Arrays.fill(lanes, 0.0f);
                    for (int i = 0; i < in; i++) {
                        lanes[i % WARP] = Math.fma(tables.arena.get(a + i), x.get(xt + i), lanes[i % WARP]);
                    }
                    shrunk.put((long) t * shrunkStride + r, HostReductions.warpSum(lanes));
                }
            }
        }
    }

    /** {@code y[t] += scale_s · Σ_r shrunk[t, r] · B_s[:, r]}, a slot per token (grid (ceil(out / 256), T)). */
    static void expandGathered(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_lora_expand_gathered";
        int tokens = count(k, args, "num_tokens");
        int out = count(k, args, "out_features");
        covers(k, "grid.x · block", (long) shape.gridX() * shape.blockX(), "out_features", out);
        covers(k, "grid.y", shape.gridY(), "num_tokens", tokens);
        if (tokens == 0 || out == 0) {
            return;
        }
        Expand e = Expand.of(k, args, memory);
        I32s slots = I32s.at(memory, pointer(k, args, "slots"));
        for (int t = 0; t < tokens; t++) {
            e.token(t, slots.get(t), out);
        }
    }

    /** The same, a slot per segment of tokens (grid (ceil(out / 256), G, Z)). */
    static void expandSegmented(LaunchShape shape, HostKernel.Args args, HostMemory memory) {
        String k = "loraplex_lora_expand_segmented";
        int segments = count(k, args, "num_segments");
        int out = count(k, args, "out_features");
        covers(k, "grid.x · block", (long) shape.gridX() * shape.blockX(), "out_features", out);
        covers(k, "grid.y", shape.gridY(), "num_segments", segments);
        if (segments == 0 || out == 0) {
            return;
        }
        Expand e = Expand.of(k, args, memory);
        I32s segStarts = I32s.at(memory, pointer(k, args, "seg_starts"));
        I32s segSlots = I32s.at(memory, pointer(k, args, "seg_slots"));
        for (int g = 0; g < segments; g++) {
            for (int t = segStarts.get(g); t < segStarts.get(g + 1); t++) {
                e.token(t, segSlots.get(g), out);
            }
        }
    }

    /** One token's expand, shared by both forms. */
    private record Expand(Bf16 y, F32s shrunk, Tables tables, F32s scales, int yStride, int shrunkStride) {
        static Expand of(String k, HostKernel.Args args, HostMemory memory) {
            return new Expand(Bf16.at(memory, pointer(k, args, "y")), F32s.at(memory, pointer(k, args, "shrunk")),
                    Tables.of(k, args, memory, "b_rows"), F32s.at(memory, pointer(k, args, "scales")),
                    args.i32("y_stride"), args.i32("shrunk_stride"));
        }

        void token(int t, int slot, int out) {
            if (slot < 0) {
                return;
            }
            int rank = tables.ranks.get(slot);
            if (rank == 0) {
                return;
            }
            float scale = scales.get(slot);
            float[] coef = new float[rank];
            long[] rows = new long[rank];
            for (int r = 0; r < rank; r++) {
                coef[r] = shrunk.get((long) t * shrunkStride + r);
                rows[r] = tables.row(slot, r);
            }
            for (int o = 0; o < out; o++) {
                float acc = 0.0f;
                for (int r = 0; r < rank; r++) {
                    acc = Math.fma(coef[r], tables.arena.get(rows[r] + o), acc);
                }
                long at = (long) t * yStride + o;
                y.put(at, Math.fma(scale, acc, y.get(at)));
            }
        }
    }
}
