package io.loraplex.engine.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Tokenizer directories for tests, written once per JVM into one temporary folder: the
 * {@link TinyTokenizer} outputs and variants derived from them by editing tokenizer.json (other
 * pre-tokenizers, normalizers, decoders, merge spellings, added-token flags). Variants hold only
 * tokenizer.json, so the post-processor of the file alone decides the special tokens.
 */
final class TinyFixtures {

    static final int VOCAB = 1200;
    static final long SEED = 7;
    static final ObjectMapper MAPPER = new ObjectMapper();

    private static final Path ROOT;
    private static final Map<String, Path> DIRS = new LinkedHashMap<>();

    static {
        try {
            ROOT = Files.createTempDirectory("loraplex-tokenizer-test");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(ROOT)));
    }

    private TinyFixtures() {
    }

    /** The directory {@link TinyTokenizer} writes for this kind and style (VOCAB ids, SEED). */
    static synchronized Path written(TokenizerKind kind, ChatStyle style) {
        return DIRS.computeIfAbsent(kind + "-" + style, name -> {
            try {
                Path dir = ROOT.resolve(name);
                TinyTokenizer.write(dir, kind, style, VOCAB, SEED);
                return dir;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** A directory holding only a tokenizer.json derived from {@code base}'s by {@code edit}. */
    static synchronized Path variant(String name, Path base, Consumer<ObjectNode> edit) {
        return DIRS.computeIfAbsent("variant-" + name, n -> {
            try {
                ObjectNode json = (ObjectNode) MAPPER.readTree(base.resolve(Tokenizer.FILE).toFile());
                edit.accept(json);
                Path dir = ROOT.resolve(n);
                Files.createDirectories(dir);
                Files.writeString(dir.resolve(Tokenizer.FILE), MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(json));
                return dir;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** A fresh, empty directory for one test's files. */
    static Path scratch(String name) throws IOException {
        return Files.createTempDirectory(ROOT, name);
    }

    static ObjectNode node(String json) {
        try {
            return (ObjectNode) MAPPER.readTree(json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Appends an added token with the next free id to a tokenizer.json tree. */
    static void addToken(ObjectNode tokenizer, String content, boolean special, boolean lstrip, boolean rstrip,
                         boolean singleWord, boolean normalized) {
        ArrayNode added = (ArrayNode) tokenizer.get("added_tokens");
        int next = tokenizer.get("model").get("vocab").size();
        for (var t : added) {
            next = Math.max(next, t.get("id").asInt() + 1);
        }
        ObjectNode t = added.addObject();
        t.put("id", next);
        t.put("content", content);
        t.put("single_word", singleWord);
        t.put("lstrip", lstrip);
        t.put("rstrip", rstrip);
        t.put("normalized", normalized);
        t.put("special", special);
    }

    private static void deleteTree(Path root) {
        try (var paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // best effort at JVM exit
        }
    }
}
