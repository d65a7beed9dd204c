package io.loraplex.deploy;

import io.loraplex.cluster.tenant.TenantProtocol;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * The admin key, which creates tenants and their keys. Given in configuration
 * ({@code loraplex.admin-key}, e.g. from {@code LORAPLEX_ADMIN_KEY}) it is used as is; otherwise the
 * first start draws one, prints it once, and keeps only its SHA-256 in {@code <data>/admin-key.sha256}.
 */
final class AdminKey {

    static final String HASH_FILE = "admin-key.sha256";
    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");

    private AdminKey() {
    }

    /** The SHA-256 (hex) routers check admin requests against. */
    static String hash(Path dataDir, String configured, PrintStream log) throws IOException {
        if (configured != null && !configured.isBlank()) {
            return TenantProtocol.hashKey(configured.strip());
        }
        Path file = dataDir.resolve(HASH_FILE);
        if (Files.exists(file)) {
            String stored = Files.readString(file, StandardCharsets.US_ASCII).strip();
            if (!SHA256_HEX.matcher(stored).matches()) {
                throw new IllegalStateException(file + " does not hold a SHA-256 in hex; delete it to draw a new admin key");
            }
            return stored;
        }
        byte[] random = new byte[24];
        new SecureRandom().nextBytes(random);
        String key = "lp-admin-" + HexFormat.of().formatHex(random);
        String hash = TenantProtocol.hashKey(key);
        Path tmp = dataDir.resolve(HASH_FILE + ".tmp");
        Files.writeString(tmp, hash + "\n", StandardCharsets.US_ASCII);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        log.println("loraplex: the admin key (shown this once; only its hash is kept in " + file + "):");
        log.println("  " + key);
        return hash;
    }
}
