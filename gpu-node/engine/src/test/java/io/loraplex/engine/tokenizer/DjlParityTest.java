package io.loraplex.engine.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static io.loraplex.engine.tokenizer.TinyFixtures.addToken;
import static io.loraplex.engine.tokenizer.TinyFixtures.node;
import static io.loraplex.engine.tokenizer.TinyFixtures.variant;
import static io.loraplex.engine.tokenizer.TinyFixtures.written;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Our encodings and decodings against HF's Rust tokenizers (through DJL) on the generated
 * tokenizers and on variants of them that exercise every supported component.
 */
class DjlParityTest {

    static final int RANDOM_TEXTS = 400;
    static final int RANDOM_ID_SEQUENCES = 300;

    static Stream<Arguments> tokenizers() {
        Path bl = written(TokenizerKind.BYTE_LEVEL, ChatStyle.LLAMA3);
        Path bf = written(TokenizerKind.BYTE_FALLBACK, ChatStyle.LLAMA2);
        List<Arguments> out = new ArrayList<>();
        for (TokenizerKind kind : TokenizerKind.values()) {
            for (ChatStyle style : ChatStyle.values()) {
                out.add(Arguments.of(kind + "/" + style, written(kind, style)));
            }
        }
        // Byte-level variants.
        out.add(Arguments.of("string-merges", variant("string-merges", bl, t -> stringMerges(t))));
        out.add(Arguments.of("gpt2-bytelevel-regex", variant("gpt2", bl, t -> {
            t.set("pre_tokenizer", node("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}"));
            t.set("post_processor", node("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":false,\"use_regex\":true}"));
            ((ObjectNode) t.get("model")).put("ignore_merges", false);
        })));
        out.add(Arguments.of("gpt2-no-prefix", variant("gpt2-no-prefix", bl, t ->
                t.set("pre_tokenizer", node("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}")))));
        for (String behavior : List.of("Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous")) {
            out.add(Arguments.of("split-" + behavior, variant("split-" + behavior, bl, t -> preTokenizer(t,
                    "{\"type\":\"Split\",\"pattern\":{\"Regex\":" + quote(TinyTokenizer.LLAMA3_REGEX) + "},\"behavior\":\"" + behavior + "\",\"invert\":false}"))));
        }
        out.add(Arguments.of("split-invert", variant("split-invert", bl, t -> preTokenizer(t,
                "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{L}+\"},\"behavior\":\"MergedWithPrevious\",\"invert\":true}"))));
        out.add(Arguments.of("split-string", variant("split-string", bl, t -> preTokenizer(t,
                "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"MergedWithNext\",\"invert\":false}"))));
        out.add(Arguments.of("whitespacesplit-digits-punct", variant("ws-digits", bl, t -> preTokenizer(t,
                "{\"type\":\"WhitespaceSplit\"}", "{\"type\":\"Digits\",\"individual_digits\":true}",
                "{\"type\":\"Punctuation\",\"behavior\":\"Isolated\"}"))));
        out.add(Arguments.of("whitespace-digits-contiguous", variant("w-digits", bl, t -> preTokenizer(t,
                "{\"type\":\"Whitespace\"}", "{\"type\":\"Digits\",\"individual_digits\":false}"))));
        out.add(Arguments.of("chardelimiter-bert", variant("bert", bl, t -> preTokenizer(t,
                "{\"type\":\"CharDelimiterSplit\",\"delimiter\":\"-\"}", "{\"type\":\"BertPreTokenizer\"}"))));
        out.add(Arguments.of("nfkc-lowercase-strip-replace", variant("nfkc", bl, t -> t.set("normalizer", node(
                "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},{\"type\":\"Lowercase\"},"
                        + "{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true},"
                        + "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" {2,}\"},\"content\":\" \"}]}")))));
        out.add(Arguments.of("nfd", variant("nfd", bl, t -> t.set("normalizer", node("{\"type\":\"NFD\"}")))));
        out.add(Arguments.of("nfkd", variant("nfkd", bl, t -> t.set("normalizer", node("{\"type\":\"NFKD\"}")))));
        out.add(Arguments.of("added-token-flags", variant("added-flags", bl, t -> {
            t.set("normalizer", node("{\"type\":\"Lowercase\"}"));
            addToken(t, "hello", false, true, false, false, false);
            addToken(t, "world", false, false, true, false, false);
            addToken(t, "the", false, false, false, true, false);
            addToken(t, "Ω", false, false, false, false, true);
            addToken(t, "HeLLo wOrld", false, false, false, false, true);
            addToken(t, "<sep>", true, true, true, false, false);
            addToken(t, "<sep>>", true, false, false, false, false);
        })));
        out.add(Arguments.of("no-decoder-no-postprocessor", variant("bare", bl, t -> {
            t.putNull("decoder");
            t.putNull("post_processor");
        })));
        // Byte-fallback variants.
        out.add(Arguments.of("metaspace-first", variant("metaspace-first", bf, t -> {
            t.putNull("normalizer");
            t.set("pre_tokenizer", node("{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"first\",\"split\":false}"));
        })));
        out.add(Arguments.of("metaspace-always-split", variant("metaspace-always", bf, t -> {
            t.putNull("normalizer");
            t.set("pre_tokenizer", node("{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"always\",\"split\":true}"));
        })));
        out.add(Arguments.of("metaspace-never-decoder", variant("metaspace-never", bf, t -> {
            t.putNull("normalizer");
            t.set("pre_tokenizer", node("{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"never\",\"split\":true}"));
            t.set("decoder", node("{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"ByteFallback\"},"
                    + "{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"never\",\"split\":true}]}"));
        })));
        out.add(Arguments.of("metaspace-decoder-first", variant("metaspace-decoder", bf, t -> {
            t.putNull("normalizer");
            t.set("pre_tokenizer", node("{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"first\",\"split\":false}"));
            t.set("decoder", node("{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"ByteFallback\"},"
                    + "{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"first\",\"split\":false},{\"type\":\"Fuse\"}]}"));
        })));
        out.add(Arguments.of("metaspace-legacy-add-prefix-space", variant("metaspace-legacy", bf, t -> {
            t.putNull("normalizer");
            t.set("pre_tokenizer", node("{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"add_prefix_space\":true}"));
        })));
        out.add(Arguments.of("unk-fused-no-fallback", variant("unk-fused", bf, t ->
                ((ObjectNode) t.get("model")).put("byte_fallback", false))));
        out.add(Arguments.of("unk-unfused-no-fallback", variant("unk-unfused", bf, t ->
                ((ObjectNode) t.get("model")).put("byte_fallback", false).put("fuse_unk", false))));
        out.add(Arguments.of("byte-fallback-added-normalized", variant("bf-added", bf, t -> {
            addToken(t, "foo bar", false, false, false, false, true);
            addToken(t, " baz", false, false, false, false, false);
            addToken(t, "[INST]", true, false, false, false, false);
        })));
        return out.stream();
    }

