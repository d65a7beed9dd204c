package io.loraplex.persistence.tenant;

import com.typesafe.config.Config;
import org.apache.pekko.persistence.testkit.PersistenceTestKitPlugin;
import org.apache.pekko.persistence.testkit.PersistenceTestKitSnapshotPlugin;

/** The in-memory journal and snapshot store of {@code pekko-persistence-testkit}, for tests. */
public final class TestJournals {

    private TestJournals() {
    }

    public static Config inMemory() {
        return PersistenceTestKitPlugin.getInstance().config()
                .withFallback(PersistenceTestKitSnapshotPlugin.getInstance().config());
    }
}
