package io.loraplex.persistence.adapter;

import com.typesafe.config.Config;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import java.util.function.BiPredicate;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.persistence.query.NoOffset;
import org.apache.pekko.persistence.query.PersistenceQuery;
import org.apache.pekko.persistence.query.javadsl.CurrentEventsByPersistenceIdQuery;
import org.apache.pekko.persistence.query.javadsl.CurrentPersistenceIdsQuery;
import org.apache.pekko.persistence.query.javadsl.ReadJournal;
import org.apache.pekko.persistence.query.typed.EventEnvelope;
import org.apache.pekko.persistence.query.typed.javadsl.CurrentEventsBySliceQuery;

/**
 * Which blobs the adapters reference, read from the journal (Pekko Persistence Query) rather than
 * from running entities: the blob store's start-up sweep keeps these and removes the rest. A blob
 * is referenced by every version not rejected of an adapter not deleted, UPLOADED ones included
 * (they wait for validation).
 *
 * <p>The read journal is {@code loraplex.adapter.read-journal} (or the configured journal's own).
 * One that lists persistence ids is replayed adapter by adapter ({@code jdbc-read-journal},
 * Cassandra's); one that only reads by slice (the persistence testkit's) is read by slice.
 */
public final class AdapterIndex {

    private static final String PREFIX = AdapterProtocol.TYPE_KEY.name() + "|";

    private AdapterIndex() {
    }

    /** Referenced blobs per tenant; as a predicate, what {@code BlobStore.sweep} takes. */
    public record ReferencedBlobs(Map<TenantId, Set<ContentHash>> byTenant) implements BiPredicate<TenantId, ContentHash> {
        public ReferencedBlobs {
            Map<TenantId, Set<ContentHash>> copy = new HashMap<>();
            byTenant.forEach((tenant, hashes) -> copy.put(tenant, Set.copyOf(hashes)));
            byTenant = Map.copyOf(copy);
        }

        @Override
        public boolean test(TenantId tenant, ContentHash hash) {
            return byTenant.getOrDefault(tenant, Set.of()).contains(hash);
        }

        static ReferencedBlobs of(Map<String, AdapterState> byPersistenceId) {
            Map<TenantId, Set<ContentHash>> referenced = new HashMap<>();
            byPersistenceId.forEach((persistenceId, state) -> {
                if (!state.liveHashes().isEmpty()) {
                    referenced.computeIfAbsent(tenantOf(persistenceId), t -> new HashSet<>()).addAll(state.liveHashes());
                }
            });
            return new ReferencedBlobs(referenced);
        }
    }

    /**
     * Replays every adapter in the journal and completes with the blobs they reference.
     *
     * @throws IllegalStateException when no read journal is configured, or it can list neither
     *                               persistence ids nor slices
     */
    public static CompletionStage<ReferencedBlobs> referencedBlobs(ActorSystem<?> system) {
        Config config = system.settings().config();
        AdapterSettings settings = AdapterSettings.create(config);
        String plugin = settings.readJournalPluginId(config);
        ReadJournal journal = PersistenceQuery.get(Adapter.toClassic(system)).getReadJournalFor(ReadJournal.class, plugin);
        if (journal instanceof CurrentPersistenceIdsQuery ids && journal instanceof CurrentEventsByPersistenceIdQuery events) {
            return ids.currentPersistenceIds()
                    .filter(id -> id.startsWith(PREFIX))
                    .mapAsyncUnordered(settings.indexParallelism(), id -> events.currentEventsByPersistenceId(id, 0L, Long.MAX_VALUE)
                            .runFold(AdapterState.EMPTY, (state, envelope) -> apply(state, envelope.event()), system)
                            .thenApply(state -> Pair.create(id, state)))
                    .runFold(new HashMap<String, AdapterState>(), (all, pair) -> {
                        all.put(pair.first(), pair.second());
                        return all;
                    }, system)
                    .thenApply(ReferencedBlobs::of);
        }
        if (journal instanceof CurrentEventsBySliceQuery slices) {
            Pair<Integer, Integer> all = slices.sliceRanges(1).getFirst();
            return slices.<Object>currentEventsBySlices(AdapterProtocol.TYPE_KEY.name(), all.first(), all.second(), NoOffset.getInstance())
                    .runFold(new HashMap<String, List<EventEnvelope<Object>>>(), (byId, envelope) -> {
                        byId.computeIfAbsent(envelope.persistenceId(), id -> new ArrayList<>()).add(envelope);
                        return byId;
                    }, system)
                    .thenApply(AdapterIndex::replay)
                    .thenApply(ReferencedBlobs::of);
        }
        throw new IllegalStateException("the read journal " + plugin + " (" + journal.getClass().getName()
                + ") can list neither persistence ids nor events by slice: set loraplex.adapter.read-journal to one that can");
    }

    private static Map<String, AdapterState> replay(Map<String, List<EventEnvelope<Object>>> byId) {
        Map<String, AdapterState> states = new HashMap<>();
        byId.forEach((id, envelopes) -> {
            if (!id.startsWith(PREFIX)) {
                return;
            }
            AdapterState state = AdapterState.EMPTY;
            for (EventEnvelope<Object> envelope : envelopes.stream().sorted(Comparator.comparingLong(EventEnvelope::sequenceNr)).toList()) {
                state = apply(state, envelope.event());
            }
            states.put(id, state);
        });
        return states;
    }

    private static AdapterState apply(AdapterState state, Object event) {
        return event instanceof AdapterEvent e ? state.apply(e) : state;
    }

    /** The tenant of {@code Adapter|<tenant>|<name>}. */
    static TenantId tenantOf(String persistenceId) {
        String entityId = persistenceId.substring(PREFIX.length());
        int bar = entityId.indexOf('|');
        if (bar < 0) {
            throw new IllegalArgumentException("not an Adapter persistence id (Adapter|<tenant>|<name>): " + persistenceId);
        }
        return new TenantId(entityId.substring(0, bar));
    }
}
