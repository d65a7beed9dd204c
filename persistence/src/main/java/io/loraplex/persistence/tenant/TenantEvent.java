package io.loraplex.persistence.tenant;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.Scope;
import io.loraplex.persistence.CborSerializable;
import java.util.Set;

/**
 * What the {@code Tenant} entity journals: every durable change of a tenant, as Jackson CBOR. Token
 * buckets and in-flight leases are not here: they are ephemeral and start afresh after a restart.
 * A field renamed or retyped later needs a {@code JacksonMigration} (see {@code reference.conf}).
 */
public sealed interface TenantEvent extends CborSerializable
        permits TenantEvent.TenantCreated, TenantEvent.ProfileUpdated, TenantEvent.ApiKeyAdded, TenantEvent.ApiKeyRevoked,
        TenantEvent.CatalogUpdated, TenantEvent.AdapterNameTracked, TenantEvent.StorageReserved, TenantEvent.StorageReleased,
        TenantEvent.UsageRecorded, TenantEvent.StorageHeld, TenantEvent.StorageLetGo, TenantEvent.UsageExpired {

    /** The first {@code Setup}. */
    record TenantCreated(TenantState.Profile profile, long atEpochMillis) implements TenantEvent {
    }

    /** A later {@code Setup}: name, tier, weight or limits changed. */
    record ProfileUpdated(TenantState.Profile profile, long atEpochMillis) implements TenantEvent {
    }

    /** A key added (or its scopes replaced), by its SHA-256; the key itself is never journaled. */
    record ApiKeyAdded(String keyId, String keyHash, String label, Set<Scope> scopes, long atEpochMillis) implements TenantEvent {
    }

    record ApiKeyRevoked(String keyId, String keyHash, long atEpochMillis) implements TenantEvent {
    }

    /**
     * What a catalog name serves: {@code promoted} and {@code canary} both null removes the name,
     * unless {@code quarantined} (null in events journaled before it existed) keeps it to say why.
     * {@code createdEpochSeconds}: when the name first appeared, kept across versions.
     */
    record CatalogUpdated(String name, AdapterRef promoted, AdapterRef canary, double canaryShare, long createdEpochSeconds,
            TenantProtocol.Quarantine quarantined) implements TenantEvent {
        CatalogUpdated(String name, AdapterRef promoted, AdapterRef canary, double canaryShare, long createdEpochSeconds) {
            this(name, promoted, canary, canaryShare, createdEpochSeconds, null);
        }
    }

    /** The tenant has ({@code present}) or no longer has an adapter of this name. */
    record AdapterNameTracked(String name, boolean present) implements TenantEvent {
    }

    /** {@code bytes} of the storage quota held under {@code key} (a content hash). */
    record StorageReserved(String key, long bytes) implements TenantEvent {
    }

    record StorageReleased(String key) implements TenantEvent {
    }

    /**
     * Requests and tokens of one model (an adapter name; "" for the base model) in one hour,
     * aggregated in memory and journaled every flush interval: added to what the hour holds.
     */
    record UsageRecorded(long epochHour, String model, long requests, long tokens) implements TenantEvent {
    }

    /** Adapter name {@code holder} uses the reservation (and blob) of {@code key}. */
    record StorageHeld(String key, String holder) implements TenantEvent {
    }

    /** Adapter name {@code holder} no longer uses {@code key}; the reservation goes with its last holder. */
    record StorageLetGo(String key, String holder) implements TenantEvent {
    }

    /** Usage of the hours before {@code keepFromEpochHour} is dropped ({@code loraplex.tenant.usage-retention}). */
    record UsageExpired(long keepFromEpochHour) implements TenantEvent {
    }
}
