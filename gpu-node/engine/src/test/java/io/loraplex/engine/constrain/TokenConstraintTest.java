package io.loraplex.engine.constrain;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.engine.tokenizer.ChatStyle;
import io.loraplex.engine.tokenizer.TinyTokenizer;
import io.loraplex.engine.tokenizer.Tokenizer;
import io.loraplex.engine.tokenizer.TokenizerKind;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The token layer against brute force: at every state met along random documents, the cached trie
 * walk's mask (with its free-string shortcut) equals the set of tokens whose text, walked alone
 * through the grammar, stays alive; and a valid document's own tokenization is allowed token by token.
 */
class TokenConstraintTest {

    @TempDir
    static Path dir;

    static long[] bruteForce(Grammar.State state, TokenVocabulary vocab) {
        long[] m = new long[(vocab.size + 63) / 64];
        for (int t = 0; t < vocab.size; t++) {
            String text = vocab.texts[t];
            if (text == null) {
                if (vocab.isFragment(t) && state.inFreeString()) {
                    m[t >>> 6] |= 1L << t; // a byte piece of a character, inside a free string
                }
                continue;
            }
            Grammar.State s = state;
            for (int i = 0; i < text.length() && !s.dead(); i++) {
                s = s.step(text.charAt(i));
            }
            if (!s.dead()) {
                m[t >>> 6] |= 1L << t;
            }
        }
        return m;
    }

    /**
     * The document as a model could write it: the longest token text at each position (the tokenizer's
     * own encoding may differ, e.g. a SentencePiece dummy-prefix "▁{" that no model writes mid-output).
     */
    static int[] spell(String doc, TokenVocabulary vocab) {
        java.util.Map<String, Integer> byText = new java.util.HashMap<>();
        int longest = 0;
        for (int t = vocab.size - 1; t >= 0; t--) {
            if (vocab.texts[t] != null) {
                byText.put(vocab.texts[t], t);
                longest = Math.max(longest, vocab.texts[t].length());
            }
        }
        java.util.List<Integer> out = new java.util.ArrayList<>();
        int at = 0;
        while (at < doc.length()) {
            int found = -1;
            for (int len = Math.min(longest, doc.length() - at); len > 0 && found < 0; len--) {
                Integer t = byText.get(doc.substring(at, at + len));
                if (t != null) {
                    found = t;
                    at += len;
                }
            }
            if (found < 0) {
                return null;
            }
            out.add(found);
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    @ParameterizedTest
    @EnumSource(TokenizerKind.class)
    void masksEqualBruteForceAndValidDocumentsPassTokenByToken(TokenizerKind kind) throws Exception {
        Path tokDir = dir.resolve(kind.name());
        TinyTokenizer.write(tokDir, kind, ChatStyle.LLAMA3, 1024, 3);
        Tokenizer tokenizer = Tokenizer.load(tokDir);
        Constraints constraints = new Constraints(tokenizer, tokenizer.vocabSize(), 8);
        TokenVocabulary vocab = TokenVocabulary.of(tokenizer, tokenizer.vocabSize());
        SplittableRandom random = new SplittableRandom(kind.ordinal());
        int checked = 0;
        for (int n = 0; n < 12; n++) {
            ObjectNode schema = RandomSchemas.schema(random, n % 2 == 0, true);
            TokenConstraint compiled = constraints.jsonSchema(RandomSchemas.compact(schema));
            String doc = RandomSchemas.compact(RandomSchemas.document(schema, schema, random));
            int[] tokens = spell(doc, vocab);
            if (tokens == null) {
                continue; // a character no token spells alone (byte fallback): nothing to check on this document
            }
            ConstraintState state = new ConstraintState(compiled, List.of());
            int id = compiled.start();
            for (int t : tokens) {
                long[] mask = state.allowed();
                assertArrayEquals(bruteForce(compiled.state(id), vocab), compiled.mask(id), "schema " + schema + " before token " + t);
                assertTrue((mask[t >>> 6] & (1L << t)) != 0, "schema " + schema + ": the mask refuses token " + t + " of " + doc);
                state.advance(t);
                id = compiled.advance(id, t);
                checked++;
            }
            assertTrue(state.accepting(), "the document " + doc + " ends complete");
        }
        assertTrue(checked > 100, "too few tokens checked: " + checked);
        assertEquals(tokenizer.vocabSize(), vocab.size);
    }
}
