package io.loraplex.persistence.tenant;

import com.typesafe.config.Config;
import io.loraplex.persistence.Journals;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import org.apache.pekko.actor.typed.BackoffSupervisorStrategy;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;

/**
 * Settings of the {@code Tenant} entity, from {@code loraplex.tenant} (see this module's
 * {@code reference.conf}).
 *
 * @param inFlightLease          how long an admitted request holds its slot without a {@code Finished}
 * @param leaseSweepInterval     how often an entity with requests in flight looks for expired leases
 * @param concurrencyRetryAfter  the Retry-After of a refusal at the concurrency limit
 * @param keyIndexWrite          how many replicas acknowledge a key-index write before the command answers
 * @param keyIndexWriteTimeout   how long a majority/all key-index write may take
 * @param keyCommandStash        key commands that may wait behind an index write in flight
 * @param usageFlushInterval     how long usage gathers in memory before it is journaled
 * @param snapshotEvery          a snapshot every this many events
 * @param keepSnapshots          snapshots kept (older ones and the events before them are deletable)
 * @param journalBackoffMin      the first restart delay after a journal failure
 * @param journalBackoffMax      the longest restart delay after repeated journal failures
 * @param uploadHoldLease        how long an upload's hold on the storage quota lasts without being grown or released
 * @param usageRetention         how long usage hours are kept; older hours are dropped when usage is journaled
 * @param readJournal            the Persistence Query plugin that usage reports read the journal through; empty: the
 *                               configured journal's own ({@link #readJournalPluginId})
 * @param usageCheckpointEvery   a checkpoint of the usage history once it has read this many more sequence numbers of
 *                               the tenant's journal: what the first usage read after a start reads at most
 * @param usageCheckpointTimeout how long the snapshot store may take to load or save a usage checkpoint
 */
public record TenantSettings(Duration inFlightLease, Duration leaseSweepInterval, Duration concurrencyRetryAfter,
        KeyIndexWrite keyIndexWrite, Duration keyIndexWriteTimeout, int keyCommandStash, Duration usageFlushInterval,
        int snapshotEvery, int keepSnapshots, Duration journalBackoffMin, Duration journalBackoffMax, Duration uploadHoldLease,
        Duration usageRetention, String readJournal, int usageCheckpointEvery, Duration usageCheckpointTimeout) {

    /** The persistence testkit's in-memory journal, and its read journal: named, not imported (test scope). */
    private static final String TESTKIT_JOURNAL = "pekko.persistence.testkit.journal";
    private static final String TESTKIT_QUERY = "pekko.persistence.testkit.query";

    /** Write consistency of the key index. */
    public enum KeyIndexWrite {
        /** This node's replica only: one JVM, the embedded default. */
        LOCAL,
        /** A majority of the replicas: clusters. */
        MAJORITY,
        /** Every replica. */
        ALL
    }

    public TenantSettings {
        Objects.requireNonNull(keyIndexWrite, "keyIndexWrite");
        requirePositive("in-flight-lease", inFlightLease);
        requirePositive("lease-sweep-interval", leaseSweepInterval);
        requirePositive("concurrency-retry-after", concurrencyRetryAfter);
        requirePositive("key-index.write-timeout", keyIndexWriteTimeout);
        requirePositive("usage-flush-interval", usageFlushInterval);
        requirePositive("journal-failure-backoff.min", journalBackoffMin);
        requirePositive("journal-failure-backoff.max", journalBackoffMax);
        requirePositive("upload-hold-lease", uploadHoldLease);
        requirePositive("usage-retention", usageRetention);
        requirePositive("usage-checkpoint.timeout", usageCheckpointTimeout);
        if (usageCheckpointEvery < 1) {
            throw new IllegalArgumentException("loraplex.tenant.usage-checkpoint.every must be at least 1 (sequence numbers of "
                    + "the tenant's journal), got " + usageCheckpointEvery);
        }
        if (snapshotEvery < 1 || keepSnapshots < 1) {
            throw new IllegalArgumentException("loraplex.tenant.snapshot-every and keep-snapshots must be at least 1, got "
                    + snapshotEvery + " and " + keepSnapshots);
        }
        readJournal = readJournal == null ? "" : readJournal.strip();
        if (keyCommandStash < 1) {
            throw new IllegalArgumentException("loraplex.tenant.key-command-stash must be at least 1, got " + keyCommandStash);
        }
    }

    /** Reads {@code loraplex.tenant} from a full configuration (an ActorSystem's, or a test's). */
    public static TenantSettings create(Config config) {
        Config c = config.getConfig("loraplex.tenant");
        String write = c.getString("key-index.write-consistency");
        KeyIndexWrite keyIndexWrite;
        try {
            keyIndexWrite = KeyIndexWrite.valueOf(write.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    "loraplex.tenant.key-index.write-consistency must be local, majority or all, got: " + write, e);
        }
        return new TenantSettings(c.getDuration("in-flight-lease"), c.getDuration("lease-sweep-interval"),
                c.getDuration("concurrency-retry-after"), keyIndexWrite, c.getDuration("key-index.write-timeout"),
                c.getInt("key-command-stash"), c.getDuration("usage-flush-interval"), c.getInt("snapshot-every"),
                c.getInt("keep-snapshots"), c.getDuration("journal-failure-backoff.min"),
                c.getDuration("journal-failure-backoff.max"), c.getDuration("upload-hold-lease"), c.getDuration("usage-retention"),
                c.getString("read-journal"), c.getInt("usage-checkpoint.every"), c.getDuration("usage-checkpoint.timeout"));
    }

    /** The Distributed Data write consistency these settings name. */
    public Replicator.WriteConsistency writeConsistency() {
        return switch (keyIndexWrite) {
            case LOCAL -> Replicator.writeLocal();
            case MAJORITY -> new Replicator.WriteMajority(keyIndexWriteTimeout);
            case ALL -> new Replicator.WriteAll(keyIndexWriteTimeout);
        };
    }

    /**
     * The read journal usage reports read: {@code read-journal} when set, else the configured
     * journal's own ({@link Journals#queryPluginId}), else, on the persistence testkit's in-memory
     * journal (the entity's tests), the testkit's; null when there is none.
     */
    public String readJournalPluginId(Config config) {
        if (!readJournal.isEmpty()) {
            return readJournal;
        }
        String derived = Journals.queryPluginId(config);
        if (derived == null && TESTKIT_JOURNAL.equals(config.getString("pekko.persistence.journal.plugin"))) {
            return TESTKIT_QUERY;
        }
        return derived;
    }

    /**
     * {@link #readJournalPluginId}, refusing a journal without one: the usage history is read from
     * the journal, so a tenant could not report its usage.
     *
     * @throws IllegalStateException naming the setting when there is none
     */
    public String requireReadJournal(Config config) {
        String plugin = readJournalPluginId(config);
        if (plugin == null) {
            throw new IllegalStateException("loraplex.tenant.read-journal is empty and the journal "
                    + config.getString("pekko.persistence.journal.plugin")
                    + " has no read journal of its own: set it to a Persistence Query plugin id that reads events by persistence id");
        }
        return plugin;
    }

    /** Restarts after a journal failure, backing off from {@code journalBackoffMin} to {@code journalBackoffMax}. */
    public BackoffSupervisorStrategy journalFailureBackoff() {
        return SupervisorStrategy.restartWithBackoff(journalBackoffMin, journalBackoffMax, 0.2);
    }

    private static void requirePositive(String key, Duration value) {
        if (value == null || value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException("loraplex.tenant." + key + " must be a positive duration, got " + value);
        }
    }
}
