package io.loraplex.persistence.tenant;

import io.loraplex.cluster.tenant.TenantProtocol.UsageRow;
import io.loraplex.persistence.tenant.TenantEvent.UsageExpired;
import io.loraplex.persistence.tenant.TenantEvent.UsageRecorded;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.ClassicActorSystemProvider;
import org.apache.pekko.persistence.query.javadsl.CurrentEventsByPersistenceIdQuery;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * A tenant's journaled usage by hour and model: a read-side projection of its {@link UsageRecorded}
 * and {@link UsageExpired} events, caught up from the read journal (Pekko Persistence Query) when
 * usage is asked for, from the sequence number it last read. It is not the entity's state: events
 * that do not touch usage never copy it, snapshots never hold it, and recovery never replays it.
 * Retention is the journal's: hours before an {@link UsageExpired} are dropped, as the state did.
 * Mutable, confined to the entity's actor; a restarted or moved entity starts it from its latest
 * {@link UsageCheckpoint} and reads only the events after it.
 */
final class UsageHistory {

    /** Requests and tokens of one model in one hour. */
    record Usage(long requests, long tokens) {
        Usage plus(long moreRequests, long moreTokens) {
            return new Usage(requests + moreRequests, tokens + moreTokens);
        }
    }

    /** A usage event and its sequence number in the tenant's journal. */
    record Journaled(long sequenceNr, TenantEvent event) {
    }

    /** Epoch hour to model ("" for the base) to what the hour holds. */
    private final NavigableMap<Long, Map<String, Usage>> hours = new TreeMap<>();
    /** The sequence number up to which the journal has been read into {@link #hours}. */
    private long readTo;

    long readTo() {
        return readTo;
    }

    /** What this history holds now, and how far it has read: what a started entity can start from. */
    UsageCheckpoint checkpoint() {
        List<UsageCheckpoint.Row> rows = new ArrayList<>();
        // by hour, then model: the same checkpoint for the same history
        hours.forEach((hour, models) -> new TreeMap<>(models).forEach((model, u) ->
                rows.add(new UsageCheckpoint.Row(hour, model, u.requests(), u.tokens()))));
        return new UsageCheckpoint(readTo, rows);
    }

    /**
     * Starts this history from {@code checkpoint}: its rows, read up to its {@code readTo}. Only a
     * history that has read nothing yet starts from one (its events would otherwise count twice).
     */
    void restore(UsageCheckpoint checkpoint) {
        if (readTo != 0 || !hours.isEmpty()) {
            throw new IllegalStateException("a usage history that has read the journal to " + readTo
                    + " cannot start again from a checkpoint at " + checkpoint.readTo());
        }
        for (UsageCheckpoint.Row row : checkpoint.rows()) {
            hours.computeIfAbsent(row.epochHour(), h -> new HashMap<>())
                    .merge(row.model(), new Usage(row.requests(), row.tokens()), (a, b) -> a.plus(b.requests(), b.tokens()));
        }
        readTo = checkpoint.readTo();
    }

    /**
     * The usage events of {@code persistenceId} in {@code [from, to]}, in journal order: what
     * {@link #caughtUp} takes.
     */
    static CompletionStage<List<Journaled>> read(CurrentEventsByPersistenceIdQuery journal, PersistenceId persistenceId, long from,
            long to, ClassicActorSystemProvider system) {
        if (from > to) {
            // a checkpoint at the journal's last sequence number: nothing after it to read
            return CompletableFuture.completedFuture(List.of());
        }
        return journal.currentEventsByPersistenceId(persistenceId.id(), from, to)
                .filter(envelope -> envelope.event() instanceof UsageRecorded || envelope.event() instanceof UsageExpired)
                .map(envelope -> new Journaled(envelope.sequenceNr(), (TenantEvent) envelope.event()))
                .runWith(Sink.seq(), system);
    }

    /** Adds what was read up to sequence number {@code to}; events this projection has already read are skipped. */
    void caughtUp(List<Journaled> read, long to) {
        for (Journaled journaled : read) {
            if (journaled.sequenceNr() > readTo) {
                apply(journaled.event());
            }
        }
        readTo = Math.max(readTo, to);
    }

    private void apply(TenantEvent event) {
        switch (event) {
            case UsageRecorded e -> hours.computeIfAbsent(e.epochHour(), h -> new HashMap<>())
                    .merge(e.model(), new Usage(e.requests(), e.tokens()), (a, b) -> a.plus(b.requests(), b.tokens()));
            case UsageExpired e -> hours.headMap(e.keepFromEpochHour(), false).clear();
            // no other event touches usage (read() passes none)
            case TenantEvent.TenantCreated _, TenantEvent.ProfileUpdated _, TenantEvent.ApiKeyAdded _,
                    TenantEvent.ApiKeyRevoked _, TenantEvent.CatalogUpdated _, TenantEvent.AdapterNameTracked _,
                    TenantEvent.StorageReserved _, TenantEvent.StorageReleased _, TenantEvent.StorageHeld _,
                    TenantEvent.StorageLetGo _ -> {
            }
        }
    }

    /** The journaled usage in {@code [fromHour, toHour]}, as rows. */
    List<UsageRow> rows(long fromHour, long toHour) {
        List<UsageRow> rows = new ArrayList<>();
        if (fromHour > toHour) {
            return rows;
        }
        hours.subMap(fromHour, true, toHour, true).forEach((hour, models) ->
                models.forEach((model, u) -> rows.add(new UsageRow(hour, model, u.requests(), u.tokens()))));
        return rows;
    }
}
