package io.loraplex.persistence.blob;

import io.loraplex.cluster.TenantId;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * One upload's hold on its tenant's storage quota ({@link UploadQuota}), grown before the bytes are
 * written: what the blob store and the training file store both charge through, so an adapter
 * upload and a training file count against the same quota in the same way.
 */
public final class UploadHold {

    private final UploadQuota quota;
    private final TenantId tenant;
    private final String uploadId;
    private final long chunk;
    /** Bytes the quota holds for the upload (guarded by this); grown before bytes are written. */
    private long held;
    /** The chain of quota asks, one at a time; completes with the refusal, or null while granted. */
    private CompletableFuture<String> charging = CompletableFuture.completedFuture(null);

    /** @param chunk bytes the hold grows ahead of what is written: one ask of the tenant per chunk */
    public UploadHold(UploadQuota quota, TenantId tenant, String uploadId, long chunk) {
        if (chunk < 1) {
            throw new IllegalArgumentException("an upload hold grows by at least 1 byte at a time, got " + chunk);
        }
        this.quota = quota;
        this.tenant = tenant;
        this.uploadId = uploadId;
        this.chunk = chunk;
    }

    /**
     * Completes with null once the quota holds at least {@code total} bytes for the upload, or with
     * the refusal (which names the quota). The hold grows a chunk ahead, so most buffers need no
     * ask; when a chunk ahead does not fit, exactly {@code total} is asked for, so an upload that
     * fits the quota exactly passes.
     */
    public synchronized CompletionStage<String> charge(long total) {
        if (total <= held) {
            return CompletableFuture.completedFuture(null);
        }
        charging = charging.thenCompose(refused -> {
            if (refused != null) {
                return CompletableFuture.completedFuture(refused);
            }
            synchronized (this) {
                if (total <= held) {
                    return CompletableFuture.completedFuture(null);
                }
            }
            return grant(total + chunk).thenCompose(refusal -> refusal == null ? CompletableFuture.completedFuture(null)
                    : grant(total));
        });
        return charging;
    }

    /** Drops the hold (refused, aborted, failed); a stored upload's hold is converted by its registration instead. */
    public void release() {
        quota.release(tenant, uploadId);
    }

    public TenantId tenant() {
        return tenant;
    }

    public String uploadId() {
        return uploadId;
    }

    /** Asks the quota to hold {@code total} bytes; on a grant, records it. */
    private CompletableFuture<String> grant(long total) {
        return quota.hold(tenant, uploadId, total).thenApply(refusal -> {
            if (refusal == null) {
                synchronized (this) {
                    held = Math.max(held, total);
                }
            }
            return refusal;
        }).toCompletableFuture();
    }
}
