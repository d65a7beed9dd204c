package io.loraplex.engine.tokenizer;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer.Form;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;

import static io.loraplex.engine.tokenizer.TinyFixtures.node;
import static io.loraplex.engine.tokenizer.TinyFixtures.variant;
import static io.loraplex.engine.tokenizer.TinyFixtures.written;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Behaviour and API of {@link Tokenizer} beyond parity with HF. */
class TokenizerTest {

    @ParameterizedTest
    @EnumSource(ChatStyle.class)
    void byteLevelDecodeInvertsEncode(ChatStyle style) throws IOException {
        Tokenizer tokenizer = Tokenizer.load(written(TokenizerKind.BYTE_LEVEL, style));
        for (String text : Texts.all(500, 3)) {
            // The ChatML flavours normalize to NFC first, as Qwen2 and Qwen3 do; that is all it changes.
            String expected = style.chatml() ? java.text.Normalizer.normalize(text, Form.NFC) : text;
            assertEquals(expected, tokenizer.decode(tokenizer.encode(text, false), false), DjlParityTest.show(text));
        }
    }

    @Test
    void byteFallbackRoundTripsExceptTheLlama2SpaceAfterSpecialTokens() throws IOException {
        Tokenizer tokenizer = Tokenizer.load(written(TokenizerKind.BYTE_FALLBACK, ChatStyle.LLAMA2));
        for (String text : Texts.all(500, 4)) {
            // A literal "▁" in the input is a space to this scheme, as to SentencePiece and HF.
            if (!text.contains("<s>") && !text.contains("</s>") && !text.contains("<unk>") && !text.contains("▁")) {
                assertEquals(text, tokenizer.decode(tokenizer.encode(text, true), true), DjlParityTest.show(text));
            }
        }
        // "▁" is prepended to every piece between special tokens, and only the first is stripped again.
        int[] ids = tokenizer.encode("Hi<s>there", false);
        assertEquals("▁", tokenizer.piece(ids[ids.length - 1]).substring(0, 1));
        assertEquals("Hi<s> there", tokenizer.decode(ids, false));
        assertEquals("Hi there", tokenizer.decode(ids, true));
        assertEquals("Hello", tokenizer.decode(tokenizer.encode("Hello", true), true));
        assertTrue(tokenizer.piece(tokenizer.encode("Hello", false)[0]).startsWith("▁"));
        // A leading space is kept: "▁▁Hello" loses one.
        assertEquals(" Hello", tokenizer.decode(tokenizer.encode(" Hello", false), false));
    }

    @Test
    void metaspaceFirstDoesNotPrependAfterSpecialTokens() throws IOException {
        Path dir = variant("test-metaspace-first", written(TokenizerKind.BYTE_FALLBACK, ChatStyle.LLAMA2), t -> {
            t.putNull("normalizer");
            t.set("pre_tokenizer", node("{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"first\",\"split\":false}"));
        });
        Tokenizer tokenizer = Tokenizer.load(dir);
        assertEquals("<s>Hi there", tokenizer.decode(tokenizer.encode("<s>Hi there", false), false));
        assertEquals("Hi there", tokenizer.decode(tokenizer.encode("Hi there", false), false));
    }

