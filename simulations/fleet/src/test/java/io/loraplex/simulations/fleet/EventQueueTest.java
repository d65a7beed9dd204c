package io.loraplex.simulations.fleet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class EventQueueTest {

    @Test
    void eventsRunInTimeOrderAndSameTimeEventsInTheOrderTheyWereScheduled() {
        EventQueue q = new EventQueue();
        List<String> ran = new ArrayList<>();
        q.at(2.0, t -> ran.add("b@" + t));
        q.at(1.0, t -> ran.add("a@" + t));
        q.at(2.0, t -> ran.add("c@" + t));
        q.at(1.0, t -> q.at(t, u -> ran.add("d@" + u))); // scheduled at now, runs after what was queued for now before
        q.runUntil(10);
        assertEquals(List.of("a@1.0", "d@1.0", "b@2.0", "c@2.0"), ran);
        assertEquals(10.0, q.now());
        assertEquals(5, q.ran());
    }

    @Test
    void eventsAfterTheEndStayQueued() {
        EventQueue q = new EventQueue();
        List<Double> ran = new ArrayList<>();
        q.at(5, ran::add);
        q.at(15, ran::add);
        q.runUntil(10);
        assertEquals(List.of(5.0), ran);
        assertTrue(!q.isEmpty());
    }

    @Test
    void anEventInThePastIsRefusedWithBothTimes() {
        EventQueue q = new EventQueue();
        q.at(3, t -> { });
        q.runUntil(3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> q.at(2, t -> { }));
        assertEquals("an event at 2.0 s is before now (3.0 s)", e.getMessage());
    }
}
