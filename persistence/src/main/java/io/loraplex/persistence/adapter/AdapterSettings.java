package io.loraplex.persistence.adapter;

import com.typesafe.config.Config;
import io.loraplex.persistence.Journals;
import java.time.Duration;
import org.apache.pekko.actor.typed.BackoffSupervisorStrategy;
import org.apache.pekko.actor.typed.SupervisorStrategy;

/**
 * Settings of the {@code Adapter} entity, from {@code loraplex.adapter} (see this module's
 * {@code reference.conf}).
 *
 * @param tenantTimeout        how long the tenant may take to acknowledge a catalog change or a storage reservation
 * @param validationTimeout    how long a GPU node may take to validate a version
 * @param receptionistTimeout  how long a look-up of placement or blob stores may take, and placement's choice of a node
 * @param commandStash         commands that may wait behind an operation in flight; beyond, refused as UNAVAILABLE
 * @param snapshotEvery        a snapshot every this many events
 * @param keepSnapshots        snapshots kept
 * @param journalBackoffMin    the first restart delay after a journal failure
 * @param journalBackoffMax    the longest restart delay after repeated journal failures
 * @param readJournal          the Persistence Query plugin {@link AdapterIndex} reads; "" for the one of the configured journal
 * @param indexParallelism     adapters {@link AdapterIndex} replays at once
 * @param cleanupRetry         how long a delete's clean-up that failed (tenant or blob store not answering) waits to retry
 * @param placementWait        how long a validation asks placement again while it lists no ready node of the version's base
 */
public record AdapterSettings(Duration tenantTimeout, Duration validationTimeout, Duration receptionistTimeout, int commandStash,
        int snapshotEvery, int keepSnapshots, Duration journalBackoffMin, Duration journalBackoffMax, String readJournal,
        int indexParallelism, Duration cleanupRetry, Duration placementWait) {

    public AdapterSettings {
        requirePositive("tenant-timeout", tenantTimeout);
        requirePositive("validation-timeout", validationTimeout);
        requirePositive("receptionist-timeout", receptionistTimeout);
        requirePositive("journal-failure-backoff.min", journalBackoffMin);
        requirePositive("journal-failure-backoff.max", journalBackoffMax);
        requirePositive("cleanup-retry", cleanupRetry);
        requirePositive("placement-wait", placementWait);
        requireAtLeastOne("command-stash", commandStash);
        requireAtLeastOne("snapshot-every", snapshotEvery);
        requireAtLeastOne("keep-snapshots", keepSnapshots);
        requireAtLeastOne("index-parallelism", indexParallelism);
        readJournal = readJournal == null ? "" : readJournal.strip();
    }

    /** Reads {@code loraplex.adapter} from a full configuration (an ActorSystem's, or a test's). */
    public static AdapterSettings create(Config config) {
        Config c = config.getConfig("loraplex.adapter");
        return new AdapterSettings(c.getDuration("tenant-timeout"), c.getDuration("validation-timeout"),
                c.getDuration("receptionist-timeout"), c.getInt("command-stash"), c.getInt("snapshot-every"),
                c.getInt("keep-snapshots"), c.getDuration("journal-failure-backoff.min"),
                c.getDuration("journal-failure-backoff.max"), c.getString("read-journal"), c.getInt("index-parallelism"),
                c.getDuration("cleanup-retry"), c.getDuration("placement-wait"));
    }

    /**
     * The read journal's plugin id: {@code read-journal} when set, else the one that goes with the
     * configured journal ({@link Journals#queryPluginId}).
     *
     * @throws IllegalStateException when neither names one (the plain in-memory journal)
     */
    public String readJournalPluginId(Config config) {
        if (!readJournal.isEmpty()) {
            return readJournal;
        }
        String derived = Journals.queryPluginId(config);
        if (derived == null) {
            throw new IllegalStateException("loraplex.adapter.read-journal is empty and the journal "
                    + config.getString("pekko.persistence.journal.plugin") + " has no read journal: set it to a "
                    + "Persistence Query plugin id");
        }
        return derived;
    }

    /** Restarts after a journal failure, backing off from {@code journalBackoffMin} to {@code journalBackoffMax}. */
    public BackoffSupervisorStrategy journalFailureBackoff() {
        return SupervisorStrategy.restartWithBackoff(journalBackoffMin, journalBackoffMax, 0.2);
    }

    private static void requirePositive(String key, Duration value) {
        if (value == null || value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException("loraplex.adapter." + key + " must be a positive duration, got " + value);
        }
    }

    private static void requireAtLeastOne(String key, int value) {
        if (value < 1) {
            throw new IllegalArgumentException("loraplex.adapter." + key + " must be at least 1, got " + value);
        }
    }
}
