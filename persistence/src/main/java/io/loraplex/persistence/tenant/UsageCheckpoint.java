package io.loraplex.persistence.tenant;

import io.loraplex.persistence.CborSerializable;
import java.util.List;

/**
 * A checkpoint of a tenant's {@link UsageHistory}: its rows as they were after reading the
 * tenant's journal up to sequence number {@code readTo}, so that a started (or moved) entity reads
 * only the events after it. Saved as a snapshot of its own persistence id
 * ({@link UsageCheckpointStore#persistenceId}) in the configured snapshot store, never in the
 * Tenant entity's state or snapshots (Jackson CBOR, versioned like them).
 *
 * <p>Rows and {@code readTo} are always written together, so any checkpoint — an older one, or none
 * — gives the same report once the events after it are read: one that cannot be read is dropped.
 *
 * @param readTo the journal's sequence number up to which {@code rows} add up its usage events
 * @param rows   every (hour, model) the history held then, retention applied, by hour then model
 */
public record UsageCheckpoint(long readTo, List<Row> rows) implements CborSerializable {

    public UsageCheckpoint {
        if (readTo < 0) {
            throw new IllegalArgumentException("a usage checkpoint's readTo must not be negative, got " + readTo);
        }
        rows = rows == null ? List.of() : List.copyOf(rows);
    }

    /** Requests and tokens of one model ("" for the base) in one epoch hour. */
    public record Row(long epochHour, String model, long requests, long tokens) {
        public Row {
            model = model == null ? "" : model;
        }
    }
}
