package io.loraplex.engine.backend;

import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.HostArena;
import java.util.SplittableRandom;

/**
 * One layer's attention on the bench model's shape (16 heads of 64, 4 KV heads, block size 16), old
 * (one task per token and query head, a dot per key position) against new ({@link AttentionKernels}:
 * one task per query block and KV head), both on the same {@link WorkerPool} of 1 and then 2 threads:
 * decode at context 512 and 2048 for 1 and 16 sequences, and a 512-token prompt chunk. Old and new
 * alternate for {@code args[0]} rounds (default 15) and each keeps its fastest. Not a test (speed
 * only): run it as {@code java --add-modules jdk.incubator.vector -cp <test classpath>
 * io.loraplex.engine.backend.AttentionBench [rounds]}.
 */
public final class AttentionBench {

    private static final int HEADS = 16, KV_HEADS = 4, HS = 64, BLOCK = 16, THREADS = 2;

    private AttentionBench() {
    }

    /** A step's tokens over a filled cache: {@code sequences} sequences, the queries at the given positions. */
    private record Step(HostArena kv, int[][] tables, int[] sequence, int[] positions, float[] q, float[] att) {
    }

    private static Step step(int sequences, int context, int queriesPerSequence, SplittableRandom random) {
        int kvDim = KV_HEADS * HS;
        int blocksPer = (context + BLOCK - 1) / BLOCK;
        ArenaLayout layout = new ArenaLayout(BLOCK, 1, kvDim, 2 * BLOCK * kvDim);
        HostArena kv = new HostArena(layout, sequences * blocksPer);
        for (int i = 0; i < kv.data.length; i++) {
            kv.data[i] = (float) random.nextGaussian();
        }
        int[][] tables = new int[sequences][blocksPer];
        for (int s = 0; s < sequences; s++) {
            for (int b = 0; b < blocksPer; b++) {
                tables[s][b] = b * sequences + s; // interleaved, as pages of concurrent sequences are
            }
        }
        int tokens = sequences * queriesPerSequence;
        int[] sequence = new int[tokens];
        int[] positions = new int[tokens];
        for (int s = 0, t = 0; s < sequences; s++) {
            for (int i = 0; i < queriesPerSequence; i++, t++) {
                sequence[t] = s;
                positions[t] = context - queriesPerSequence + i;
            }
        }
        float[] q = new float[tokens * HEADS * HS];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) random.nextGaussian();
        }
        return new Step(kv, tables, sequence, positions, q, new float[q.length]);
    }

    /** The attention this replaced: one (token, head) at a time. */
    private static void oldAttention(WorkerPool pool, Step s, ThreadLocal<float[]> scoreScratch) {
        pool.run(s.sequence().length * HEADS, i -> {
            int t = i / HEADS;
            int head = i % HEADS;
            int kvHead = head / (HEADS / KV_HEADS);
            int position = s.positions()[t];
            int[] table = s.tables()[s.sequence()[t]];
            float scale = (float) (1 / Math.sqrt(HS));
            float[] scores = scoreScratch.get();
            if (scores.length < position + 1) {
                scores = new float[position + 1];
                scoreScratch.set(scores);
            }
            int qOff = t * HEADS * HS + head * HS;
            float[] data = s.kv().data;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j <= position; j++) {
                float score = CpuKernels.dot(s.q(), qOff, data, s.kv().keyOffset(table, 0, j) + kvHead * HS, HS) * scale;
                scores[j] = score;
                max = Math.max(max, score);
            }
            float sum = 0;
            for (int j = 0; j <= position; j++) {
                float e = (float) Math.exp(scores[j] - max);
                scores[j] = e;
                sum += e;
            }
            float inv = 1.0f / sum;
            java.util.Arrays.fill(s.att(), qOff, qOff + HS, 0f);
            for (int j = 0; j <= position; j++) {
                CpuKernels.axpy(scores[j] * inv, data, s.kv().valueOffset(table, 0, j) + kvHead * HS, s.att(), qOff, HS);
            }
        });
    }

    private static void newAttention(WorkerPool pool, Step s, AttentionKernels.Shape shape,
            ThreadLocal<AttentionKernels.Scratch> scratch) {
        int[] blocks = AttentionKernels.queryBlocks(s.sequence(), s.positions(), s.sequence().length,
                AttentionKernels.PREFILL_BLOCK);
        pool.run(blocks.length / 2 * KV_HEADS, i -> {
            int start = blocks[2 * (i / KV_HEADS)];
            int end = blocks[2 * (i / KV_HEADS) + 1];
            AttentionKernels.attendBlock(shape, s.kv(), 0, s.tables()[s.sequence()[start]], s.positions(), start, end,
                    i % KV_HEADS, s.q(), s.att(), scratch.get());
        });
    }

    public static void main(String[] args) {
        SplittableRandom random = new SplittableRandom(3);
        AttentionKernels.Shape shape = new AttentionKernels.Shape(HEADS, KV_HEADS, HS, 0, (float) (1 / Math.sqrt(HS)), 0f);
        ThreadLocal<float[]> oldScratch = ThreadLocal.withInitial(() -> new float[1024]);
        ThreadLocal<AttentionKernels.Scratch> newScratch = ThreadLocal.withInitial(AttentionKernels.Scratch::new);
        String[] names = {"decode, 1 seq, context 512", "decode, 1 seq, context 2048", "decode, 16 seqs, context 512",
            "decode, 16 seqs, context 2048", "prefill, 512-token chunk from 0"};
        Step[] steps = {step(1, 512, 1, random), step(1, 2048, 1, random), step(16, 512, 1, random),
            step(16, 2048, 1, random), step(1, 512, 512, random)};
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        for (int threads : new int[] {1, THREADS}) {
            try (WorkerPool pool = new WorkerPool(threads)) {
                for (int c = 0; c < steps.length; c++) {
                    Step s = steps[c];
                    int iterations = Math.max(2, (int) (5e7 / ((double) s.sequence().length * s.positions()[s.positions().length - 1] * HEADS * HS)));
                    // old and new alternate, and each keeps its fastest round: the figure least disturbed
                    // by whatever else shares the machine
                    double oldUs = Double.MAX_VALUE;
                    double newUs = Double.MAX_VALUE;
                    boolean same = true;
                    for (int round = 0; round < rounds; round++) {
                        long t0 = System.nanoTime();
                        for (int i = 0; i < iterations; i++) {
                            oldAttention(pool, s, oldScratch);
                        }
                        oldUs = Math.min(oldUs, (System.nanoTime() - t0) / 1e3 / iterations);
                        float[] oldOut = s.att().clone();
                        t0 = System.nanoTime();
                        for (int i = 0; i < iterations; i++) {
                            newAttention(pool, s, shape, newScratch);
                        }
                        newUs = Math.min(newUs, (System.nanoTime() - t0) / 1e3 / iterations);
                        same &= java.util.Arrays.equals(oldOut, s.att());
                    }
                    System.out.printf("%d thread(s)  %-32s old %9.1f us  new %9.1f us  %.2fx  (outputs %s)%n", threads,
                            names[c], oldUs, newUs, oldUs / newUs, same ? "bit-identical" : "DIFFER");
                }
            }
        }
    }
}
