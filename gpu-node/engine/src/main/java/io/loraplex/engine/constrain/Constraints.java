package io.loraplex.engine.constrain;

import io.loraplex.engine.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The compiled constraints of one tokenizer, by schema hash: a schema is compiled and its masks
 * built once, then shared by every request that names it. Least recently used ones beyond
 * {@code capacity} are dropped. Thread-safe.
 */
public final class Constraints {

    private final Tokenizer tokenizer;
    private final int vocabSize;
    private final int capacity;
    private final Map<String, TokenConstraint> bySchema;
    private TokenConstraint anyObject;

    /** @param vocabSize V of the model's logits (may exceed the tokenizer's vocabulary) */
    public Constraints(Tokenizer tokenizer, int vocabSize, int capacity) {
        this.tokenizer = tokenizer;
        this.vocabSize = vocabSize;
        this.capacity = capacity;
        this.bySchema = new LinkedHashMap<>(16, 0.75f, true);
    }

    /** Any JSON object ({@code response_format: json_object}). */
    public synchronized TokenConstraint jsonObject() {
        if (anyObject == null) {
            anyObject = new TokenConstraint(SchemaCompiler.anyObject(), TokenVocabulary.of(tokenizer, vocabSize));
        }
        return anyObject;
    }

    /** JSON valid against {@code schemaJson}; throws a {@link ConstraintException} naming an unsupported keyword. */
    public synchronized TokenConstraint jsonSchema(String schemaJson) {
        String key = sha256(schemaJson);
        TokenConstraint known = bySchema.get(key);
        if (known != null) {
            return known;
        }
        TokenConstraint compiled = new TokenConstraint(SchemaCompiler.compile(schemaJson), TokenVocabulary.of(tokenizer, vocabSize));
        compiled.mask(compiled.start()); // the first step's mask, built here rather than in the engine's step
        bySchema.put(key, compiled);
        if (bySchema.size() > capacity) {
            bySchema.remove(bySchema.keySet().iterator().next());
        }
        return compiled;
    }

    private static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JVM has no SHA-256", e);
        }
    }
}
