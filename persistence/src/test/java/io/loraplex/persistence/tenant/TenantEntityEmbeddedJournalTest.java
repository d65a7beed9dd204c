package io.loraplex.persistence.tenant;

import com.typesafe.config.Config;
import io.loraplex.persistence.Journals;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The Tenant entity suite on the embedded journal, in a temporary data directory. */
class TenantEntityEmbeddedJournalTest extends TenantEntitySuite {

    @TempDir
    static Path dataDir;

    @Override
    Config journal() {
        return Journals.embedded(dataDir);
    }
}
