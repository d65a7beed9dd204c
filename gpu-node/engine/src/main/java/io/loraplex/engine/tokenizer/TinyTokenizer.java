package io.loraplex.engine.tokenizer;


import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Random;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Writes a real, small tokenizer for generated test models: BPE merges learned from an embedded
 * corpus ({@code tiny-corpus.txt}: prose, dialogue, numbers, code, accented Latin, CJK, emoji) and
 * the files of HF's layout for the kind and chat style ({@link TinyTokenizerFiles}). The seed picks how often each
 * corpus paragraph counts (1 to 3 times), so different seeds learn different merges; the same seed
 * writes byte-identical files.
 */
public final class TinyTokenizer {

    /** Llama 3's pre-tokenizer regex. */
    static final String LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Qwen2's: Llama 3's with single digits. */
    static final String QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    static final String SPACE = "▁";
    static final String UNK = "<unk>";
    static final String CORPUS = "tiny-corpus.txt";
    /** A character seen less often than this is left to byte fallback, as SentencePiece's coverage does. */
    static final int MIN_CHAR_COUNT = 2;

    /**
     * What was written.
     *
     * @param vocabSize     ids written (max id + 1); less than asked when the corpus ran out of pairs
     * @param bosId         the id of {@code bosToken}, if the style has one
     * @param eosIds        end of turn first, then end of text: generation stops at any of them
     * @param padId         the id of {@code padToken}, if the style has one
     * @param bosToken      nullable
     * @param eosTokens     the strings of {@code eosIds}
     * @param padToken      nullable
     * @param specialTokens every special token, in id order
     */
    public record Written(int vocabSize, OptionalInt bosId, List<Integer> eosIds, OptionalInt padId, String bosToken,
                          List<String> eosTokens, String padToken, List<String> specialTokens) {
        public Written {
            eosIds = List.copyOf(eosIds);
            eosTokens = List.copyOf(eosTokens);
            specialTokens = List.copyOf(specialTokens);
        }
    }

    private TinyTokenizer() {
    }

    /**
     * Learns a vocabulary of at most {@code vocabSize} ids and writes the tokenizer files into
     * {@code dir} (created if needed).
     *
     * @throws IllegalArgumentException when {@code vocabSize} cannot hold the kind's base tokens
     *                                  (bytes, characters, special tokens)
     */
    public static Written write(Path dir, TokenizerKind kind, ChatStyle style, int vocabSize, long seed) throws IOException {
        List<String> paragraphs = sample(seed);
        Vocabulary vocab = switch (kind) {
            case BYTE_LEVEL -> byteLevel(paragraphs, style, vocabSize);
            case BYTE_FALLBACK -> byteFallback(paragraphs, style, vocabSize);
        };
        TinyTokenizerFiles.write(dir, kind, style, vocab);
        return new Written(vocab.size(), optionalId(vocab, style.bosToken()),
                style.eosTokens().stream().map(vocab.ids::get).toList(), optionalId(vocab, style.padToken()),
                style.bosToken(), style.eosTokens(), style.padToken(), vocab.specials);
    }

    private static OptionalInt optionalId(Vocabulary vocab, String token) {
        return token == null ? OptionalInt.empty() : OptionalInt.of(vocab.ids.get(token));
    }

    /**
     * What training produced.
     *
     * @param ids      every piece (model vocabulary and special tokens) to its id, in id order
     * @param specials the special tokens, in id order
     * @param merges   the learned merges, in rank order
     * @param modelIds the model's own vocabulary (byte-level keeps special tokens out of it, as Llama 3)
     */
    record Vocabulary(Map<String, Integer> ids, List<String> specials, List<BpeTrainer.Merge> merges,
                              Map<String, Integer> modelIds) {
        int size() {
            return ids.size();
        }
    }

    /** The corpus paragraphs, each repeated 1 to 3 times as the seed says, in a seeded order. */
    static List<String> sample(long seed) {
        String corpus;
        try (InputStream in = TinyTokenizer.class.getResourceAsStream(CORPUS)) {
            if (in == null) {
                throw new IllegalStateException("resource " + CORPUS + " is missing from the classpath");
            }
            corpus = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("reading resource " + CORPUS, e);
        }
        Random random = new Random(seed);
        List<String> out = new ArrayList<>();
        for (String paragraph : corpus.split("\n\n")) {
            int times = 1 + random.nextInt(3);
            for (int i = 0; i < times; i++) {
                out.add(paragraph + "\n");
            }
        }
        Collections.shuffle(out, random);
        return out;
    }

