package io.loraplex.engine.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.HostArena;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * The blocked attention kernel: a prompt chunk's attention computed as query blocks is bit-identical
 * to the per-token path (blocks of one token, as decode runs it), whole or chunked, alone or beside
 * other sequences, over GQA ratios 1, 2 and 4, sliding windows and soft-caps; and both agree with a
 * plain scalar loop within a stated tolerance.
 */
class AttentionKernelsTest {

    /** One random case: a shape, a paged cache filled with random keys and values, and sequences. */
    private record Case(AttentionKernels.Shape shape, HostArena kv, int[][] tables, int[] lengths, float[] q,
            int[] sequence, int[] positions) {
        int tokens() {
            return sequence.length;
        }
    }

    /** Every position of every sequence as one batch (the queries of a whole prompt each). */
    private static Case randomCase(SplittableRandom random, int group, boolean windowed, boolean capped) {
        int kvHeads = 1 + random.nextInt(3);
        int[] headSizes = {8, 16, 24, 32, 64, 72};
        int hs = headSizes[random.nextInt(headSizes.length)];
        int window = windowed ? 1 + random.nextInt(12) : 0;
        AttentionKernels.Shape shape = new AttentionKernels.Shape(kvHeads * group, kvHeads, hs, window,
                (float) (1 / Math.sqrt(hs)), capped ? 5f : 0f);
        int blockSize = 1 + random.nextInt(8);
        int sequences = 1 + random.nextInt(4);
        int[] lengths = new int[sequences];
        int pages = 0;
        for (int s = 0; s < sequences; s++) {
            lengths[s] = 1 + random.nextInt(60);
            pages += (lengths[s] + blockSize - 1) / blockSize;
        }
        ArenaLayout layout = new ArenaLayout(blockSize, 2, kvHeads * hs, 2 * 2 * blockSize * kvHeads * hs);
        HostArena kv = new HostArena(layout, pages);
        for (int i = 0; i < kv.data.length; i++) {
            kv.data[i] = (float) random.nextGaussian();
        }
        List<Integer> free = new ArrayList<>();
        for (int p = 0; p < pages; p++) {
            free.add(p);
        }
        Collections.shuffle(free, new java.util.Random(random.nextLong())); // pages out of order, as a real cache's
        int[][] tables = new int[sequences][];
        int total = 0;
        for (int s = 0; s < sequences; s++) {
            tables[s] = new int[(lengths[s] + blockSize - 1) / blockSize];
            for (int b = 0; b < tables[s].length; b++) {
                tables[s][b] = free.removeFirst();
            }
            total += lengths[s];
        }
        int[] sequence = new int[total];
        int[] positions = new int[total];
        for (int s = 0, t = 0; s < sequences; s++) {
            for (int p = 0; p < lengths[s]; p++, t++) {
                sequence[t] = s;
                positions[t] = p;
            }
        }
        float[] q = new float[total * shape.qDim()];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) (2 * random.nextGaussian());
        }
        return new Case(shape, kv, tables, lengths, q, sequence, positions);
    }

    /** Attention of the tokens in {@code blocks} ({@code [start, end)} pairs), every KV head, at layer 1. */
    private static float[] run(Case c, int[] blocks) {
        float[] att = new float[c.q().length];
        AttentionKernels.Scratch scratch = new AttentionKernels.Scratch();
        for (int b = 0; b < blocks.length; b += 2) {
            for (int h = 0; h < c.shape().kvHeads(); h++) {
                AttentionKernels.attendBlock(c.shape(), c.kv(), 1, c.tables()[c.sequence()[blocks[b]]], c.positions(),
                        blocks[b], blocks[b + 1], h, c.q(), att, scratch);
            }
        }
        return att;
    }

    private static int[] blocks(Case c, int maxBlock) {
        return AttentionKernels.queryBlocks(c.sequence(), c.positions(), c.tokens(), maxBlock);
    }

    /** Blocks as a chunked prefill makes them: each sequence's prompt cut at random chunk ends, then blocks within chunks. */
    private static int[] chunkedBlocks(Case c, SplittableRandom random) {
        List<Integer> out = new ArrayList<>();
        int chunk = 1 + random.nextInt(20);
        for (int t = 0; t < c.tokens(); ) {
            int end = t + 1;
            while (end < c.tokens() && c.sequence()[end] == c.sequence()[t] && c.positions()[end] % chunk != 0
                    && end - t < AttentionKernels.PREFILL_BLOCK) {
                end++;
            }
            out.add(t);
            out.add(end);
            t = end;
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    @ParameterizedTest(name = "GQA ratio {0}")
    @ValueSource(ints = {1, 2, 4})
    void blockedPrefillIsBitIdenticalToThePerTokenPathWholeOrChunked(int group) {
        SplittableRandom random = new SplittableRandom(100 + group);
        for (int trial = 0; trial < 60; trial++) {
            Case c = randomCase(random, group, trial % 3 == 1, trial % 4 == 3);
            float[] perToken = run(c, blocks(c, 1));
            String what = "trial " + trial + " " + c.shape() + " lengths " + java.util.Arrays.toString(c.lengths());
            assertBitwise(perToken, run(c, blocks(c, AttentionKernels.PREFILL_BLOCK)), what + ", whole prompts in blocks");
            assertBitwise(perToken, run(c, blocks(c, 1 + random.nextInt(40))), what + ", another block size");
            assertBitwise(perToken, run(c, chunkedBlocks(c, random)), what + ", chunked prompts");
        }
    }

    @ParameterizedTest(name = "GQA ratio {0}")
    @ValueSource(ints = {1, 2, 4})
    void blockedAttentionAgreesWithAPlainLoop(int group) {
        SplittableRandom random = new SplittableRandom(200 + group);
        for (int trial = 0; trial < 30; trial++) {
            Case c = randomCase(random, group, trial % 3 == 1, trial % 4 == 3);
            float[] blocked = run(c, blocks(c, AttentionKernels.PREFILL_BLOCK));
            float[] plain = plain(c);
            // both are f32 with different summation orders over at most 60 positions of |v| ~ 1:
            // 1e-5 absolute is ~100 ulps of the outputs, far below the O(0.1) of any indexing mistake
            for (int i = 0; i < plain.length; i++) {
                assertEquals(plain[i], blocked[i], 1e-5, "trial " + trial + " " + c.shape() + " element " + i);
            }
        }
    }

    @Test
    void aShapeWithHeadsNotAMultipleOfKvHeadsIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new AttentionKernels.Shape(6, 4, 16, 0, 0.25f, 0f));
        assertEquals("heads (6) must be a positive multiple of kv heads (4)", e.getMessage());
    }

    @Test
    void queryBlocksSplitAtSequencesGapsAndTheBlockLimit() {
        int[] sequence = {0, 0, 0, 1, 1, 0, 2, 2, 2, 2, 2};
        int[] positions = {4, 5, 6, 9, 10, 7, 0, 1, 2, 4, 5};
        assertEquals(java.util.Arrays.toString(new int[] {0, 2, 2, 3, 3, 5, 5, 6, 6, 8, 8, 9, 9, 11}),
                java.util.Arrays.toString(AttentionKernels.queryBlocks(sequence, positions, sequence.length, 2)));
        assertEquals(java.util.Arrays.toString(new int[] {0, 3, 3, 5, 5, 6, 6, 9, 9, 11}),
                java.util.Arrays.toString(AttentionKernels.queryBlocks(sequence, positions, sequence.length, 16)));
    }

    /** The reference backend's loop: per token and head, scalar dots, softmax, weighted value sum. */
    private static float[] plain(Case c) {
        AttentionKernels.Shape s = c.shape();
        int hs = s.headDim();
        float[] out = new float[c.q().length];
        float[] data = c.kv().data;
        for (int t = 0; t < c.tokens(); t++) {
            int[] table = c.tables()[c.sequence()[t]];
            int position = c.positions()[t];
            for (int head = 0; head < s.heads(); head++) {
                int kvHead = head / s.group();
                int qOff = t * s.qDim() + head * hs;
                float[] scores = new float[position + 1];
                float max = Float.NEGATIVE_INFINITY;
                for (int j = s.first(position); j <= position; j++) {
                    int off = c.kv().keyOffset(table, 1, j) + kvHead * hs;
                    float dot = 0;
                    for (int i = 0; i < hs; i++) {
                        dot += c.q()[qOff + i] * data[off + i];
                    }
                    scores[j] = dot * s.scale();
                    if (s.cap() != 0f) {
                        scores[j] = s.cap() * (float) Math.tanh(scores[j] / s.cap());
                    }
                    max = Math.max(max, scores[j]);
                }
                float sum = 0;
                for (int j = s.first(position); j <= position; j++) {
                    scores[j] = (float) Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int j = s.first(position); j <= position; j++) {
                    int off = c.kv().valueOffset(table, 1, j) + kvHead * hs;
                    for (int i = 0; i < hs; i++) {
                        out[qOff + i] += scores[j] / sum * data[off + i];
                    }
                }
            }
        }
        return out;
    }

    private static void assertBitwise(float[] expected, float[] actual, String what) {
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                throw new AssertionError(what + ": element " + i + " is " + actual[i] + ", per token " + expected[i]);
            }
        }
    }
}
