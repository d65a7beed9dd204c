package io.loraplex.engine.tokenizer;

import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import java.util.OptionalInt;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE {@code model} of tokenizer.json: a word becomes characters (or their {@code <0xNN>} bytes,
 * or the unknown token), then pairs are merged lowest rank first, leftmost on ties, exactly as HF's
 * {@code Word::merge_all}. Results are cached per word, up to HF's bound.
 */
final class BpeModel {

    /** HF's cache capacity; the cache stops growing when full rather than evicting. */
    static final int CACHE_CAPACITY = 10_000;
    /** HF does not cache words of this many bytes or more. */
    static final int CACHE_MAX_WORD = 256;

    private final Map<String, Integer> vocab;
    private final String[] pieces;             // (maxId + 1) piece by id, null for gaps
    private final Map<Long, Long> merges;      // (left << 32 | right) -> (rank << 32 | merged id)
    private final int unkId;                   // -1 when there is no unk_token
    private final boolean fuseUnk;
    private final boolean byteFallback;
    private final boolean ignoreMerges;
    private final String continuingPrefix;     // nullable
    private final String endOfWordSuffix;      // nullable
    private final int[] byteIds;               // (256) id of "<0xNN>", or -1
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    private BpeModel(Map<String, Integer> vocab, Map<Long, Long> merges, int unkId, boolean fuseUnk,
                     boolean byteFallback, boolean ignoreMerges, String continuingPrefix, String endOfWordSuffix) {
        this.vocab = vocab;
        this.merges = merges;
        this.unkId = unkId;
        this.fuseUnk = fuseUnk;
        this.byteFallback = byteFallback;
        this.ignoreMerges = ignoreMerges;
        this.continuingPrefix = continuingPrefix;
        this.endOfWordSuffix = endOfWordSuffix;
        int max = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1);
        this.pieces = new String[max + 1];
        vocab.forEach((piece, id) -> pieces[id] = piece);
        this.byteIds = new int[256];
        for (int b = 0; b < 256; b++) {
            byteIds[b] = vocab.getOrDefault(byteToken(b), -1);
        }
    }

    /** The byte-fallback piece of byte {@code b}: {@code <0x0A>}. */
    static String byteToken(int b) {
        return String.format("<0x%02X>", b & 0xFF);
    }

    static BpeModel parse(Json model) throws IOException {
        String type = model.has("type") ? model.string("type") : (model.has("merges") ? "BPE" : "?");
        if (!type.equals("BPE")) {
            throw model.unsupported("model", type, "BPE");
        }
        if (model.has("dropout") && model.get("dropout").node().asDouble() != 0.0) {
            // Dropout samples merges at random: encodings would not be reproducible.
            throw model.get("dropout").error("BPE dropout " + model.get("dropout").node().asText() + " is not supported (only null or 0)");
        }
        Json vocabJson = model.required("vocab");
        if (!vocabJson.node().isObject()) {
            throw vocabJson.error("expected an object of piece to id, found " + vocabJson.node().getNodeType());
        }
        Map<String, Integer> vocab = new HashMap<>(vocabJson.node().size() * 2);
        for (Map.Entry<String, com.fasterxml.jackson.databind.JsonNode> e : vocabJson.node().properties()) {
            int id = vocabJson.get(e.getKey()).asInt();
            if (id < 0) {
                throw vocabJson.get(e.getKey()).error("negative token id " + id);
            }
            vocab.put(e.getKey(), id);
        }
        String prefix = model.optString("continuing_subword_prefix");
        String suffix = model.optString("end_of_word_suffix");
        Map<Long, Long> merges = parseMerges(model, vocab, prefix);
        String unk = model.optString("unk_token");
        int unkId = -1;
        if (unk != null) {
            Integer id = vocab.get(unk);
            if (id == null) {
                throw model.get("unk_token").error("unk_token '" + unk + "' is not in the vocab");
            }
            unkId = id;
        }
        return new BpeModel(vocab, merges, unkId, model.bool("fuse_unk", false), model.bool("byte_fallback", false),
                model.bool("ignore_merges", false), prefix, suffix);
    }

    /** Both spellings of merges: {@code "a b"} strings and {@code ["a", "b"]} pairs; rank = position. */
    private static Map<Long, Long> parseMerges(Json model, Map<String, Integer> vocab, String prefix) throws IOException {
        Map<Long, Long> merges = new HashMap<>();
        if (!model.has("merges")) {
            return merges;
        }
        int rank = 0;
        for (Json m : model.elements("merges")) {
            String left;
            String right;
            if (m.node().isTextual()) {
                if (m.node().asText().startsWith("#version")) {
                    continue; // merges.txt header kept by some converters
                }
                String[] parts = m.node().asText().split(" ", -1);
                if (parts.length != 2) {
                    throw m.error("expected a merge \"left right\" with exactly one space, found \"" + m.node().asText() + "\"");
                }
                left = parts[0];
                right = parts[1];
            } else {
                var pair = m.elements();
                if (pair.size() != 2) {
                    throw m.error("expected a merge pair [left, right], found " + pair.size() + " elements");
                }
                left = pair.get(0).asString();
                right = pair.get(1).asString();
            }
            Integer l = vocab.get(left);
            Integer r = vocab.get(right);
            String mergedPiece = left + (prefix != null && right.startsWith(prefix) ? right.substring(prefix.length()) : right);
            Integer merged = vocab.get(mergedPiece);
            if (l == null || r == null || merged == null) {
                String missing = l == null ? left : r == null ? right : mergedPiece;
                throw m.error("merge (" + left + ", " + right + ") uses '" + missing + "', which is not in the vocab");
            }
            // A repeated pair takes its later rank, as HF's map insertion does.
            merges.put(pairKey(l, r), ((long) rank << 32) | merged);
            rank++;
        }
        return merges;
    }

    private static long pairKey(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    OptionalInt id(String piece) {
        Integer id = vocab.get(piece);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** The piece of {@code id}, or null when the vocab has no such id. */
    String piece(int id) {
        return id >= 0 && id < pieces.length ? pieces[id] : null;
    }

    int maxId() {
        return pieces.length - 1;
    }

    /** Appends the ids of {@code word} (one pre-tokenized split) to {@code out}. */
    void tokenize(String word, IntList out) {
        if (word.isEmpty()) {
            return;
        }
        if (ignoreMerges) {
            Integer whole = vocab.get(word);
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        int[] cached = cache.get(word);
        if (cached == null) {
            cached = mergeWord(word);
            if (word.length() < CACHE_MAX_WORD && cache.size() < CACHE_CAPACITY) {
                cache.put(word, cached);
            }
        }
        out.addAll(cached);
    }

    /** HF's {@code BPE::merge_word}: initial symbols, then {@link #mergeAll}. */
    private int[] mergeWord(String word) {
        IntList symbols = new IntList(word.length());
        int pendingUnk = -1; // HF holds one unk back so that consecutive unknowns can fuse
        for (int i = 0; i < word.length(); ) {
            int cp = word.codePointAt(i);
            int end = i + Character.charCount(cp);
            String s = word.substring(i, end);
            if (i > 0 && continuingPrefix != null) {
                s = continuingPrefix + s;
            }
            if (end == word.length() && endOfWordSuffix != null) {
                s = s + endOfWordSuffix;
            }
            i = end;
            Integer id = vocab.get(s);
            if (id != null) {
                if (pendingUnk >= 0) {
                    symbols.add(pendingUnk);
                    pendingUnk = -1;
                }
                symbols.add(id);
                continue;
            }
            if (byteFallback && addBytes(s, symbols)) {
                continue; // HF leaves a pending unk in place here, so it may land after these bytes
            }
            if (unkId >= 0) {
                if (pendingUnk >= 0 && !fuseUnk) {
                    symbols.add(pendingUnk);
                }
                pendingUnk = unkId;
            }
            // No unk_token and no byte for it: HF drops the character.
        }
        if (pendingUnk >= 0) {
            symbols.add(pendingUnk);
        }
        return mergeAll(symbols.toArray());
    }

    /** Appends the byte tokens of {@code s}; false (nothing appended) when one is missing. */
    private boolean addBytes(String s, IntList symbols) {
        byte[] bytes = s.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        for (byte b : bytes) {
            if (byteIds[b & 0xFF] < 0) {
                return false;
            }
        }
        for (byte b : bytes) {
            symbols.add(byteIds[b & 0xFF]);
        }
        return true;
    }

    /**
     * Merges until no adjacent pair has a merge. The queue holds (rank << 32 | position): lowest
     * rank first, leftmost on ties. Entries go stale when a neighbour merged first; they are
     * recognised because the pair now at that position merges to another id (HF's check).
     */
    private int[] mergeAll(int[] ids) {
        int n = ids.length;
        if (n < 2) {
            return ids;
        }
        int[] prev = new int[n];
        int[] next = new int[n];
        boolean[] removed = new boolean[n];
        PriorityQueue<Long> queue = new PriorityQueue<>();
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        for (int i = 0; i + 1 < n; i++) {
            Long m = merges.get(pairKey(ids[i], ids[i + 1]));
            if (m != null) {
                queue.add(((m >>> 32) << 32) | i);
            }
        }
        while (!queue.isEmpty()) {
            long top = queue.poll();
            int rank = (int) (top >>> 32);
            int pos = (int) top;
            if (removed[pos] || next[pos] < 0) {
                continue;
            }
            int right = next[pos];
            Long m = merges.get(pairKey(ids[pos], ids[right]));
            if (m == null || (int) (m >>> 32) != rank) {
                continue; // stale: this position now holds another pair
            }
            ids[pos] = (int) (long) m;
            removed[right] = true;
            next[pos] = next[right];
            if (next[pos] >= 0) {
                prev[next[pos]] = pos;
            }
            if (prev[pos] >= 0) {
                Long left = merges.get(pairKey(ids[prev[pos]], ids[pos]));
                if (left != null) {
                    queue.add(((left >>> 32) << 32) | prev[pos]);
                }
            }
            if (next[pos] >= 0) {
                Long after = merges.get(pairKey(ids[pos], ids[next[pos]]));
                if (after != null) {
                    queue.add(((after >>> 32) << 32) | pos);
                }
            }
        }
        IntList out = new IntList(n);
        for (int i = 0; i < n; i++) {
            if (!removed[i]) {
                out.add(ids[i]);
            }
        }
        return out.toArray();
    }
}
