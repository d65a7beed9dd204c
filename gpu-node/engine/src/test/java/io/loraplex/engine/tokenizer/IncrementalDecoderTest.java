package io.loraplex.engine.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static io.loraplex.engine.tokenizer.TinyFixtures.node;
import static io.loraplex.engine.tokenizer.TinyFixtures.variant;
import static io.loraplex.engine.tokenizer.TinyFixtures.written;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Streaming decode must add up to the one-shot decode, and never split a character. */
class IncrementalDecoderTest {

    static Stream<Arguments> tokenizers() {
        Path bf = written(TokenizerKind.BYTE_FALLBACK, ChatStyle.LLAMA2);
        List<Arguments> out = new ArrayList<>();
        for (TokenizerKind kind : TokenizerKind.values()) {
            for (ChatStyle style : ChatStyle.values()) {
                out.add(Arguments.of(kind + "/" + style, written(kind, style)));
            }
        }
        out.add(Arguments.of("metaspace-decoder", variant("stream-metaspace-decoder", bf, t -> {
            t.putNull("normalizer");
            t.set("pre_tokenizer", node("{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"first\",\"split\":false}"));
            t.set("decoder", node("{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"ByteFallback\"},"
                    + "{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"first\",\"split\":false},{\"type\":\"Fuse\"}]}"));
        })));
        out.add(Arguments.of("strip-both-ends", variant("stream-strip", bf, t -> t.set("decoder", node(
                "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"▁\"},\"content\":\" \"},"
                        + "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":2,\"stop\":1}]}")))));
        out.add(Arguments.of("no-decoder", variant("stream-bare", written(TokenizerKind.BYTE_LEVEL, ChatStyle.LLAMA3),
                t -> t.putNull("decoder"))));
        return out.stream();
    }

