package io.loraplex.router.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Set;
import org.junit.jupiter.api.Test;

class AdapterLabelsTest {

    @Test
    void onlyTheBusiestAdaptersKeepTheirLabel() {
        AdapterLabels labels = new AdapterLabels(2);
        assertEquals("a", labels.label("t1", "a"));
        assertEquals("b", labels.label("t1", "b"));
        assertEquals(AdapterLabels.OTHER, labels.label("t2", "c"), "the set is full");
        for (int i = 0; i < 10; i++) {
            labels.label("t2", "c");
        }
        labels.label("t1", "a");
        labels.recompute();
        assertEquals(Set.of("t2/c", "t1/a"), labels.labelled());
        assertEquals("c", labels.label("t2", "c"));
        assertEquals(AdapterLabels.OTHER, labels.label("t1", "b"));
    }

    @Test
    void countsDecaySoBusyMeansLately() {
        AdapterLabels labels = new AdapterLabels(1);
        for (int i = 0; i < 8; i++) {
            labels.label("t", "old");
        }
        labels.recompute(); // old: 4 after halving
        for (int i = 0; i < 3; i++) {
            labels.recompute(); // old: 0
        }
        for (int i = 0; i < 2; i++) {
            labels.label("t", "new");
        }
        labels.recompute();
        assertEquals(Set.of("t/new"), labels.labelled());
    }

    @Test
    void zeroSeriesMeansEverythingIsOther() {
        AdapterLabels labels = new AdapterLabels(0);
        assertEquals(AdapterLabels.OTHER, labels.label("t", "a"));
        labels.recompute();
        assertEquals(AdapterLabels.OTHER, labels.label("t", "a"));
    }
}
