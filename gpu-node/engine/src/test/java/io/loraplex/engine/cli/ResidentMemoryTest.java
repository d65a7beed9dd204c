package io.loraplex.engine.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The resident memory read from {@code /proc/self/status}: the whole, its anonymous and its file-backed parts. */
class ResidentMemoryTest {

    private static final String STATUS = """
            Name:\tjava
            VmPeak:\t 9000000 kB
            VmRSS:\t 2914560 kB
            RssAnon:\t  482344 kB
            RssFile:\t 2432216 kB
            RssShmem:\t       0 kB
            Threads:\t24
            """;

    @Test
    void theThreeFieldsAreReadInKilobytesAndDescribedInGibibytes() {
        ResidentMemory m = ResidentMemory.parse(STATUS).orElseThrow();
        assertEquals(new ResidentMemory(2914560, 482344, 2432216), m);
        assertEquals("RSS 2.78 GiB (anon 0.46 GiB, file 2.32 GiB)", m.describe());
    }

    @Test
    void aStatusWithoutTheSplitIntoAnonAndFileGivesNothingRatherThanAWrongSplit() {
        assertEquals(Optional.empty(), ResidentMemory.parse("VmRSS:\t 100 kB\nRssAnon:\t 60 kB\n"));
    }
}
