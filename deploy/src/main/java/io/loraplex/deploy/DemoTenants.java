package io.loraplex.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;

/**
 * The two demo tenants of the embedded default: a cafe and a law firm, each with an API key (made
 * once and kept in {@code <data>/demo-keys.json}) and an adapter named after it in the blob store.
 */
final class DemoTenants {

    /** One demo tenant, ready to register. */
    record Demo(TenantId tenant, String displayName, String apiKey, AdapterRef adapter) {
    }

    private record Spec(String tenant, String displayName, long seed) {
    }

    private static final List<Spec> SPECS = List.of(
            new Spec("cafe", "Cafe Aroma", 101),
            new Spec("lawfirm", "Stein & Partners, attorneys", 202));

    private DemoTenants() {
    }

    /** Writes (or finds) the demo adapters under {@code blobRoot} and the keys under {@code dataDir}. */
    static List<Demo> prepare(Path dataDir, Path blobRoot, ModelConfig base) throws IOException {
        Path keysFile = dataDir.resolve("demo-keys.json");
        ObjectMapper json = new ObjectMapper();
        ObjectNode keys = Files.exists(keysFile) ? (ObjectNode) json.readTree(keysFile.toFile()) : json.createObjectNode();
        List<Demo> demos = new ArrayList<>();
        for (Spec s : SPECS) {
            JsonNode existing = keys.get(s.tenant);
            String key = existing != null ? existing.asText() : newKey(s.tenant);
            keys.put(s.tenant, key);
            Path staged = dataDir.resolve("tmp-demo-" + s.tenant);
            AdapterWriter.writeRandom(staged, base, EnumSet.of(TargetModule.Q_PROJ, TargetModule.K_PROJ, TargetModule.V_PROJ,
                    TargetModule.O_PROJ), 8, 16, false, DType.F32, s.seed);
            ContentHash hash = ContentHash.ofDirectory(staged);
            Path target = blobRoot.resolve(s.tenant).resolve(hash.hex());
            if (Files.isDirectory(target)) {
                deleteTree(staged);
            } else {
                Files.createDirectories(target.getParent());
                Files.move(staged, target, StandardCopyOption.ATOMIC_MOVE);
            }
            TenantId tenant = new TenantId(s.tenant);
            demos.add(new Demo(tenant, s.displayName, key, new AdapterRef(tenant, s.tenant, 1, hash)));
        }
        Files.createDirectories(dataDir);
        Files.writeString(keysFile, json.writerWithDefaultPrettyPrinter().writeValueAsString(keys));
        return demos;
    }

    private static String newKey(String tenant) {
        byte[] random = new byte[18];
        new SecureRandom().nextBytes(random);
        return "lp-" + tenant + "-" + HexFormat.of().formatHex(random);
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
