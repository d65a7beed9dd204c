package io.loraplex.persistence.blob;

import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;

/**
 * Where the blob store charges an upload's bytes before it writes them: the tenant's storage quota
 * ({@link TenantProtocol.HoldUpload}). Charging first is what keeps concurrent uploads of one
 * tenant, archive bombs included, from putting more than its quota on disk.
 */
public interface UploadQuota {

    /**
     * Grows the upload's hold to {@code totalBytes}; completes with null when granted, else with the
     * refusal, which names the quota.
     */
    CompletionStage<String> hold(TenantId tenant, String uploadId, long totalBytes);

    /** Drops the upload's hold (refused, aborted, failed); a stored blob's hold is converted at its registration instead. */
    void release(TenantId tenant, String uploadId);

    /** No quota: read-only stores (GPU nodes' copies) and tests of the store alone. */
    UploadQuota NONE = new UploadQuota() {
        @Override
        public CompletionStage<String> hold(TenantId tenant, String uploadId, long totalBytes) {
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public void release(TenantId tenant, String uploadId) {
        }
    };

    /** The tenants' quotas, asked through cluster sharding; a tenant that does not answer within {@code timeout} refuses. */
    static UploadQuota tenants(ActorSystem<?> system, Duration timeout) {
        ClusterSharding sharding = ClusterSharding.get(system);
        return new UploadQuota() {
            @Override
            public CompletionStage<String> hold(TenantId tenant, String uploadId, long totalBytes) {
                return sharding.entityRefFor(TenantProtocol.TYPE_KEY, tenant.value())
                        .<TenantProtocol.Ack>ask(r -> new TenantProtocol.HoldUpload(uploadId, totalBytes, r), timeout)
                        .handle((ack, failure) -> failure != null
                                ? "the storage quota of tenant " + tenant + " could not be checked within " + timeout.toSeconds()
                                        + " s; retry the upload"
                                : ack.ok() ? null : ack.message());
            }

            @Override
            public void release(TenantId tenant, String uploadId) {
                sharding.entityRefFor(TenantProtocol.TYPE_KEY, tenant.value())
                        .tell(new TenantProtocol.ReleaseUpload(uploadId, system.ignoreRef()));
            }
        };
    }
}
