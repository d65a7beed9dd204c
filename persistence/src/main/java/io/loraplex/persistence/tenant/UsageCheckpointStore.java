package io.loraplex.persistence.tenant;

import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.TenantId;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.ActorRef;
import org.apache.pekko.actor.ClassicActorSystemProvider;
import org.apache.pekko.pattern.Patterns;
import org.apache.pekko.persistence.Persistence;
import org.apache.pekko.persistence.SaveSnapshotFailure;
import org.apache.pekko.persistence.SaveSnapshotSuccess;
import org.apache.pekko.persistence.SnapshotMetadata;
import org.apache.pekko.persistence.SnapshotProtocol;
import org.apache.pekko.persistence.SnapshotSelectionCriteria;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where a tenant's {@link UsageCheckpoint} lives: the configured snapshot store (the embedded
 * journal's, Cassandra's, the testkit's), as the one snapshot of the persistence id
 * {@code tenant-usage|<tenant>}, at the sequence number it read the journal to. Being in the
 * journal's own database, it follows the entity to whichever router runs it next.
 *
 * <p>It speaks the snapshot store's protocol directly (as a persistent actor's snapshotter does):
 * a checkpoint is not the state of an entity, has no events, and is saved at the journal position
 * of another entity; an event-sourced helper would have to journal an event per checkpoint just to
 * be allowed a snapshot. Nothing here fails a usage report: a checkpoint that cannot be loaded
 * (unreadable, of another schema, from another journal) is ignored with a warning, and the history
 * is read from the start of the journal instead; one that cannot be saved is retried at the next.
 */
final class UsageCheckpointStore {

    private static final Logger log = LoggerFactory.getLogger(UsageCheckpointStore.class);

    /** Not {@code Tenant|...}: what lists the tenants' persistence ids (TenantRecovery) must not take it for one. */
    static final String PREFIX = "tenant-usage";

    private final ActorRef snapshotStore;
    private final Duration timeout;

    /** The default snapshot store, the Tenant entity's ({@code pekko.persistence.snapshot-store.plugin}). */
    UsageCheckpointStore(ClassicActorSystemProvider system, Duration timeout) {
        this.snapshotStore = Persistence.get(system.classicSystem()).snapshotStoreFor("", ConfigFactory.empty());
        this.timeout = timeout;
    }

    /** The checkpoint's own persistence id: {@code tenant-usage|<tenant>}. */
    static PersistenceId persistenceId(TenantId tenant) {
        return PersistenceId.of(PREFIX, tenant.value());
    }

    /**
     * The tenant's latest checkpoint, or empty when there is none or it cannot be used: it cannot be
     * read, is not a {@link UsageCheckpoint}, or read further than the journal now holds
     * ({@code lastSequenceNr}: it is another journal's). Never fails.
     */
    CompletionStage<Optional<UsageCheckpoint>> load(TenantId tenant, long lastSequenceNr) {
        String id = persistenceId(tenant).id();
        return Patterns.ask(snapshotStore, new SnapshotProtocol.LoadSnapshot(id, SnapshotSelectionCriteria.latest(), Long.MAX_VALUE),
                timeout).handle((reply, failure) -> {
                    if (failure != null) {
                        log.warn("tenant {}: its usage checkpoint could not be loaded, so its usage history is read from the start "
                                + "of the journal: {}", tenant, failure.toString());
                        return Optional.empty();
                    }
                    return switch (reply) {
                        case SnapshotProtocol.LoadSnapshotResult result when result.snapshot().isEmpty() -> Optional.empty();
                        case SnapshotProtocol.LoadSnapshotResult result -> usable(tenant, result.snapshot().get().snapshot(),
                                lastSequenceNr);
                        case SnapshotProtocol.LoadSnapshotFailed failed -> {
                            // damaged, of a schema this version does not know, or the store failed: ignored all the same
                            log.warn("tenant {}: its usage checkpoint could not be read and is ignored; its usage history is read "
                                    + "from the start of the journal: {}", tenant, failed.cause().toString());
                            yield Optional.empty();
                        }
                        default -> {
                            log.warn("tenant {}: the snapshot store answered {} to loading its usage checkpoint; it is ignored", tenant,
                                    reply.getClass().getName());
                            yield Optional.empty();
                        }
                    };
                });
    }

    private static Optional<UsageCheckpoint> usable(TenantId tenant, Object snapshot, long lastSequenceNr) {
        if (!(snapshot instanceof UsageCheckpoint checkpoint)) {
            log.warn("tenant {}: its usage checkpoint holds a {}, not a usage checkpoint, and is ignored; "
                    + "its usage history is read from the start of the journal", tenant, snapshot == null ? "null" : snapshot.getClass().getName());
            return Optional.empty();
        }
        if (checkpoint.readTo() > lastSequenceNr) {
            log.warn("tenant {}: its usage checkpoint read the journal to sequence number {}, past its last one ({}): it was taken of "
                    + "another journal and is ignored; its usage history is read from the start of the journal", tenant,
                    checkpoint.readTo(), lastSequenceNr);
            return Optional.empty();
        }
        return Optional.of(checkpoint);
    }

    /**
     * Saves {@code checkpoint} at its {@code readTo}, then deletes the tenant's older checkpoints;
     * completes with whether the save succeeded. Never fails.
     */
    CompletionStage<Boolean> save(TenantId tenant, UsageCheckpoint checkpoint, long timestampMillis) {
        String id = persistenceId(tenant).id();
        SnapshotMetadata metadata = new SnapshotMetadata(id, checkpoint.readTo(), timestampMillis);
        return Patterns.ask(snapshotStore, new SnapshotProtocol.SaveSnapshot(metadata, checkpoint), timeout).handle((reply, failure) -> {
            if (reply instanceof SaveSnapshotSuccess) {
                // one checkpoint is enough: this one. Older ones go, and so do any further on (of another journal, ignored at
                // load), which would otherwise stay the latest; one left behind costs only its space until the next save
                if (checkpoint.readTo() > 0) {
                    Patterns.ask(snapshotStore, new SnapshotProtocol.DeleteSnapshots(id,
                            SnapshotSelectionCriteria.create(checkpoint.readTo() - 1, Long.MAX_VALUE)), timeout);
                }
                Patterns.ask(snapshotStore, new SnapshotProtocol.DeleteSnapshots(id,
                        SnapshotSelectionCriteria.create(Long.MAX_VALUE, Long.MAX_VALUE, checkpoint.readTo() + 1, 0)), timeout);
                return true;
            }
            Object cause = failure != null ? failure : reply instanceof SaveSnapshotFailure f ? f.cause() : reply;
            log.warn("tenant {}: its usage checkpoint at sequence number {} could not be saved (retried at the next): {}", tenant,
                    checkpoint.readTo(), String.valueOf(cause));
            return false;
        }).exceptionally(e -> false);
    }

    /** Completed: for a caller that has no checkpoint to load. */
    static CompletionStage<Optional<UsageCheckpoint>> none() {
        return CompletableFuture.completedFuture(Optional.empty());
    }
}
