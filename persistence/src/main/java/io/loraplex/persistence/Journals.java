package io.loraplex.persistence;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.persistence.jdbc.testkit.javadsl.SchemaUtils;

/**
 * The journals and snapshot stores of the event-sourced entities, as configuration to lay over an
 * ActorSystem's ({@code Journals.h2(dir).withFallback(config)}):
 *
 * <ul>
 *   <li>{@link #embedded(Path)}: the embedded default, an append-only log under the data
 *       directory ({@link io.loraplex.persistence.journal.EventLog}): an acknowledged write is on
 *       disk, and survives a SIGKILL or a power cut.</li>
 *   <li>{@link #h2(Path)}: H2 through {@code pekko-persistence-jdbc}, the embedded journal before
 *       the event log; kept to read older data directories ({@link H2Import}) and to compare
 *       against. It loses acknowledged writes when killed under concurrent writes
 *       ({@code docs/decisions.md}). Call {@link #prepare} once the system runs.</li>
 *   <li>{@link #cassandra}: clusters ({@code pekko-persistence-cassandra}); keyspace and tables are
 *       created when missing.</li>
 * </ul>
 *
 * Events and snapshots are Jackson CBOR either way ({@link CborSerializable}).
 */
public final class Journals {

    /** The H2 file's name under the data directory ({@code journal.mv.db} on disk). */
    public static final String H2_FILE = "journal";
    /** The embedded journal's directory under the data directory. */
    public static final String EMBEDDED_DIR = "journal";

    private static final String EMBEDDED_JOURNAL = "loraplex-journal";
    private static final String EMBEDDED_SNAPSHOTS = "loraplex-snapshot-store";
    private static final String EMBEDDED_QUERY = "loraplex-read-journal";

    private static final String JDBC_JOURNAL = "jdbc-journal";
    private static final String JDBC_SNAPSHOTS = "jdbc-snapshot-store";
    private static final String CASSANDRA_JOURNAL = "pekko.persistence.cassandra.journal";
    private static final String CASSANDRA_SNAPSHOTS = "pekko.persistence.cassandra.snapshot";

    private Journals() {
    }

    /**
     * The embedded journal in {@code dataDir/journal/}: events and snapshots in one append-only
     * log, each write on disk ({@code fdatasync}, shared by the writes that arrive together) before
     * it is acknowledged. {@code reference.conf} holds the plugins' settings.
     */
    public static Config embedded(Path dataDir) {
        String dir = dataDir.toAbsolutePath().resolve(EMBEDDED_DIR).toString();
        return ConfigFactory.parseString("""
                pekko.persistence.journal.plugin = "%s"
                pekko.persistence.snapshot-store.plugin = "%s"
                """.formatted(EMBEDDED_JOURNAL, EMBEDDED_SNAPSHOTS))
                .withValue(EMBEDDED_JOURNAL + ".dir", ConfigValueFactory.fromAnyRef(dir))
                .withValue(EMBEDDED_SNAPSHOTS + ".dir", ConfigValueFactory.fromAnyRef(dir))
                .withValue(EMBEDDED_QUERY + ".dir", ConfigValueFactory.fromAnyRef(dir));
    }

