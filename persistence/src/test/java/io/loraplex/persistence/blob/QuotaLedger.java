package io.loraplex.persistence.blob;

import io.loraplex.cluster.TenantId;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * A tenant's quota as the stores see it, for their tests: upload id to its hold, refused past
 * {@code quota} in all, as the Tenant entity refuses {@code HoldUpload}.
 */
public final class QuotaLedger implements UploadQuota {

    private final long quota;
    private final Map<String, Long> holds = new ConcurrentHashMap<>();

    public QuotaLedger(long quota) {
        this.quota = quota;
    }

    @Override
    public synchronized CompletionStage<String> hold(TenantId tenant, String uploadId, long totalBytes) {
        long others = holds.entrySet().stream().filter(e -> !e.getKey().equals(uploadId)).mapToLong(Map.Entry::getValue).sum();
        if (others + totalBytes > quota) {
            return CompletableFuture.completedFuture("storage quota exceeded for tenant " + tenant + ": used " + others
                    + " bytes, requested " + totalBytes + " bytes, quota " + quota + " bytes");
        }
        holds.merge(uploadId, totalBytes, Math::max);
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public synchronized void release(TenantId tenant, String uploadId) {
        holds.remove(uploadId);
    }

    /** Upload id to its hold, now. */
    public Map<String, Long> holds() {
        return Map.copyOf(holds);
    }

    /** What all holds add up to now. */
    public long held() {
        return holds.values().stream().mapToLong(Long::longValue).sum();
    }

    /**
     * Bytes of every regular file under {@code dir}, each file once by its identity: a blob renamed
     * into place while the walk runs is seen in both directories, yet is one file on disk. Files
     * vanishing while it walks count as gone.
     */
    public static long bytesUnder(Path dir) {
        Map<Object, Long> files = new HashMap<>();
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.forEach(p -> {
                try {
                    BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                    if (a.isRegularFile()) {
                        files.put(a.fileKey() != null ? a.fileKey() : p, a.size());
                    }
                } catch (IOException e) {
                    // gone meanwhile
                }
            });
        } catch (IOException | java.io.UncheckedIOException e) {
            return 0;
        }
        return files.values().stream().mapToLong(Long::longValue).sum();
    }
}
