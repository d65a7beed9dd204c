package io.loraplex.persistence.tenant;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.KeyInfo;
import io.loraplex.cluster.tenant.TenantProtocol.Limits;
import io.loraplex.cluster.tenant.TenantProtocol.ModelEntry;
import io.loraplex.cluster.tenant.TenantProtocol.Scope;
import io.loraplex.persistence.CborSerializable;
import io.loraplex.persistence.tenant.TenantEvent.AdapterNameTracked;
import io.loraplex.persistence.tenant.TenantEvent.ApiKeyAdded;
import io.loraplex.persistence.tenant.TenantEvent.ApiKeyRevoked;
import io.loraplex.persistence.tenant.TenantEvent.CatalogUpdated;
import io.loraplex.persistence.tenant.TenantEvent.ProfileUpdated;
import io.loraplex.persistence.tenant.TenantEvent.StorageHeld;
import io.loraplex.persistence.tenant.TenantEvent.StorageLetGo;
import io.loraplex.persistence.tenant.TenantEvent.StorageReleased;
import io.loraplex.persistence.tenant.TenantEvent.StorageReserved;
import io.loraplex.persistence.tenant.TenantEvent.TenantCreated;
import io.loraplex.persistence.tenant.TenantEvent.UsageExpired;
import io.loraplex.persistence.tenant.TenantEvent.UsageRecorded;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The durable state of one tenant: what its events add up to, and what its snapshots hold (Jackson
 * CBOR). Immutable; {@link #apply} is the entity's event handler. It holds what the entity's
 * decisions need, not the usage history: that is {@link UsageHistory}, read from the journal.
 *
 * @param profile      null until the first {@code Setup}
 * @param keys         SHA-256 (hex) of each key to what is known of it; keys are never held in clear
 * @param catalog      adapter name to the versions it serves
 * @param adapterNames every adapter name the tenant has, served or not
 * @param storage      reservation key (a content hash) to the bytes it holds of the quota
 * @param holders      reservation key to the adapter names whose versions use it: one blob and one reservation
 *                     shared by every name with the same content, released when the last name lets go
 *                     (absent in snapshots taken before holders were kept: read as none)
 * @param usageFrom    no journaled usage is of an hour before this one (a lower bound, {@code Long.MAX_VALUE}
 *                     while none was journaled): what retention asks to decide whether an hour aged out
 *                     (version-2 snapshots; {@link TenantStateMigration} reads version 1's {@code usage})
 */
public record TenantState(Profile profile, Map<String, ApiKey> keys, Map<String, CatalogEntry> catalog,
        Set<String> adapterNames, Map<String, Long> storage, Map<String, Set<String>> holders, long usageFrom)
        implements CborSerializable {

    public static final TenantState EMPTY = new TenantState(null, Map.of(), Map.of(), Set.of(), Map.of(), Map.of(), Long.MAX_VALUE);

    public TenantState {
        Map<String, Set<String>> heldBy = new HashMap<>();
        if (holders != null) {
            holders.forEach((key, names) -> heldBy.put(key, Set.copyOf(names)));
        }
        holders = Map.copyOf(heldBy);
        keys = Map.copyOf(keys);
        catalog = Map.copyOf(catalog);
        adapterNames = Set.copyOf(adapterNames);
        storage = Map.copyOf(storage);
    }

    /** What {@code Setup} sets. */
    public record Profile(String displayName, String tier, double weight, Limits limits) implements CborSerializable {
    }

    /** One key: its id in listings and revocations, its label and scopes, when it was added. */
    public record ApiKey(String keyId, String label, Set<Scope> scopes, long createdEpochMillis) implements CborSerializable {
        public ApiKey {
            scopes = Set.copyOf(scopes);
        }
    }

    /**
     * A catalog name: the promoted version, the canary and the share of requests it gets, and when
     * the name appeared (the {@code created} of {@code /v1/models}). {@code quarantined}: serving
     * nothing because its promoted version was quarantined (null otherwise, and in snapshots taken
     * before it existed).
     */
    public record CatalogEntry(AdapterRef promoted, AdapterRef canary, double canaryShare, long createdEpochSeconds,
            TenantProtocol.Quarantine quarantined) implements CborSerializable {

        public CatalogEntry(AdapterRef promoted, AdapterRef canary, double canaryShare, long createdEpochSeconds) {
            this(promoted, canary, canaryShare, createdEpochSeconds, null);
        }

        /** What {@code /v1/models} lists: the promoted version, or the canary while nothing is promoted; null: nothing. */
        AdapterRef listed() {
            return promoted != null ? promoted : canary;
        }

        /** The version a request serves, given a uniform draw in [0, 1). */
        AdapterRef serve(double draw) {
            if (canary != null && (promoted == null || draw < canaryShare)) {
                return canary;
            }
            return promoted;
        }
    }

    boolean isSetUp() {
        return profile != null;
    }

    /** The event handler. */
    TenantState apply(TenantEvent event) {
        return switch (event) {
            case TenantCreated e -> withProfile(e.profile());
            case ProfileUpdated e -> withProfile(e.profile());
            case ApiKeyAdded e -> new TenantState(profile,
                    with(keys, e.keyHash(), new ApiKey(e.keyId(), e.label(), e.scopes(), e.atEpochMillis())), catalog,
                    adapterNames, storage, holders, usageFrom);
            case ApiKeyRevoked e -> new TenantState(profile, without(keys, e.keyHash()), catalog, adapterNames, storage, holders, usageFrom);
            case CatalogUpdated e -> new TenantState(profile, keys, e.promoted() == null && e.canary() == null && e.quarantined() == null
                    ? without(catalog, e.name())
                    : with(catalog, e.name(), new CatalogEntry(e.promoted(), e.canary(), e.canaryShare(), e.createdEpochSeconds(),
                            e.promoted() == null && e.canary() == null ? e.quarantined() : null)),
                    adapterNames, storage, holders, usageFrom);
            case AdapterNameTracked e -> {
                Set<String> names = new HashSet<>(adapterNames);
                if (e.present()) {
                    names.add(e.name());
                } else {
                    names.remove(e.name());
                }
                yield new TenantState(profile, keys, catalog, names, storage, holders, usageFrom);
            }
            case StorageReserved e -> new TenantState(profile, keys, catalog, adapterNames, with(storage, e.key(), e.bytes()), holders, usageFrom);
            case StorageReleased e -> new TenantState(profile, keys, catalog, adapterNames, without(storage, e.key()), without(holders, e.key()),
                    usageFrom);
            case StorageHeld e -> {
                Set<String> names = new HashSet<>(holders.getOrDefault(e.key(), Set.of()));
                names.add(e.holder());
                yield new TenantState(profile, keys, catalog, adapterNames, storage, with(holders, e.key(), names), usageFrom);
            }
            case StorageLetGo e -> {
                Set<String> names = new HashSet<>(holders.getOrDefault(e.key(), Set.of()));
                names.remove(e.holder());
                yield new TenantState(profile, keys, catalog, adapterNames, storage,
                        names.isEmpty() ? without(holders, e.key()) : with(holders, e.key(), names), usageFrom);
            }
            // the hours themselves are UsageHistory's: the state keeps only how far back they may reach
            case UsageExpired e -> withUsageFrom(Math.max(usageFrom, e.keepFromEpochHour()));
            case UsageRecorded e -> withUsageFrom(Math.min(usageFrom, e.epochHour()));
        };
    }

    private TenantState withProfile(Profile next) {
        return new TenantState(next, keys, catalog, adapterNames, storage, holders, usageFrom);
    }

    private TenantState withUsageFrom(long hour) {
        return hour == usageFrom ? this : new TenantState(profile, keys, catalog, adapterNames, storage, holders, hour);
    }

    /** Bytes of the quota held by every reservation. */
    long storageUsedBytes() {
        return storage.values().stream().mapToLong(Long::longValue).sum();
    }

    /** The hash of the key with this id, or null. */
    String keyHashOf(String keyId) {
        for (Map.Entry<String, ApiKey> e : keys.entrySet()) {
            if (e.getValue().keyId().equals(keyId)) {
                return e.getKey();
            }
        }
        return null;
    }

    List<KeyInfo> keyInfos() {
        List<KeyInfo> out = new ArrayList<>(keys.size());
        keys.values().forEach(k -> out.add(new KeyInfo(k.keyId(), k.label(), k.scopes(), k.createdEpochMillis())));
        out.sort(Comparator.comparingLong(KeyInfo::createdEpochMillis).thenComparing(KeyInfo::keyId));
        return out;
    }

    List<ModelEntry> models() {
        List<ModelEntry> out = new ArrayList<>(catalog.size());
        catalog.forEach((name, entry) -> {
            // a quarantined name serves nothing: it answers why, but is no model to list
            if (entry.listed() != null) {
                out.add(new ModelEntry(name, entry.listed(), entry.createdEpochSeconds()));
            }
        });
        out.sort(Comparator.comparing(ModelEntry::name));
        return out;
    }

    List<String> sortedAdapterNames() {
        return List.copyOf(new TreeSet<>(adapterNames));
    }

    /**
     * Every name the Adapter entity knows of: the catalog's, the tracked ones, and those still
     * holding storage (a deleted adapter whose clean-up has not finished).
     */
    Set<String> allAdapterNames() {
        Set<String> all = new TreeSet<>(adapterNames);
        all.addAll(catalog.keySet());
        holders.values().forEach(all::addAll);
        return all;
    }

    static <K, V> Map<K, V> with(Map<K, V> map, K key, V value) {
        Map<K, V> copy = new HashMap<>(map);
        copy.put(key, value);
        return copy;
    }

    static <K, V> Map<K, V> without(Map<K, V> map, K key) {
        if (!map.containsKey(key)) {
            return map;
        }
        Map<K, V> copy = new HashMap<>(map);
        copy.remove(key);
        return copy;
    }
}
