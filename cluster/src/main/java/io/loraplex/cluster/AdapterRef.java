package io.loraplex.cluster;

import java.util.Objects;

/**
 * One immutable adapter version of a tenant: the name the tenant calls it by, the version number
 * the lifecycle gave it, the content hash that identifies its bytes, and the identity of the base
 * model it was validated against (null until validated); a node serving another base refuses it.
 */
public record AdapterRef(TenantId tenant, String name, int version, ContentHash contentHash, String baseIdentity) {

    public AdapterRef {
        Objects.requireNonNull(tenant, "tenant");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(contentHash, "contentHash");
        if (version < 1) {
            throw new IllegalArgumentException("adapter versions start at 1, got " + version);
        }
    }

    /** A version not (yet) tied to a base. */
    public AdapterRef(TenantId tenant, String name, int version, ContentHash contentHash) {
        this(tenant, name, version, contentHash, null);
    }
}