    private static Vocabulary byteLevel(List<String> paragraphs, ChatStyle style, int vocabSize) {
        int base = 256 + style.specialTokens().size();
        requireRoom(vocabSize, base, TokenizerKind.BYTE_LEVEL, style);
        PreTokenizer pre = new PreTokenizer.Sequence(List.of(
                new PreTokenizer.Split(Pattern.compile(regexOf(style), Pattern.UNICODE_CHARACTER_CLASS), SplitBehavior.ISOLATED, false),
                new PreTokenizer.ByteLevel(false, false)));
        Normalizer normalizer = style.chatml() ? new Normalizer.UnicodeForm(java.text.Normalizer.Form.NFC) : null;
        Map<String, Integer> wordCounts = new HashMap<>();
        for (String p : paragraphs) {
            String text = normalizer == null ? p : normalizer.normalize(p);
            for (Piece w : pre.apply(List.of(Piece.text(text, true)))) {
                wordCounts.merge(w.text(), 1, Integer::sum);
            }
        }
        Map<String, Integer> ids = new LinkedHashMap<>();
        for (char c : ByteLevelAlphabet.inVocabularyOrder()) {
            ids.put(String.valueOf(c), ids.size());
        }
        List<BpeTrainer.Merge> merges = learn(wordCounts, w -> w.chars().mapToObj(c -> String.valueOf((char) c)).toList(),
                ids, vocabSize - base);
        Map<String, Integer> modelIds = new LinkedHashMap<>(ids);
        for (String s : style.specialTokens()) {
            ids.put(s, ids.size()); // after the learned pieces, as in Llama 3 and Qwen2
        }
        return new Vocabulary(ids, style.specialTokens(), merges, modelIds);
    }

    static String regexOf(ChatStyle style) {
        return style.chatml() ? QWEN2_REGEX : LLAMA3_REGEX;
    }

    private static Vocabulary byteFallback(List<String> paragraphs, ChatStyle style, int vocabSize) {
        List<String> specials = new ArrayList<>();
        // <unk> first unless the style places it (Gemma: <pad>, <eos>, <bos>, <unk>, as its vocabulary has them)
        if (!style.specialTokens().contains(UNK)) {
            specials.add(UNK);
        }
        specials.addAll(style.specialTokens());
        Normalizer normalizer = style.gemma() ? gemmaNormalizer() : llama2Normalizer();
        Map<Integer, Integer> charCounts = new HashMap<>();
        List<String> normalized = paragraphs.stream().map(normalizer::normalize).toList();
        normalized.forEach(p -> p.codePoints().forEach(cp -> charCounts.merge(cp, 1, Integer::sum)));
        // Control characters (newline, tab) stay bytes, as in Llama 2, where "\n" is <0x0A>.
        List<Integer> alphabet = charCounts.entrySet().stream()
                .filter(e -> e.getValue() >= MIN_CHAR_COUNT && Character.getType(e.getKey()) != Character.CONTROL)
                .sorted(Map.Entry.<Integer, Integer>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
                .map(Map.Entry::getKey).toList();
        int base = specials.size() + 256 + alphabet.size();
        requireRoom(vocabSize, base, TokenizerKind.BYTE_FALLBACK, style);
        Map<String, Integer> ids = new LinkedHashMap<>();
        specials.forEach(s -> ids.put(s, ids.size()));
        for (int b = 0; b < 256; b++) {
            ids.put(BpeModel.byteToken(b), ids.size());
        }
        alphabet.forEach(cp -> ids.put(Character.toString(cp), ids.size()));
        Set<Integer> inAlphabet = new HashSet<>(alphabet);
        Map<String, Integer> wordCounts = new HashMap<>();
        Pattern words = Pattern.compile(SPACE + "?[^" + SPACE + "]*");
        for (String p : normalized) {
            // SentencePiece words: each starts at a "▁"; characters outside the alphabet are never merged.
            var m = words.matcher(p);
            while (m.find()) {
                StringBuilder run = new StringBuilder();
                m.group().codePoints().forEach(cp -> {
                    if (inAlphabet.contains(cp)) {
                        run.appendCodePoint(cp);
                    } else if (!run.isEmpty()) {
                        wordCounts.merge(run.toString(), 1, Integer::sum);
                        run.setLength(0);
                    }
                });
                if (!run.isEmpty()) {
                    wordCounts.merge(run.toString(), 1, Integer::sum);
                }
            }
        }
        List<BpeTrainer.Merge> merges = learn(wordCounts,
                w -> w.codePoints().mapToObj(Character::toString).toList(), ids, vocabSize - base);
        return new Vocabulary(ids, specials, merges, ids);
    }

    /** Gemma's: spaces become "▁", with no dummy prefix. */
    static Normalizer gemmaNormalizer() {
        return new Normalizer.Replace(RustRegex.literal(" "), SPACE);
    }

    static Normalizer llama2Normalizer() {
        return new Normalizer.Sequence(List.of(new Normalizer.Prepend(SPACE), new Normalizer.Replace(RustRegex.literal(" "), SPACE)));
    }

    private static List<BpeTrainer.Merge> learn(Map<String, Integer> wordCounts,
                                                java.util.function.Function<String, List<String>> symbolsOf,
                                                Map<String, Integer> ids, int room) {
        var sorted = BpeTrainer.sorted(wordCounts);
        Map<String, List<String>> symbols = new HashMap<>();
        sorted.keySet().forEach(w -> symbols.put(w, symbolsOf.apply(w)));
        Set<String> known = new HashSet<>(ids.keySet());
        List<BpeTrainer.Merge> merges = new BpeTrainer(sorted, symbols).train(room, known);
        for (BpeTrainer.Merge m : merges) {
            ids.putIfAbsent(m.merged(), ids.size());
        }
        return merges;
    }

    private static void requireRoom(int vocabSize, int base, TokenizerKind kind, ChatStyle style) {
        if (vocabSize < base) {
            throw new IllegalArgumentException("vocabSize " + vocabSize + " is below the " + base
                    + " base tokens of " + kind + " with " + style + " (bytes, characters and special tokens)");
        }
    }
}
