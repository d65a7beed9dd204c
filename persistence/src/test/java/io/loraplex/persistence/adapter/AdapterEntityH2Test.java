package io.loraplex.persistence.adapter;

import com.typesafe.config.Config;
import io.loraplex.persistence.Journals;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;

/** The Adapter entity suite on the embedded H2 journal (and jdbc-read-journal), in a temporary data directory. */
class AdapterEntityH2Test extends AdapterEntitySuite {

    @TempDir
    static Path dataDir;

    @Override
    Config journal() {
        return Journals.h2(dataDir);
    }
}
