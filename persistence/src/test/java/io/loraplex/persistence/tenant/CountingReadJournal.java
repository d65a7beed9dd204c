package io.loraplex.persistence.tenant;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.persistence.query.EventEnvelope;
import org.apache.pekko.persistence.query.PersistenceQuery;
import org.apache.pekko.persistence.query.ReadJournalProvider;
import org.apache.pekko.persistence.query.javadsl.CurrentEventsByPersistenceIdQuery;
import org.apache.pekko.persistence.query.javadsl.ReadJournal;
import org.apache.pekko.stream.javadsl.Source;

/**
 * A read journal for tests that reads through another one ({@code delegate}) and records, per
 * persistence id, every range asked for and how many events came back: what a test asserts the
 * usage history read, rather than how long it took.
 */
public final class CountingReadJournal implements ReadJournal, CurrentEventsByPersistenceIdQuery {

    /** The plugin id {@link #config} configures. */
    static final String PLUGIN = "loraplex-test.counting-read-journal";

    /** One read: the range asked for, and the events it has returned so far (all of them once the reader has its answer). */
    record Read(long from, long to, AtomicLong events) {
        long eventCount() {
            return events.get();
        }
    }

    private final CurrentEventsByPersistenceIdQuery delegate;
    private final Map<String, List<Read>> reads = new ConcurrentHashMap<>();

    CountingReadJournal(CurrentEventsByPersistenceIdQuery delegate) {
        this.delegate = delegate;
    }

    /** The plugin's configuration, reading through the read journal plugin {@code delegate}. */
    static Config config(String delegate) {
        return ConfigFactory.parseString(PLUGIN + " { class = \"" + Provider.class.getName() + "\", delegate = \"" + delegate + "\" }");
    }

    /** The reads of {@code persistenceId} so far, oldest first. */
    List<Read> reads(String persistenceId) {
        return List.copyOf(reads.getOrDefault(persistenceId, List.of()));
    }

    @Override
    public Source<EventEnvelope, NotUsed> currentEventsByPersistenceId(String persistenceId, long fromSequenceNr, long toSequenceNr) {
        // recorded when asked (before the reader can have its answer), counted as the events pass
        Read read = new Read(fromSequenceNr, toSequenceNr, new AtomicLong());
        reads.computeIfAbsent(persistenceId, id -> new CopyOnWriteArrayList<>()).add(read);
        return delegate.currentEventsByPersistenceId(persistenceId, fromSequenceNr, toSequenceNr).map(envelope -> {
            read.events().incrementAndGet();
            return envelope;
        });
    }

    /** What Pekko instantiates from {@link #PLUGIN}'s {@code class}. */
    public static final class Provider implements ReadJournalProvider {
        private final CountingReadJournal journal;

        public Provider(ExtendedActorSystem system, Config config) {
            journal = new CountingReadJournal(PersistenceQuery.get(system)
                    .getReadJournalFor(CurrentEventsByPersistenceIdQuery.class, config.getString("delegate")));
        }

        @Override
        public org.apache.pekko.persistence.query.scaladsl.ReadJournal scaladslReadJournal() {
            return new org.apache.pekko.persistence.query.scaladsl.ReadJournal() {
            };
        }

        @Override
        public ReadJournal javadslReadJournal() {
            return journal;
        }
    }
}