    /** Streams {@code ids}, checking each returned piece; returns the concatenation. */
    static String stream(Tokenizer tokenizer, int[] ids, boolean skip) {
        IncrementalDecoder decoder = new IncrementalDecoder(tokenizer, skip);
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            String piece = decoder.add(id);
            assertFalse(!piece.isEmpty() && Character.isHighSurrogate(piece.charAt(piece.length() - 1)),
                    "a piece ends in half a surrogate pair");
            assertFalse(piece.endsWith("\uFFFD") && !tokenizer.decode(ids, skip).contains("\uFFFD"),
                    "U+FFFD returned although the full text has none: " + DjlParityTest.show(piece));
            out.append(piece);
        }
        return out.append(decoder.flush()).toString();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tokenizers")
    void streamedTextEqualsDecodeOfEncodedTexts(String name, Path dir) throws IOException {
        Tokenizer tokenizer = Tokenizer.load(dir);
        for (String text : Texts.all(200, 11)) {
            int[] ids = tokenizer.encode(text, true);
            for (boolean skip : new boolean[] {false, true}) {
                assertEquals(tokenizer.decode(ids, skip), stream(tokenizer, ids, skip),
                        "streaming " + Arrays.toString(ids) + " of " + DjlParityTest.show(text) + ", skip=" + skip);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tokenizers")
    void streamedTextEqualsDecodeOfRandomIds(String name, Path dir) throws IOException {
        Tokenizer tokenizer = Tokenizer.load(dir);
        Random random = new Random(5);
        for (int i = 0; i < 500; i++) {
            int[] ids = random.ints(random.nextInt(30), 0, tokenizer.vocabSize()).toArray();
            for (boolean skip : new boolean[] {false, true}) {
                assertEquals(tokenizer.decode(ids, skip), stream(tokenizer, ids, skip),
                        "streaming " + Arrays.toString(ids) + ", skip=" + skip);
            }
        }
    }

    @Test
    void multiByteCharacterSplitOverTokensComesOutWhole() throws IOException {
        Tokenizer tokenizer = Tokenizer.load(written(TokenizerKind.BYTE_LEVEL, ChatStyle.LLAMA3));
        // "😀" is four bytes; as four single-byte pieces it spans four tokens.
        int[] ids = "😀".chars().map(c -> 0).toArray();
        byte[] bytes = "a😀".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            ids[i] = tokenizer.id(String.valueOf(ByteLevelAlphabet.charOf(bytes[i]))).orElseThrow();
        }
        IncrementalDecoder decoder = new IncrementalDecoder(tokenizer, false);
        List<String> pieces = new ArrayList<>();
        for (int id : ids) {
            pieces.add(decoder.add(id));
        }
        pieces.add(decoder.flush());
        assertEquals(List.of("a", "", "", "", "😀", ""), pieces);
    }

    @Test
    void byteFallbackRunIsHeldUntilItEnds() throws IOException {
        Tokenizer tokenizer = Tokenizer.load(written(TokenizerKind.BYTE_FALLBACK, ChatStyle.LLAMA2));
        int[] ids = {tokenizer.id("▁x").orElse(tokenizer.id("x").orElseThrow()),
                tokenizer.id("<0xC3>").orElseThrow(), tokenizer.id("<0xA9>").orElseThrow(), tokenizer.id("<0xFF>").orElseThrow(),
                tokenizer.id("a").orElseThrow()};
        // The run C3 A9 FF is not UTF-8 as a whole, so HF gives three U+FFFD, not "é" and one.
        assertTrue(tokenizer.decode(ids, false).endsWith("\uFFFD\uFFFD\uFFFDa"), tokenizer.decode(ids, false));
        assertEquals(tokenizer.decode(ids, false), stream(tokenizer, ids, false));
    }

    @Test
    void llama2LeadingSpaceIsStrippedOnlyAtTheStart() throws IOException {
        Tokenizer tokenizer = Tokenizer.load(written(TokenizerKind.BYTE_FALLBACK, ChatStyle.LLAMA2));
        int[] ids = tokenizer.encode("Hello world", false);
        assertTrue(tokenizer.piece(ids[0]).startsWith("▁"), tokenizer.piece(ids[0]));
        IncrementalDecoder decoder = new IncrementalDecoder(tokenizer, true);
        StringBuilder out = new StringBuilder();
        List<String> pieces = new ArrayList<>();
        for (int id : ids) {
            String piece = decoder.add(id);
            pieces.add(piece);
            out.append(piece);
        }
        out.append(decoder.flush());
        assertEquals("Hello world", out.toString());
        assertFalse(pieces.getFirst().startsWith(" "), "the first piece keeps no leading space: " + pieces);
        assertTrue(pieces.stream().anyMatch(p -> p.startsWith(" w")), "a later word keeps its space: " + pieces);
    }

    /** Streams {@code generated} after {@code prompt}, as the engine does; returns the concatenation. */
    static String streamAfter(Tokenizer tokenizer, int[] prompt, int[] generated, boolean skip) {
        IncrementalDecoder decoder = new IncrementalDecoder(tokenizer, skip, prompt);
        StringBuilder out = new StringBuilder();
        for (int id : generated) {
            out.append(decoder.add(id));
        }
        return out.append(decoder.flush()).toString();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tokenizers")
    void promptTextPlusStreamedTextEqualsDecodeOfAllTokensAtEverySplitBetweenCharacters(String name, Path dir)
            throws IOException {
        Tokenizer tokenizer = Tokenizer.load(dir);
        Random random = new Random(3);
        int checked = 0;
        for (String text : Texts.all(200, 13)) {
            int[] ids = tokenizer.encode(text, true);
            if (ids.length < 2) {
                continue;
            }
            int split = 1 + random.nextInt(ids.length - 1);
            int[] prompt = Arrays.copyOfRange(ids, 0, split);
            int[] generated = Arrays.copyOfRange(ids, split, ids.length);
            for (boolean skip : new boolean[] {false, true}) {
                String promptText = tokenizer.decode(prompt, skip);
                String all = tokenizer.decode(ids, skip);
                String streamed = streamAfter(tokenizer, prompt, generated, skip);
                // a split inside a character (or a byte run) has no text of its own on either side
                if (!all.startsWith(promptText) || promptText.endsWith("\uFFFD")) {
                    continue;
                }
                assertEquals(all, promptText + streamed, "prompt " + Arrays.toString(prompt) + " then "
                        + Arrays.toString(generated) + " of " + DjlParityTest.show(text) + ", skip=" + skip);
                checked++;
            }
        }
        assertTrue(checked > 100, "only " + checked + " splits fell between characters");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tokenizers")
    void randomIdsAfterARandomPromptNeverFailToDecode(String name, Path dir) throws IOException {
        Tokenizer tokenizer = Tokenizer.load(dir);
        Random random = new Random(9);
        for (int i = 0; i < 500; i++) {
            int[] prompt = random.ints(1 + random.nextInt(12), 0, tokenizer.vocabSize()).toArray();
            int[] generated = random.ints(random.nextInt(20), 0, tokenizer.vocabSize()).toArray();
            for (boolean skip : new boolean[] {false, true}) {
                int[] all = java.util.stream.IntStream.concat(Arrays.stream(prompt), Arrays.stream(generated)).toArray();
                String promptText = tokenizer.decode(prompt, skip);
                String streamed = streamAfter(tokenizer, prompt, generated, skip);
                if (tokenizer.decode(all, skip).startsWith(promptText) && !promptText.endsWith("\uFFFD")
                        && !(generated.length > 0 && tokenizer.continuesByteRun(prompt[prompt.length - 1], skip))) {
                    assertEquals(tokenizer.decode(all, skip), promptText + streamed,
                            "prompt " + Arrays.toString(prompt) + " then " + Arrays.toString(generated) + ", skip=" + skip);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tokenizers")
    void theFirstGeneratedWordKeepsItsLeadingSpaceAfterThePrompt(String name, Path dir) throws IOException {
        Tokenizer tokenizer = Tokenizer.load(dir);
        int[] prompt = tokenizer.encode("The cat sat on the", true);
        int[] all = tokenizer.encode("The cat sat on the mat. pS", true);
        assertEquals(Arrays.toString(prompt), Arrays.toString(Arrays.copyOf(all, prompt.length)), "the prompt's tokens lead");
        int[] generated = Arrays.copyOfRange(all, prompt.length, all.length);
        assertEquals(tokenizer.decode(all, true).substring(tokenizer.decode(prompt, true).length()),
                streamAfter(tokenizer, prompt, generated, true));
        if (!name.equals("no-decoder")) {
            assertEquals(" mat. pS", streamAfter(tokenizer, prompt, generated, true), "as llama.cpp answers");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tokenizers")
    void aTokensTextKeepsTheSpaceItHasAfterOtherText(String name, Path dir) throws IOException {
        Tokenizer tokenizer = Tokenizer.load(dir);
        int[] ids = tokenizer.encode("Hello world", false);
        int last = ids[ids.length - 1];
        int[] prompt = Arrays.copyOf(ids, ids.length - 1);
        assertEquals(streamAfter(tokenizer, prompt, new int[] {last}, false), tokenizer.tokenText(last),
                "the text of " + tokenizer.piece(last) + " after " + Arrays.toString(prompt));
    }
}