    /**
     * The H2 journal in {@code dataDir/journal.mv.db}, the embedded journal before {@link #embedded}.
     * {@code WRITE_DELAY=0} has every commit write its changes to the file before it returns, which
     * survived one SIGKILL, but not repeated SIGKILLs under load: H2 then reopened older versions of
     * the file (docs/decisions.md). Kept to compare against and for {@link H2Import}'s tests; the file
     * is opened by one JVM at a time ({@code FILE_LOCK=FILE}).
     */
    public static Config h2(Path dataDir) {
        String url = "jdbc:h2:file:" + dataDir.toAbsolutePath().resolve(H2_FILE)
                + ";WRITE_DELAY=0;FILE_LOCK=FILE;DB_CLOSE_ON_EXIT=FALSE";
        return ConfigFactory.parseString("""
                pekko.persistence.journal.plugin = "%s"
                pekko.persistence.snapshot-store.plugin = "%s"
                pekko-persistence-jdbc.shared-databases.h2 {
                  profile = "slick.jdbc.H2Profile$"
                  db {
                    driver = "org.h2.Driver"
                    user = "loraplex"
                    password = ""
                    connectionPool = "HikariCP"
                    # one writer at a time suits an embedded file database; the pool keeps a spare
                    numThreads = 4
                    maxConnections = 4
                    minConnections = 1
                  }
                }
                jdbc-journal.use-shared-db = "h2"
                jdbc-snapshot-store.use-shared-db = "h2"
                jdbc-read-journal.use-shared-db = "h2"
                jdbc-durable-state-store.use-shared-db = "h2"
                """.formatted(JDBC_JOURNAL, JDBC_SNAPSHOTS))
                .withValue("pekko-persistence-jdbc.shared-databases.h2.db.url", ConfigValueFactory.fromAnyRef(url));
    }

    /**
     * Cassandra at {@code host:port} (its native protocol), events and snapshots in
     * {@code keyspace} (created with replication factor 1 when missing: a real cluster creates its
     * keyspace itself with the replication it needs). Events-by-tag is off: nothing queries by tag.
     */
    public static Config cassandra(String host, int port, String keyspace) {
        if (keyspace == null || !keyspace.matches("[a-z][a-z0-9_]{0,47}")) {
            throw new IllegalArgumentException(
                    "a Cassandra keyspace is 1-48 of a-z, 0-9 and '_', starting with a letter; got: " + keyspace);
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("a Cassandra port is 1-65535, got " + port);
        }
        return ConfigFactory.parseString("""
                pekko.persistence.journal.plugin = "%s"
                pekko.persistence.snapshot-store.plugin = "%s"
                pekko.persistence.cassandra {
                  journal {
                    keyspace = "%s"
                    keyspace-autocreate = true
                    tables-autocreate = true
                    replication-factor = 1
                  }
                  snapshot {
                    keyspace = "%s"
                    keyspace-autocreate = true
                    tables-autocreate = true
                    replication-factor = 1
                  }
                  events-by-tag.enabled = false
                }
                datastax-java-driver {
                  basic.load-balancing-policy.local-datacenter = "datacenter1"
                  # keyspace and table creation take longer than the driver's default 2 s
                  basic.request.timeout = 10s
                  advanced.reconnect-on-init = true
                }
                """.formatted(CASSANDRA_JOURNAL, CASSANDRA_SNAPSHOTS, keyspace, keyspace))
                .withValue("datastax-java-driver.basic.contact-points",
                        ConfigValueFactory.fromIterable(List.of(host + ":" + port)));
    }

    /**
     * The read journal (Pekko Persistence Query) of the journal {@code config} names, or null when
     * it has none that lists persistence ids (the in-memory journal).
     */
    public static String queryPluginId(Config config) {
        return switch (config.getString("pekko.persistence.journal.plugin")) {
            case EMBEDDED_JOURNAL -> EMBEDDED_QUERY;
            case JDBC_JOURNAL -> "jdbc-read-journal";
            case CASSANDRA_JOURNAL -> "pekko.persistence.cassandra.query";
            default -> null;
        };
    }

    /**
     * Makes the configured journal ready: with the JDBC journal, creates its tables if missing (and
     * waits up to {@code timeout}); the embedded journal and Cassandra create their own, so nothing to do.
     */
    public static void prepare(ActorSystem<?> system, Duration timeout) {
        String plugin = system.settings().config().getString("pekko.persistence.journal.plugin");
        if (!JDBC_JOURNAL.equals(plugin)) {
            return;
        }
        try {
            SchemaUtils.createIfNotExists(system).toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating the journal's tables", e);
        } catch (Exception e) {
            throw new IllegalStateException("could not create the journal's tables: " + e.getMessage(), e);
        }
    }
}
