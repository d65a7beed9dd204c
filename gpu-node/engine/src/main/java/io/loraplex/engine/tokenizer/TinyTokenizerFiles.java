package io.loraplex.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.loraplex.engine.tokenizer.TinyTokenizer.SPACE;
import static io.loraplex.engine.tokenizer.TinyTokenizer.UNK;

/**
 * The files of a learned {@link TinyTokenizer.Vocabulary} in HF's layout: {@code tokenizer.json} as
 * the Rust {@code tokenizers} writes it for Llama 3 (byte-level) or Llama 2 (byte fallback), and
 * {@code tokenizer_config.json} / {@code special_tokens_map.json} as transformers writes them
 * (sorted keys).
 */
final class TinyTokenizerFiles {

    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    private TinyTokenizerFiles() {
    }

    static void write(Path dir, TokenizerKind kind, ChatStyle style, TinyTokenizer.Vocabulary vocab) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(Tokenizer.FILE), HfJson.write(tokenizerJson(kind, style, vocab), false));
        Files.writeString(dir.resolve(TokenizerConfig.CONFIG), HfJson.write(tokenizerConfig(kind, style, vocab), true));
        Files.writeString(dir.resolve(TokenizerConfig.SPECIAL_TOKENS_MAP), HfJson.write(specialTokensMap(kind, style), true));
    }

    // ---- tokenizer.json ----------------------------------------------------------------------

    private static ObjectNode tokenizerJson(TokenizerKind kind, ChatStyle style, TinyTokenizer.Vocabulary vocab) {
        ObjectNode root = JSON.objectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (String s : vocab.specials()) {
            added.add(addedToken(vocab.ids().get(s), s));
        }
        if (kind == TokenizerKind.BYTE_LEVEL) {
            if (style.chatml()) {
                root.set("normalizer", type("NFC"));
            } else {
                root.putNull("normalizer");
            }
            ObjectNode split = type("Split");
            split.putObject("pattern").put("Regex", TinyTokenizer.regexOf(style));
            split.put("behavior", "Isolated");
            split.put("invert", false);
            ObjectNode pre = type("Sequence");
            pre.putArray("pretokenizers").add(split).add(byteLevel(false, true, false));
            root.set("pre_tokenizer", pre);
            root.set("post_processor", style.bosToken() == null ? byteLevel(false, false, false)
                    : sequence("processors", byteLevel(true, false, true), template(style.bosToken(), vocab)));
            root.set("decoder", byteLevel(true, true, true));
        } else {
            if (style.gemma()) {
                // Gemma's tokenizer.json: spaces replaced, no dummy prefix, so the decoder strips none
                root.set("normalizer", replace(" ", SPACE));
            } else {
                ObjectNode normalizer = type("Sequence");
                ObjectNode prepend = type("Prepend");
                prepend.put("prepend", SPACE);
                normalizer.putArray("normalizers").add(prepend).add(replace(" ", SPACE));
                root.set("normalizer", normalizer);
            }
            root.putNull("pre_tokenizer");
            root.set("post_processor", style.bosToken() == null ? JSON.nullNode() : template(style.bosToken(), vocab));
            if (style.gemma()) {
                root.set("decoder", sequence("decoders", replace(SPACE, " "), type("ByteFallback"), type("Fuse")));
            } else {
                ObjectNode strip = type("Strip");
                strip.put("content", " ");
                strip.put("start", 1);
                strip.put("stop", 0);
                root.set("decoder", sequence("decoders", replace(SPACE, " "), type("ByteFallback"), type("Fuse"), strip));
            }
        }
        root.set("model", model(kind, vocab));
        return root;
    }

    private static ObjectNode model(TokenizerKind kind, TinyTokenizer.Vocabulary vocab) {
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
    private static ObjectNode template(String bos, TinyTokenizer.Vocabulary vocab) {
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

    private static ObjectNode tokenizerConfig(TokenizerKind kind, ChatStyle style, TinyTokenizer.Vocabulary vocab) {
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
            case BYTE_FALLBACK -> style.gemma() ? "GemmaTokenizer" : "LlamaTokenizer";
            case BYTE_LEVEL -> style.chatml() ? "Qwen2Tokenizer" : "PreTrainedTokenizerFast";
        });
        putToken(config, "unk_token", kind == TokenizerKind.BYTE_FALLBACK ? UNK : null);
        if (kind == TokenizerKind.BYTE_FALLBACK && !style.gemma()) {
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
