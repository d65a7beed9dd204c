package io.loraplex.persistence.adapter;

import com.typesafe.config.Config;
import io.loraplex.persistence.Journals;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The Adapter entity suite on the embedded journal (and its read journal), in a temporary data directory. */
class AdapterEntityEmbeddedJournalTest extends AdapterEntitySuite {

    @TempDir
    static Path dataDir;

    @Override
    Config journal() {
        return Journals.embedded(dataDir);
    }
}
