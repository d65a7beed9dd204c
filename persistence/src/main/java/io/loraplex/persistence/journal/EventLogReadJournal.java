package io.loraplex.persistence.journal;

import com.typesafe.config.Config;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.persistence.query.EventEnvelope;
import org.apache.pekko.persistence.query.ReadJournalProvider;
import org.apache.pekko.persistence.query.Sequence;
import org.apache.pekko.persistence.query.javadsl.CurrentEventsByPersistenceIdQuery;
import org.apache.pekko.persistence.query.javadsl.CurrentPersistenceIdsQuery;
import org.apache.pekko.persistence.query.javadsl.ReadJournal;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.stream.javadsl.Source;

/**
 * Pekko Persistence Query over the embedded journal: the entities it holds and their events as
 * they are now (what the start-up recovery and the blob sweep read). No live queries.
 */
public final class EventLogReadJournal implements ReadJournal, CurrentPersistenceIdsQuery, CurrentEventsByPersistenceIdQuery {

    private final EventLog log;
    private final Serialization serialization;

    EventLogReadJournal(EventLog log, Serialization serialization) {
        this.log = log;
        this.serialization = serialization;
    }

    @Override
    public Source<String, NotUsed> currentPersistenceIds() {
        return Source.lazySource(() -> Source.from(log.persistenceIds())).mapMaterializedValue(m -> NotUsed.getInstance());
    }

    @Override
    public Source<EventEnvelope, NotUsed> currentEventsByPersistenceId(String persistenceId, long fromSequenceNr, long toSequenceNr) {
        return Source.lazySource(() -> {
            List<EventEnvelope> envelopes = new ArrayList<>();
            log.replay(persistenceId, fromSequenceNr, toSequenceNr, Long.MAX_VALUE, e -> envelopes.add(EventEnvelope.apply(
                    Sequence.apply(e.sequenceNr()), e.persistenceId(), e.sequenceNr(),
                    serialization.deserialize(e.payload(), e.serializerId(), e.serializerManifest()).get(), e.timestamp())));
            return Source.from(envelopes);
        }).mapMaterializedValue(m -> NotUsed.getInstance());
    }

    /**
     * The plugin Pekko instantiates ({@code loraplex-read-journal.class}); it holds the log open
     * until the actor system terminates.
     */
    public static final class Provider implements ReadJournalProvider {
        private final EventLogReadJournal journal;

        public Provider(ExtendedActorSystem system, Config config) {
            EventLog log = EventLog.acquire(config);
            system.registerOnTermination(log::close);
            journal = new EventLogReadJournal(log, SerializationExtension.get(system));
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
