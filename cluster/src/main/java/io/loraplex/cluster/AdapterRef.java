package io.loraplex.cluster;

import java.util.Objects;

/**
 * One immutable adapter version of a tenant: the name the tenant calls it by, the version number
 * the lifecycle gave it, and the content hash that identifies its bytes.
 */
public record AdapterRef(TenantId tenant, String name, int version, ContentHash contentHash) {

    public AdapterRef {
        Objects.requireNonNull(tenant, "tenant");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(contentHash, "contentHash");
        if (version < 1) {
            throw new IllegalArgumentException("adapter versions start at 1, got " + version);
        }
    }
}
