package io.loraplex.engine.tokenizer;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.SortedMap;

/**
 * Classic BPE training over word frequencies: count adjacent symbol pairs (weighted by word
 * count), merge the most frequent pair everywhere, repeat. Ties go to the pair whose left, then
 * right, piece sorts first, so the result depends only on the counts. Pair counts are updated
 * only for the words a merge touches, and the best pair comes from a heap of count snapshots
 * (stale snapshots are skipped when popped) instead of a scan of all pairs per merge.
 */
final class BpeTrainer {

    /** A pair seen once teaches nothing: training stops when the best pair is rarer than this. */
    static final int MIN_PAIR_COUNT = 2;

    /** A learned merge, in rank order. */
    record Merge(String left, String right) {
        String merged() {
            return left + right;
        }
    }

    private final List<String> symbols = new ArrayList<>();       // symbol id -> piece
    private final Map<String, Integer> symbolIds = new HashMap<>();
    private final int[][] words;                                  // (unique words) symbol ids
    private final int[] counts;                                   // (unique words) frequency
    private final Map<Long, Long> pairCounts = new HashMap<>();   // (left << 32 | right) -> weighted count
    private final Map<Long, Set<Integer>> pairWords = new HashMap<>(); // pair -> words that may contain it
    private final PriorityQueue<long[]> best = new PriorityQueue<>(this::compareCandidates); // {count, pair}

    /**
     * @param wordCounts word (split into its initial symbols) to frequency, in a stable order
     */
    BpeTrainer(SortedMap<String, Integer> wordCounts, Map<String, List<String>> initialSymbols) {
        words = new int[wordCounts.size()][];
        counts = new int[wordCounts.size()];
        int w = 0;
        for (Map.Entry<String, Integer> e : wordCounts.entrySet()) {
            List<String> syms = initialSymbols.get(e.getKey());
            int[] ids = new int[syms.size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = symbol(syms.get(i));
            }
            words[w] = ids;
            counts[w] = e.getValue();
            addPairs(w, +1);
            w++;
        }
    }

    private int symbol(String piece) {
        return symbolIds.computeIfAbsent(piece, p -> {
            symbols.add(p);
            return symbols.size() - 1;
        });
    }

    private static long key(int left, int right) {
        return ((long) left << 32) | right;
    }

    private void addPairs(int w, int sign) {
        int[] ids = words[w];
        for (int i = 0; i + 1 < ids.length; i++) {
            long k = key(ids[i], ids[i + 1]);
            long c = pairCounts.getOrDefault(k, 0L) + (long) sign * counts[w];
            if (c == 0) {
                pairCounts.remove(k);
            } else {
                pairCounts.put(k, c);
                best.add(new long[] {c, k});
            }
            if (sign > 0) {
                pairWords.computeIfAbsent(k, x -> new HashSet<>()).add(w);
            }
        }
    }

    /**
     * Learns up to {@code maxNewPieces} new pieces. A merge whose result is already a piece (reached
     * by another split) is kept, as HF keeps it, but adds no piece.
     *
     * @param known pieces already in the vocabulary; learned pieces are added to it
     */
    List<Merge> train(int maxNewPieces, Set<String> known) {
        List<Merge> merges = new ArrayList<>();
        int added = 0;
        while (added < maxNewPieces) {
            long[] top = best.poll();
            if (top == null || top[0] < MIN_PAIR_COUNT) {
                break;
            }
            if (pairCounts.getOrDefault(top[1], 0L) != top[0]) {
                continue; // a snapshot from before the count changed
            }
            long pair = top[1];
            int left = (int) (pair >>> 32);
            int right = (int) pair;
            Merge merge = new Merge(symbols.get(left), symbols.get(right));
            merges.add(merge);
            if (known.add(merge.merged())) {
                added++;
            }
            apply(pair, left, right, symbol(merge.merged()));
        }
        return merges;
    }

    /** Higher count first, then the pair whose left, then right, piece sorts first. */
    private int compareCandidates(long[] a, long[] b) {
        if (a[0] != b[0]) {
            return Long.compare(b[0], a[0]);
        }
        return comparePairs(a[1], b[1]);
    }

    private int comparePairs(long a, long b) {
        int c = symbols.get((int) (a >>> 32)).compareTo(symbols.get((int) (b >>> 32)));
        return c != 0 ? c : symbols.get((int) a).compareTo(symbols.get((int) b));
    }

    /** Replaces (left, right) by {@code merged} in every word that holds it, left to right. */
    private void apply(long pair, int left, int right, int merged) {
        Set<Integer> affected = pairWords.remove(pair);
        if (affected == null) {
            return;
        }
        for (int w : affected.stream().sorted().toList()) {
            int[] ids = words[w];
            boolean present = false;
            for (int i = 0; i + 1 < ids.length && !present; i++) {
                present = ids[i] == left && ids[i + 1] == right;
            }
            if (!present) {
                continue; // stale entry: an earlier merge already consumed the pair here
            }
            addPairs(w, -1);
            int[] out = new int[ids.length];
            int n = 0;
            for (int i = 0; i < ids.length; i++) {
                if (i + 1 < ids.length && ids[i] == left && ids[i + 1] == right) {
                    out[n++] = merged;
                    i++;
                } else {
                    out[n++] = ids[i];
                }
            }
            words[w] = java.util.Arrays.copyOf(out, n);
            addPairs(w, +1);
        }
        pairCounts.remove(pair);
    }

    /** Word counts in the stable order the trainer wants. */
    static SortedMap<String, Integer> sorted(Map<String, Integer> counts) {
        return new java.util.TreeMap<>(counts);
    }
}
