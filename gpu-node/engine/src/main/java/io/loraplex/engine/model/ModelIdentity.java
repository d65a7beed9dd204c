package io.loraplex.engine.model;

import io.loraplex.cluster.ContentHash;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * A base model's identity: the SHA-256 over the SHA-256s of its config.json and weight files, and
 * the same over its tokenizer files. Adapters record the identity they were validated against and a
 * node serving another base refuses them.
 *
 * @param weights   hex SHA-256 of config.json and the weight files, in order
 * @param tokenizer hex SHA-256 of the tokenizer files, in order
 */
public record ModelIdentity(String weights, String tokenizer) {

    /** The tokenizer files that count, when present. */
    public static final List<String> TOKENIZER_FILES = List.of(
            "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "chat_template.json");

    /** Both hashes in one string: {@code <weights>:<tokenizer>}. */
    public String id() {
        return weights + ":" + tokenizer;
    }

    /** A short form for logs. */
    public String shortId() {
        return weights.substring(0, 12) + ":" + tokenizer.substring(0, 12);
    }

    @Override
    public String toString() {
        return id();
    }

    public static ModelIdentity compute(Path dir, List<Path> weightFiles) throws IOException {
        MessageDigest w = sha256();
        w.update(ContentHash.digestFile(dir.resolve("config.json")));
        for (Path f : weightFiles) {
            w.update(ContentHash.digestFile(f));
        }
        MessageDigest t = sha256();
        for (String name : TOKENIZER_FILES) {
            Path f = dir.resolve(name);
            if (Files.exists(f)) {
                t.update(name.getBytes(java.nio.charset.StandardCharsets.UTF_8));
                t.update(ContentHash.digestFile(f));
            }
        }
        return new ModelIdentity(HexFormat.of().formatHex(w.digest()), HexFormat.of().formatHex(t.digest()));
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
