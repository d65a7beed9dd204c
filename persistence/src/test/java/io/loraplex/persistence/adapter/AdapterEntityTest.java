package io.loraplex.persistence.adapter;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.loraplex.persistence.tenant.TestJournals;
import org.apache.pekko.persistence.testkit.query.javadsl.PersistenceTestKitReadJournal;

/** The Adapter entity suite on the in-memory journal of the persistence testkit (and its read journal). */
class AdapterEntityTest extends AdapterEntitySuite {

    @Override
    Config journal() {
        return ConfigFactory.empty()
                .withValue("loraplex.adapter.read-journal", ConfigValueFactory.fromAnyRef(PersistenceTestKitReadJournal.Identifier()))
                .withFallback(TestJournals.inMemory());
    }
}