    @Test
    void apiOfAWrittenLlama3Tokenizer() throws IOException {
        Path dir = written(TokenizerKind.BYTE_LEVEL, ChatStyle.LLAMA3);
        Tokenizer tokenizer = Tokenizer.load(dir);
        assertEquals(TinyFixtures.VOCAB, tokenizer.vocabSize());
        for (int id = 0; id < tokenizer.vocabSize(); id++) {
            assertEquals(OptionalInt.of(id), tokenizer.id(tokenizer.piece(id)), "id of piece " + id);
        }
        int bos = tokenizer.id("<|begin_of_text|>").orElseThrow();
        int eot = tokenizer.id("<|eot_id|>").orElseThrow();
        assertEquals(OptionalInt.of(bos), tokenizer.bosId());
        assertArrayEquals(new int[] {eot}, tokenizer.eosIds());
        assertEquals("<|begin_of_text|>", tokenizer.bosToken());
        assertEquals("<|eot_id|>", tokenizer.eosToken());
        assertTrue(tokenizer.isSpecial(bos) && tokenizer.isSpecial(eot));
        assertFalse(tokenizer.isSpecial(tokenizer.id("a").orElseThrow()));
        assertEquals("Ġ", tokenizer.piece(tokenizer.encode(" ", false)[0]));
        assertEquals(List.of(dir.resolve(Tokenizer.FILE), dir.resolve(TokenizerConfig.CONFIG), dir.resolve(TokenizerConfig.SPECIAL_TOKENS_MAP)),
                tokenizer.files().stream().map(p -> dir.resolve(p.getFileName())).toList());
        assertEquals(bos, tokenizer.encode("hi", true)[0]);
        assertEquals(OptionalInt.empty(), tokenizer.id("not a piece at all"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tokenizer.piece(tokenizer.vocabSize()));
        assertTrue(e.getMessage().contains("token id " + tokenizer.vocabSize()) && e.getMessage().contains(Tokenizer.FILE), e.getMessage());
        // Unknown ids are dropped as in HF, whose decode filters ids without a token.
        int[] hi = tokenizer.encode("hi", false);
        int[] withUnknown = new int[hi.length + 2];
        withUnknown[0] = -1;
        System.arraycopy(hi, 0, withUnknown, 1, hi.length);
        withUnknown[hi.length + 1] = 1 << 20;
        assertEquals("hi", tokenizer.decode(withUnknown, false));
    }

    @Test
    void chatMlHasNoBosAndTwoEosTokensInTheWrittenSummary() throws IOException {
        Tokenizer tokenizer = Tokenizer.load(written(TokenizerKind.BYTE_LEVEL, ChatStyle.CHATML));
        assertEquals(OptionalInt.empty(), tokenizer.bosId());
        assertEquals(null, tokenizer.bosToken());
        assertArrayEquals(new int[] {tokenizer.id("<|im_end|>").orElseThrow()}, tokenizer.eosIds());
        assertArrayEquals(tokenizer.encode("hi", false), tokenizer.encode("hi", true), "ChatML adds no special tokens");
    }

    @Test
    void addBosAndEosTokenOfTheConfigDecideSpecialTokensAsTransformersDoes() throws IOException {
        Path base = written(TokenizerKind.BYTE_FALLBACK, ChatStyle.LLAMA2);
        Path dir = TinyFixtures.scratch("add-eos");
        Files.copy(base.resolve(Tokenizer.FILE), dir.resolve(Tokenizer.FILE));
        ObjectNode config = (ObjectNode) TinyFixtures.MAPPER.readTree(base.resolve(TokenizerConfig.CONFIG).toFile());
        config.put("add_bos_token", false).put("add_eos_token", true);
        Files.writeString(dir.resolve(TokenizerConfig.CONFIG), config.toString());
        Tokenizer tokenizer = Tokenizer.load(dir);
        int[] ids = tokenizer.encode("hi", true);
        assertArrayEquals(tokenizer.encode("hi", false), Arrays.copyOf(ids, ids.length - 1));
        assertEquals(tokenizer.id("</s>").orElseThrow(), ids[ids.length - 1]);
    }

    @Test
    void loadsFromTheFileItselfAndIsSafeToShare() throws IOException {
        Path dir = written(TokenizerKind.BYTE_LEVEL, ChatStyle.LLAMA3);
        Tokenizer fromFile = Tokenizer.load(dir.resolve(Tokenizer.FILE));
        Tokenizer fromDir = Tokenizer.load(dir);
        List<String> texts = Texts.all(300, 9);
        List<int[]> sequential = texts.stream().map(t -> fromDir.encode(t, true)).toList();
        List<int[]> parallel = texts.parallelStream().map(t -> fromFile.encode(t, true)).toList();
        for (int i = 0; i < texts.size(); i++) {
            assertArrayEquals(sequential.get(i), parallel.get(i), DjlParityTest.show(texts.get(i)));
        }
    }

    @Test
    void lossyUtf8MatchesRust() {
        byte[] bytes = {'a', (byte) 0xE2, (byte) 0x82, 'b', (byte) 0xF0, (byte) 0x9F, (byte) 0x98, (byte) 0x80,
                (byte) 0xC0, (byte) 0x80, (byte) 0xED, (byte) 0xA0, (byte) 0x80, (byte) 0xF4, (byte) 0x90};
        // E2 82 is one truncated sequence; C0, 80, ED, A0, 80, F4, 90 are each invalid alone.
        assertEquals("a\uFFFDb😀\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD", Utf8.lossy(bytes, bytes.length));
        assertEquals(null, Utf8.strict(bytes, bytes.length));
        assertEquals("é", Utf8.strict(new byte[] {(byte) 0xC3, (byte) 0xA9}, 2));
    }
}
