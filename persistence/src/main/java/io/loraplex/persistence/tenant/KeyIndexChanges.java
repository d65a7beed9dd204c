package io.loraplex.persistence.tenant;

import io.loraplex.cluster.tenant.TenantProtocol;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.SelfUniqueAddress;

/**
 * The changes a {@code Tenant} entity makes to the replicated key index
 * ({@link TenantProtocol#KEY_INDEX}: key hash to tenant id). They run inside the replicator, so
 * they capture values only, never the entity's state.
 */
final class KeyIndexChanges {

    private KeyIndexChanges() {
    }

    /** Names {@code owner} for {@code hash}; fails (the write is refused) if another tenant holds it. */
    static Function<LWWMap<String, String>, LWWMap<String, String>> put(SelfUniqueAddress self, String hash, String owner) {
        return index -> {
            scala.Option<String> current = index.get(hash);
            if (current.isDefined() && !current.get().equals(owner)) {
                throw new IllegalStateException("this API key is already registered to another tenant");
            }
            return index.put(self, hash, owner);
        };
    }

    /** Removes {@code hash} if it names {@code owner}; another tenant's entry stays. */
    static Function<LWWMap<String, String>, LWWMap<String, String>> remove(SelfUniqueAddress self, String hash, String owner) {
        return index -> {
            scala.Option<String> current = index.get(hash);
            return current.isDefined() && current.get().equals(owner) ? index.remove(self, hash) : index;
        };
    }

    /**
     * After recovery: puts the {@code held} keys the index lacks, and removes the entries naming
     * {@code owner} for keys it no longer holds (a revocation whose index write was lost).
     */
    static Function<LWWMap<String, String>, LWWMap<String, String>> repair(SelfUniqueAddress self, Set<String> held,
            String owner) {
        return index -> {
            LWWMap<String, String> repaired = index;
            for (String hash : held) {
                if (index.get(hash).isEmpty()) {
                    repaired = repaired.put(self, hash, owner);
                }
            }
            for (Map.Entry<String, String> entry : index.getEntries().entrySet()) {
                if (owner.equals(entry.getValue()) && !held.contains(entry.getKey())) {
                    repaired = repaired.remove(self, entry.getKey());
                }
            }
            return repaired;
        };
    }
}
