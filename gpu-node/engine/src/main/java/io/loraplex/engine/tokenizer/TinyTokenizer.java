package io.loraplex.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
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
 * the files of HF's layout for the kind and chat style ({@code tokenizer.json},
 * {@code tokenizer_config.json}, {@code special_tokens_map.json}). The seed picks how often each
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

    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

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
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(Tokenizer.FILE), HfJson.write(tokenizerJson(kind, style, vocab), false));
        Files.writeString(dir.resolve(TokenizerConfig.CONFIG), HfJson.write(tokenizerConfig(kind, style, vocab), true));
        Files.writeString(dir.resolve(TokenizerConfig.SPECIAL_TOKENS_MAP), HfJson.write(specialTokensMap(kind, style), true));
        return new Written(vocab.size(), optionalId(vocab, style.bosToken()),
                style.eosTokens().stream().map(vocab.ids::get).toList(), optionalId(vocab, style.padToken()),
                style.bosToken(), style.eosTokens(), style.padToken(), vocab.specials);
    }

    private static OptionalInt optionalId(Vocabulary vocab, String token) {
        return token == null ? OptionalInt.empty() : OptionalInt.of(vocab.ids.get(token));
    }

    /** Pieces in id order, which of them are special, and the learned merges. */
    private record Vocabulary(Map<String, Integer> ids, List<String> specials, List<BpeTrainer.Merge> merges,
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
        Normalizer normalizer = style == ChatStyle.CHATML ? new Normalizer.UnicodeForm(java.text.Normalizer.Form.NFC) : null;
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

    private static String regexOf(ChatStyle style) {
        return style == ChatStyle.CHATML ? QWEN2_REGEX : LLAMA3_REGEX;
    }

    private static Vocabulary byteFallback(List<String> paragraphs, ChatStyle style, int vocabSize) {
        List<String> specials = new ArrayList<>();
        specials.add(UNK);
        style.specialTokens().stream().filter(s -> !s.equals(UNK)).forEach(specials::add);
        Normalizer normalizer = llama2Normalizer();
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

    // ---- tokenizer.json ----------------------------------------------------------------------

    private static ObjectNode tokenizerJson(TokenizerKind kind, ChatStyle style, Vocabulary vocab) {
        ObjectNode root = JSON.objectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (String s : vocab.specials()) {
            added.add(addedToken(vocab.ids().get(s), s));
        }
        if (kind == TokenizerKind.BYTE_LEVEL) {
            if (style == ChatStyle.CHATML) {
                root.set("normalizer", type("NFC"));
            } else {
                root.putNull("normalizer");
            }
            ObjectNode split = type("Split");
            split.putObject("pattern").put("Regex", regexOf(style));
            split.put("behavior", "Isolated");
            split.put("invert", false);
            ObjectNode pre = type("Sequence");
            pre.putArray("pretokenizers").add(split).add(byteLevel(false, true, false));
            root.set("pre_tokenizer", pre);
            root.set("post_processor", style.bosToken() == null ? byteLevel(false, false, false)
                    : sequence("processors", byteLevel(true, false, true), template(style.bosToken(), vocab)));
            root.set("decoder", byteLevel(true, true, true));
        } else {
            ObjectNode normalizer = type("Sequence");
            ObjectNode prepend = type("Prepend");
            prepend.put("prepend", SPACE);
            normalizer.putArray("normalizers").add(prepend).add(replace(" ", SPACE));
            root.set("normalizer", normalizer);
            root.putNull("pre_tokenizer");
            root.set("post_processor", style.bosToken() == null ? JSON.nullNode() : template(style.bosToken(), vocab));
            ObjectNode strip = type("Strip");
            strip.put("content", " ");
            strip.put("start", 1);
            strip.put("stop", 0);
            root.set("decoder", sequence("decoders", replace(SPACE, " "), type("ByteFallback"), type("Fuse"), strip));
        }
        root.set("model", model(kind, vocab));
        return root;
    }

    private static ObjectNode model(TokenizerKind kind, Vocabulary vocab) {
        boolean byteLevel = kind == TokenizerKind.BYTE_LEVEL;
        ObjectNode model = type("BPE");
        model.putNull("dropout");
        if (byteLevel) {
            model.putNull("unk_token");
        } else {
            model.put("unk_token", UNK);
        }
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", !byteLevel);
        model.put("byte_fallback", !byteLevel);
        model.put("ignore_merges", byteLevel);
        ObjectNode v = model.putObject("vocab");
        vocab.modelIds().forEach(v::put);
        ArrayNode merges = model.putArray("merges");
        for (BpeTrainer.Merge m : vocab.merges()) {
            merges.addArray().add(m.left()).add(m.right());
        }
        return model;
    }

    private static ObjectNode type(String type) {
        ObjectNode node = JSON.objectNode();
        node.put("type", type);
        return node;
    }

    private static ObjectNode sequence(String field, JsonNode... steps) {
        ObjectNode node = type("Sequence");
        ArrayNode array = node.putArray(field);
        for (JsonNode s : steps) {
            array.add(s);
        }
        return node;
    }

    private static ObjectNode byteLevel(boolean addPrefixSpace, boolean trimOffsets, boolean useRegex) {
        ObjectNode node = type("ByteLevel");
        node.put("add_prefix_space", addPrefixSpace);
        node.put("trim_offsets", trimOffsets);
        node.put("use_regex", useRegex);
        return node;
    }

    private static ObjectNode replace(String pattern, String content) {
        ObjectNode node = type("Replace");
        node.putObject("pattern").put("String", pattern);
        node.put("content", content);
        return node;
    }

    private static ObjectNode addedToken(int id, String content) {
        ObjectNode t = JSON.objectNode();
        t.put("id", id);
        t.put("content", content);
        t.put("single_word", false);
        t.put("lstrip", false);
        t.put("rstrip", false);
        t.put("normalized", false);
        t.put("special", true);
        return t;
    }

    /** TemplateProcessing that puts {@code bos} before a sequence (and before each of a pair). */
    private static ObjectNode template(String bos, Vocabulary vocab) {
        ObjectNode node = type("TemplateProcessing");
        ArrayNode single = node.putArray("single");
        single.add(special(bos, 0)).add(sequenceItem("A", 0));
        ArrayNode pair = node.putArray("pair");
        pair.add(special(bos, 0)).add(sequenceItem("A", 0)).add(special(bos, 1)).add(sequenceItem("B", 1));
        ObjectNode entry = node.putObject("special_tokens").putObject(bos);
        entry.put("id", bos);
        entry.putArray("ids").add(vocab.ids().get(bos));
        entry.putArray("tokens").add(bos);
        return node;
    }

    private static ObjectNode special(String id, int typeId) {
        ObjectNode item = JSON.objectNode();
        ObjectNode inner = item.putObject("SpecialToken");
        inner.put("id", id);
        inner.put("type_id", typeId);
        return item;
    }

    private static ObjectNode sequenceItem(String id, int typeId) {
        ObjectNode item = JSON.objectNode();
        ObjectNode inner = item.putObject("Sequence");
        inner.put("id", id);
        inner.put("type_id", typeId);
        return item;
    }

    // ---- tokenizer_config.json and special_tokens_map.json ----------------------------------

    private static ObjectNode tokenizerConfig(TokenizerKind kind, ChatStyle style, Vocabulary vocab) {
        ObjectNode config = JSON.objectNode();
        config.put("add_bos_token", style.bosToken() != null);
        config.put("add_eos_token", false);
        ObjectNode decoder = config.putObject("added_tokens_decoder");
        for (String s : vocab.specials()) {
            ObjectNode t = addedToken(vocab.ids().get(s), s);
            t.remove("id");
            decoder.set(String.valueOf(vocab.ids().get(s)), t);
        }
        putToken(config, "bos_token", style.bosToken());
        config.put("chat_template", style.chatTemplate());
        config.put("clean_up_tokenization_spaces", false);
        putToken(config, "eos_token", style.eosTokens().getFirst());
        config.putArray("model_input_names").add("input_ids").add("attention_mask");
        config.put("model_max_length", 4096);
        putToken(config, "pad_token", style.padToken());
        config.put("tokenizer_class", switch (kind) {
            case BYTE_FALLBACK -> "LlamaTokenizer";
            case BYTE_LEVEL -> style == ChatStyle.CHATML ? "Qwen2Tokenizer" : "PreTrainedTokenizerFast";
        });
        putToken(config, "unk_token", kind == TokenizerKind.BYTE_FALLBACK ? UNK : null);
        if (kind == TokenizerKind.BYTE_FALLBACK) {
            config.put("legacy", true);
        }
        return config;
    }

    private static void putToken(ObjectNode node, String field, String token) {
        if (token == null) {
            node.putNull(field);
        } else {
            node.put(field, token);
        }
    }

    private static ObjectNode specialTokensMap(TokenizerKind kind, ChatStyle style) {
        ObjectNode map = JSON.objectNode();
        if (style.bosToken() != null) {
            map.set("bos_token", tokenObject(style.bosToken()));
        }
        map.set("eos_token", tokenObject(style.eosTokens().getFirst()));
        if (style.padToken() != null) {
            map.set("pad_token", tokenObject(style.padToken()));
        }
        if (kind == TokenizerKind.BYTE_FALLBACK) {
            map.set("unk_token", tokenObject(UNK));
        }
        return map;
    }

    private static ObjectNode tokenObject(String content) {
        ObjectNode t = JSON.objectNode();
        t.put("content", content);
        t.put("lstrip", false);
        t.put("normalized", false);
        t.put("rstrip", false);
        t.put("single_word", false);
        return t;
    }
}
