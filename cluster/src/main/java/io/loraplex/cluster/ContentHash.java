package io.loraplex.cluster;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * The identity of one adapter version:
 * {@code sha256( sha256(adapter_config.json bytes) ‖ sha256(adapter_model.safetensors bytes) )},
 * as 64 lowercase hex digits. Defined here once and used by every role.
 */
public record ContentHash(String hex) {

    public static final String CONFIG_FILE = "adapter_config.json";
    public static final String WEIGHTS_FILE = "adapter_model.safetensors";

    private static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");

    public ContentHash {
        if (hex == null || !HEX64.matcher(hex).matches()) {
            throw new IllegalArgumentException("a content hash is 64 lowercase hex digits, got: " + hex);
        }
    }

    /** Parses a hash written by {@link #hex()}. */
    public static ContentHash parse(String hex) {
        return new ContentHash(hex);
    }

    /** The hash of an adapter given the bytes of its two files. */
    public static ContentHash of(byte[] configBytes, byte[] weightsBytes) {
        return combine(sha256().digest(configBytes), sha256().digest(weightsBytes));
    }

    /** The hash of an adapter directory holding {@value #CONFIG_FILE} and {@value #WEIGHTS_FILE}. */
    public static ContentHash ofDirectory(Path adapterDir) throws IOException {
        return combine(digestFile(adapterDir.resolve(CONFIG_FILE)), digestFile(adapterDir.resolve(WEIGHTS_FILE)));
    }

    /** SHA-256 of a file, streamed (weights may be large). */
    public static byte[] digestFile(Path file) throws IOException {
        MessageDigest digest = sha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[1 << 16];
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
        }
        return digest.digest();
    }

    /** The first 12 hex digits, for logs and short names. */
    public String shortHex() {
        return hex.substring(0, 12);
    }

    @Override
    public String toString() {
        return hex;
    }

    private static ContentHash combine(byte[] configDigest, byte[] weightsDigest) {
        MessageDigest outer = sha256();
        outer.update(configDigest);
        outer.update(weightsDigest);
        return new ContentHash(HexFormat.of().formatHex(outer.digest()));
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }
}
