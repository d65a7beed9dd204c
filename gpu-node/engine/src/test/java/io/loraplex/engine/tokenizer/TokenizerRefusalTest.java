package io.loraplex.engine.tokenizer;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.function.Consumer;

import static io.loraplex.engine.tokenizer.TinyFixtures.node;
import static io.loraplex.engine.tokenizer.TinyFixtures.written;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Whatever this package does not implement is refused at load, with the file, JSON path and reason. */
class TokenizerRefusalTest {

    private static Path edited(Consumer<ObjectNode> edit) throws IOException {
        ObjectNode json = (ObjectNode) TinyFixtures.MAPPER.readTree(
                written(TokenizerKind.BYTE_LEVEL, ChatStyle.LLAMA3).resolve(Tokenizer.FILE).toFile());
        edit.accept(json);
        Path dir = TinyFixtures.scratch("refused");
        Files.writeString(dir.resolve(Tokenizer.FILE), json.toString());
        return dir;
    }

    private static void assertRefused(Consumer<ObjectNode> edit, String... fragments) throws IOException {
        Path dir = edited(edit);
        IOException e = assertThrows(IOException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains(dir.resolve(Tokenizer.FILE).toString()), "names the file: " + e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "expected \"" + f + "\" in: " + e.getMessage());
        }
    }

    @Test
    void unsupportedComponentTypes() throws IOException {
        assertRefused(t -> t.set("normalizer", node("{\"type\":\"BertNormalizer\"}")),
                "$.normalizer", "unsupported normalizer type 'BertNormalizer'", "supported: Sequence");
        assertRefused(t -> t.set("normalizer", node("{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"Precompiled\"}]}")),
                "$.normalizer.normalizers[1]", "unsupported normalizer type 'Precompiled'");
        assertRefused(t -> t.set("pre_tokenizer", node("{\"type\":\"UnicodeScripts\"}")),
                "$.pre_tokenizer", "unsupported pre_tokenizer type 'UnicodeScripts'");
        assertRefused(t -> t.set("decoder", node("{\"type\":\"WordPiece\",\"prefix\":\"##\"}")),
                "$.decoder", "unsupported decoder type 'WordPiece'");
        assertRefused(t -> t.set("post_processor", node("{\"type\":\"Fancy\"}")),
                "$.post_processor", "unsupported post_processor type 'Fancy'");
        assertRefused(t -> ((ObjectNode) t.get("model")).put("type", "Unigram"),
                "$.model", "unsupported model type 'Unigram'", "supported: BPE");
        assertRefused(t -> t.set("pre_tokenizer", node("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},\"behavior\":\"Sideways\"}")),
                "$.pre_tokenizer.behavior", "unsupported split behavior 'Sideways'");
        assertRefused(t -> t.set("pre_tokenizer", node("{\"type\":\"Metaspace\",\"replacement\":\"▁\",\"prepend_scheme\":\"sometimes\"}")),
                "$.pre_tokenizer.prepend_scheme", "unsupported prepend_scheme 'sometimes'");
    }

    @Test
    void unsupportedOptions() throws IOException {
        assertRefused(t -> ((ObjectNode) t.get("model")).put("dropout", 0.1), "$.model.dropout", "dropout 0.1 is not supported");
        assertRefused(t -> t.set("truncation", node("{\"max_length\": 512}")), "$.truncation", "truncation is not supported");
        assertRefused(t -> t.set("padding", node("{\"strategy\": \"BatchLongest\"}")), "$.padding", "padding is not supported");
        assertRefused(t -> t.set("pre_tokenizer", node("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(unclosed\"},\"behavior\":\"Isolated\"}")),
                "$.pre_tokenizer.pattern.Regex", "regex not supported", "(unclosed");
    }

    @Test
    void inconsistentVocabulary() throws IOException {
        assertRefused(t -> ((com.fasterxml.jackson.databind.node.ArrayNode) t.get("model").get("merges")).insert(0,
                TinyFixtures.MAPPER.createArrayNode().add("Ġ").add("nope")), "$.model.merges[0]", "'nope', which is not in the vocab");
        assertRefused(t -> ((com.fasterxml.jackson.databind.node.ArrayNode) t.get("model").get("merges")).insert(0, "a b c"),
                "$.model.merges[0]", "exactly one space");
        assertRefused(t -> ((ObjectNode) t.get("model")).put("unk_token", "<nope>"), "$.model.unk_token", "'<nope>' is not in the vocab");
        assertRefused(t -> ((ObjectNode) t.get("model").get("vocab")).put("x", "seven"), "$.model.vocab.x", "expected an integer");
        assertRefused(t -> t.remove("model"), "$", "missing required field 'model'");
        assertRefused(t -> t.set("post_processor", node("{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<x>\",\"type_id\":0}}],"
                + "\"special_tokens\":{}}")), "$.post_processor.single[0]", "'<x>' is missing from special_tokens");
    }

    @Test
    void malformedJsonAndMissingFiles() throws IOException {
        Path dir = TinyFixtures.scratch("malformed");
        Files.writeString(dir.resolve(Tokenizer.FILE), "{\"version\": \"1.0\",\n \"model\": {");
        IOException e = assertThrows(IOException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains(dir.resolve(Tokenizer.FILE) + ": malformed JSON") && e.getMessage().contains("line 2"),
                e.getMessage());
        Files.writeString(dir.resolve(Tokenizer.FILE), "[1, 2]");
        IOException notObject = assertThrows(IOException.class, () -> Tokenizer.load(dir));
        assertTrue(notObject.getMessage().contains("expected a JSON object, found ARRAY"), notObject.getMessage());
        Path empty = TinyFixtures.scratch("empty");
        NoSuchFileException missing = assertThrows(NoSuchFileException.class, () -> Tokenizer.load(empty));
        assertTrue(missing.getMessage().contains(Tokenizer.FILE), missing.getMessage());
    }

    @Test
    void configNamingAnUnknownTokenIsRefused() throws IOException {
        Path dir = edited(t -> { });
        Files.writeString(dir.resolve(TokenizerConfig.CONFIG), "{\"eos_token\": \"<|nope|>\"}");
        IOException e = assertThrows(IOException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains(dir.resolve(TokenizerConfig.CONFIG).toString())
                && e.getMessage().contains("eos_token '<|nope|>' is not a token of"), e.getMessage());
        Files.writeString(dir.resolve(TokenizerConfig.CONFIG), "{\"bos_token\": 7}");
        IOException type = assertThrows(IOException.class, () -> Tokenizer.load(dir));
        assertTrue(type.getMessage().contains("$.bos_token") && type.getMessage().contains("expected a string"), type.getMessage());
    }
}
