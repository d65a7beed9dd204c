package io.loraplex.deploy;

import io.loraplex.cluster.tenant.TenantProtocol;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * A key the router checks by its SHA-256 alone. Given in configuration (e.g. from
 * {@code LORAPLEX_ADMIN_KEY}) it is used as is; otherwise the first start draws one, prints it
 * once, and keeps only its SHA-256 in {@code <data>/<file>}, readable by the owner alone.
 */
enum DrawnKey {

    /** Creates tenants and their keys ({@code /v1/admin/...}). */
    ADMIN("admin", "admin-key.sha256", "lp-admin-", "the admin key"),
    /** Reads {@code /metrics} on the API's port: the series name every tenant and adapter. */
    METRICS("metrics", "metrics-key.sha256", "lp-metrics-", "the metrics key, Prometheus's bearer token for /metrics");

    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");

    private final String name;
    private final String fileName;
    private final String prefix;
    private final String shownAs;

    DrawnKey(String name, String fileName, String prefix, String shownAs) {
        this.name = name;
        this.fileName = fileName;
        this.prefix = prefix;
        this.shownAs = shownAs;
    }

    /** Where the drawn key's hash is kept. */
    Path file(Path dataDir) {
        return dataDir.resolve(fileName);
    }

    /** The SHA-256 (hex) routers check this key against. */
    String hash(Path dataDir, String configured, PrintStream log) throws IOException {
        if (configured != null && !configured.isBlank()) {
            return TenantProtocol.hashKey(configured.strip());
        }
        Path file = file(dataDir);
        if (Files.exists(file)) {
            String stored = Files.readString(file, StandardCharsets.US_ASCII).strip();
            if (!SHA256_HEX.matcher(stored).matches()) {
                throw new IllegalStateException(file + " does not hold a SHA-256 in hex; delete it to draw a new " + name + " key");
            }
            return stored;
        }
        byte[] random = new byte[24];
        new SecureRandom().nextBytes(random);
        String key = prefix + HexFormat.of().formatHex(random);
        String hash = TenantProtocol.hashKey(key);
        PrivateFiles.write(file, hash + "\n");
        log.println("loraplex: " + shownAs + " (shown this once; only its hash is kept in " + file + "):");
        log.println("  " + key);
        return hash;
    }
}