    private static String quote(String s) {
        try {
            return TinyFixtures.MAPPER.writeValueAsString(s);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Replaces the pre-tokenizer by {@code steps} followed by ByteLevel without regex. */
    private static void preTokenizer(ObjectNode t, String... steps) {
        ObjectNode seq = node("{\"type\":\"Sequence\",\"pretokenizers\":[]}");
        ArrayNode list = (ArrayNode) seq.get("pretokenizers");
        for (String s : steps) {
            list.add(node(s));
        }
        list.add(node("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}"));
        t.set("pre_tokenizer", seq);
    }

    private static void stringMerges(ObjectNode t) {
        ArrayNode merges = (ArrayNode) t.get("model").get("merges");
        ArrayNode strings = TinyFixtures.MAPPER.createArrayNode();
        merges.forEach(pair -> strings.add(pair.get(0).asText() + " " + pair.get(1).asText()));
        ((ObjectNode) t.get("model")).set("merges", strings);
    }

    static HuggingFaceTokenizer djl(Path dir) throws IOException {
        return HuggingFaceTokenizer.newInstance(dir.resolve(Tokenizer.FILE), Map.of("truncation", "false", "padding", "false"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tokenizers")
    void encodeAndDecodeMatchHuggingFace(String name, Path dir) throws IOException {
        Tokenizer ours = Tokenizer.load(dir);
        List<String> failures = new ArrayList<>();
        int checked = 0;
        try (HuggingFaceTokenizer hf = djl(dir)) {
            for (String text : Texts.all(RANDOM_TEXTS, name.hashCode())) {
                for (boolean special : new boolean[] {false, true}) {
                    long[] expected = hf.encode(text, special, false).getIds();
                    int[] actual = ours.encode(text, special);
                    checked++;
                    if (!Arrays.equals(expected, longs(actual))) {
                        failures.add("encode(" + show(text) + ", " + special + ")\n  hf:   " + Arrays.toString(expected)
                                + "\n  ours: " + Arrays.toString(actual));
                        continue;
                    }
                    for (boolean skip : new boolean[] {false, true}) {
                        String hfText = hf.decode(expected, skip);
                        String ourText = ours.decode(actual, skip);
                        if (!hfText.equals(ourText)) {
                            failures.add("decode(encode(" + show(text) + "), skip=" + skip + ")\n  hf:   " + show(hfText)
                                    + "\n  ours: " + show(ourText));
                        }
                    }
                }
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + checked + " differ, first ones:\n"
                + String.join("\n", failures.subList(0, Math.min(8, failures.size()))));
    }

    /** Decoding arbitrary id sequences: byte pieces out of order, specials, lone "▁", invalid UTF-8. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("tokenizers")
    void decodeOfRandomIdsMatchesHuggingFace(String name, Path dir) throws IOException {
        Tokenizer ours = Tokenizer.load(dir);
        Random random = new Random(name.hashCode());
        List<String> failures = new ArrayList<>();
        try (HuggingFaceTokenizer hf = djl(dir)) {
            for (int i = 0; i < RANDOM_ID_SEQUENCES; i++) {
                int[] ids = random.ints(random.nextInt(12), 0, ours.vocabSize()).toArray();
                for (boolean skip : new boolean[] {false, true}) {
                    String expected = hf.decode(longs(ids), skip);
                    String actual = ours.decode(ids, skip);
                    if (!expected.equals(actual)) {
                        failures.add("decode(" + Arrays.toString(ids) + ", " + skip + ")\n  hf:   " + show(expected) + "\n  ours: " + show(actual));
                    }
                }
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " differ, first ones:\n" + String.join("\n", failures.subList(0, Math.min(8, failures.size()))));
    }

    @Test
    void djlIsNotTruncatingLongInputs() throws IOException {
        Path dir = written(TokenizerKind.BYTE_LEVEL, ChatStyle.LLAMA3);
        String longText = "The harbour town woke slowly. ".repeat(300);
        try (HuggingFaceTokenizer hf = djl(dir)) {
            long[] expected = hf.encode(longText, true, false).getIds();
            int[] actual = Tokenizer.load(dir).encode(longText, true);
            assertTrue(actual.length > 1000, "the input should be long enough to matter: " + actual.length);
            assertArrayEquals(expected, longs(actual));
        }
        assertEquals(0, Tokenizer.load(dir).encode("", false).length);
    }

    static long[] longs(int[] ids) {
        return Arrays.stream(ids).asLongStream().toArray();
    }

    /** Text with control and invisible characters escaped, so failure messages can be read. */
    static String show(String s) {
        StringBuilder out = new StringBuilder("\"");
        s.codePoints().forEach(cp -> {
            if (cp == '\n') {
                out.append("\\n");
            } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x200B && cp <= 0x200F) || Character.getType(cp) == Character.NON_SPACING_MARK
                    || Character.isWhitespace(cp) && cp != ' ' || cp == 0xA0 || cp == 0x3000) {
                out.append(String.format("\\u%04x", cp));
            } else {
                out.appendCodePoint(cp);
            }
        });
        return out.append('"').toString();
    }
}
