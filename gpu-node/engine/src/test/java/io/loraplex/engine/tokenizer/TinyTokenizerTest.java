package io.loraplex.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

import static io.loraplex.engine.tokenizer.TinyFixtures.written;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TinyTokenizerTest {

    static final List<String> FILES = List.of(Tokenizer.FILE, TokenizerConfig.CONFIG, TokenizerConfig.SPECIAL_TOKENS_MAP);

    @ParameterizedTest
    @EnumSource(TokenizerKind.class)
    void sameSeedWritesIdenticalFilesAndAnotherSeedLearnsOtherMerges(TokenizerKind kind) throws IOException {
        Path a = TinyFixtures.scratch("seed-a");
        Path b = TinyFixtures.scratch("seed-b");
        Path c = TinyFixtures.scratch("seed-c");
        TinyTokenizer.write(a, kind, ChatStyle.LLAMA3, 700, 123);
        TinyTokenizer.write(b, kind, ChatStyle.LLAMA3, 700, 123);
        TinyTokenizer.write(c, kind, ChatStyle.LLAMA3, 700, 124);
        for (String f : FILES) {
            assertArrayEquals(Files.readAllBytes(a.resolve(f)), Files.readAllBytes(b.resolve(f)), f);
        }
        assertFalse(Files.readString(a.resolve(Tokenizer.FILE)).equals(Files.readString(c.resolve(Tokenizer.FILE))),
                "seed 124 should learn different merges than seed 123");
    }

    @ParameterizedTest
    @EnumSource(ChatStyle.class)
    void writtenSummaryAgreesWithTheFiles(ChatStyle style) throws IOException {
        for (TokenizerKind kind : TokenizerKind.values()) {
            Path dir = TinyFixtures.scratch("summary");
            TinyTokenizer.Written w = TinyTokenizer.write(dir, kind, style, 900, 1);
            Tokenizer tokenizer = Tokenizer.load(dir);
            assertEquals(900, w.vocabSize());
            assertEquals(w.vocabSize(), tokenizer.vocabSize());
            assertEquals(style.bosToken() == null ? OptionalInt.empty() : tokenizer.id(style.bosToken()), w.bosId());
            assertEquals(w.bosId(), tokenizer.bosId());
            assertEquals(style.eosTokens(), w.eosTokens());
            assertEquals(w.eosTokens().stream().map(t -> tokenizer.id(t).orElseThrow()).toList(), w.eosIds());
            assertArrayEquals(new int[] {w.eosIds().getFirst()}, tokenizer.eosIds(), "tokenizer_config names the end of turn");
            assertEquals(style.padToken() == null ? OptionalInt.empty() : tokenizer.id(style.padToken()), w.padId());
            for (String special : w.specialTokens()) {
                assertTrue(tokenizer.isSpecial(tokenizer.id(special).orElseThrow()), special);
            }
            assertTrue(w.specialTokens().containsAll(style.specialTokens()));
            if (kind == TokenizerKind.BYTE_FALLBACK) {
                // Llama 2's layout puts <unk> first; Gemma's has <pad>, <eos>, <bos>, <unk>
                assertEquals(Math.max(0, style.specialTokens().indexOf("<unk>")), tokenizer.id("<unk>").orElseThrow(),
                        "<unk> where the family has it");
            }
            ChatTemplate template = ChatTemplate.load(dir).orElseThrow();
            assertEquals(ChatTemplate.of(style.chatTemplate(), style.bosToken(), style.eosTokens().getFirst())
                    .render(List.of(new ChatMessage("user", "hi")), true), template.render(List.of(new ChatMessage("user", "hi")), true));
        }
    }

    @Test
    void corpusRunsOutBeforeAHugeVocabularyAndTooSmallIsRefused() throws IOException {
        Path dir = TinyFixtures.scratch("huge");
        TinyTokenizer.Written w = TinyTokenizer.write(dir, TokenizerKind.BYTE_LEVEL, ChatStyle.CHATML, 1_000_000, 3);
        assertTrue(w.vocabSize() < 1_000_000 && w.vocabSize() > 2_000, "stops when no pair repeats: " + w.vocabSize());
        assertEquals(w.vocabSize(), Tokenizer.load(dir).vocabSize());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TinyTokenizer.write(TinyFixtures.scratch("small"), TokenizerKind.BYTE_FALLBACK, ChatStyle.LLAMA2, 300, 3));
        assertTrue(e.getMessage().contains("vocabSize 300 is below the") && e.getMessage().contains("BYTE_FALLBACK"), e.getMessage());
    }

    @Test
    void byteLevelFileHasLlama3Layout() throws IOException {
        JsonNode json = TinyFixtures.MAPPER.readTree(written(TokenizerKind.BYTE_LEVEL, ChatStyle.LLAMA3).resolve(Tokenizer.FILE).toFile());
        assertEquals(List.of("version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", "post_processor",
                "decoder", "model"), fieldNames(json));
        assertEquals("Split", json.at("/pre_tokenizer/pretokenizers/0/type").asText());
        assertEquals(TinyTokenizer.LLAMA3_REGEX, json.at("/pre_tokenizer/pretokenizers/0/pattern/Regex").asText());
        assertEquals("ByteLevel", json.at("/pre_tokenizer/pretokenizers/1/type").asText());
        assertFalse(json.at("/pre_tokenizer/pretokenizers/1/use_regex").asBoolean());
        assertEquals("TemplateProcessing", json.at("/post_processor/processors/1/type").asText());
        assertTrue(json.at("/model/ignore_merges").asBoolean());
        assertEquals(0, json.at("/model/vocab/!").asInt());
        assertEquals(255, json.at("/model/vocab").get(String.valueOf(ByteLevelAlphabet.charOf(0xAD))).asInt());
        assertTrue(json.at("/model/merges/0").isArray(), "merges as [left, right] pairs, as tokenizers >= 0.20 writes them");
        assertFalse(json.at("/model/vocab").has("<|begin_of_text|>"), "special tokens are added tokens only, as in Llama 3");
    }

    @Test
    void byteFallbackFileHasLlama2Layout() throws IOException {
        Path dir = written(TokenizerKind.BYTE_FALLBACK, ChatStyle.LLAMA2);
        JsonNode json = TinyFixtures.MAPPER.readTree(dir.resolve(Tokenizer.FILE).toFile());
        assertEquals("Prepend", json.at("/normalizer/normalizers/0/type").asText());
        assertTrue(json.at("/pre_tokenizer").isNull());
        assertEquals(List.of("Replace", "ByteFallback", "Fuse", "Strip"),
                json.at("/decoder/decoders").findValuesAsText("type"));
        assertEquals(List.of(0, 1, 2, 3, 258), List.of(json.at("/model/vocab/<unk>").asInt(), json.at("/model/vocab/<s>").asInt(),
                json.at("/model/vocab").get("</s>").asInt(), json.at("/model/vocab/<0x00>").asInt(), json.at("/model/vocab/<0xFF>").asInt()));
        assertTrue(json.at("/model/byte_fallback").asBoolean() && json.at("/model/fuse_unk").asBoolean());
        JsonNode config = TinyFixtures.MAPPER.readTree(dir.resolve(TokenizerConfig.CONFIG).toFile());
        assertEquals("LlamaTokenizer", config.get("tokenizer_class").asText());
        assertTrue(config.get("add_bos_token").asBoolean());
        assertEquals("<s>", config.at("/added_tokens_decoder/1/content").asText());
        List<String> keys = fieldNames(config);
        assertEquals(keys.stream().sorted().toList(), keys, "transformers writes tokenizer_config.json with sorted keys");
        // Newlines are not in the alphabet: they fall back to bytes, as in Llama 2.
        Tokenizer tokenizer = Tokenizer.load(dir);
        assertTrue(java.util.Arrays.stream(tokenizer.encode("a\nb", false)).anyMatch(id -> tokenizer.piece(id).equals("<0x0A>")));
    }

    @ParameterizedTest
    @EnumSource(TokenizerKind.class)
    void learnedMergesCompressTheCorpus(TokenizerKind kind) throws IOException {
        Tokenizer tokenizer = Tokenizer.load(written(kind, ChatStyle.LLAMA3));
        String text = String.join("\n", TinyTokenizer.sample(0).subList(0, 20));
        int bytes = text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        int tokens = tokenizer.encode(text, false).length;
        // 1200 ids leave under a thousand merges: about 2.3 bytes per token on the corpus itself.
        assertTrue(tokens * 2 < bytes, kind + ": " + tokens + " tokens for " + bytes + " bytes");
    }

    @Test
    void corpusHasTheVarietyItPromises() {
        String corpus = String.join("", TinyTokenizer.sample(0));
        assertTrue(corpus.length() > 20_000);
        for (String sample : List.of("\"", "1,048,576", "def ", "public ", "é", "ß", "中", "東京", "오늘", "😀", "ş", "ñ")) {
            assertTrue(corpus.contains(sample), sample);
        }
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.properties().iterator(); it.hasNext(); ) {
            names.add(it.next().getKey());
        }
        return names;
    }

    @Test
    void differentKindsLoadAndWork() throws IOException {
        for (TokenizerKind kind : TokenizerKind.values()) {
            for (ChatStyle style : ChatStyle.values()) {
                Tokenizer tokenizer = Tokenizer.load(written(kind, style));
                String text = "The harbour town woke slowly. 中文 😀";
                assertEquals(text, tokenizer.decode(tokenizer.encode(text, true), true), kind + "/" + style);
                assertNotEquals(0, tokenizer.encode(text, false).length);
            }
        }
    }
}
