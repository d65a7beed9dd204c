package io.loraplex.simulations.fleet;

import java.util.PriorityQueue;

/**
 * The simulator's clock: events run in time order, and events at the same time in the order they
 * were scheduled (so a run is deterministic). Time is in seconds since the start of the run.
 */
final class EventQueue {

    /** Something that happens at a time. */
    interface Event {
        void run(double now);
    }

    private record Scheduled(double at, long seq, Event event) {
    }

    private final PriorityQueue<Scheduled> queue = new PriorityQueue<>((a, b) -> a.at != b.at
            ? Double.compare(a.at, b.at) : Long.compare(a.seq, b.seq));
    private long seq;
    private double now;
    private long ran;

    /** Schedules {@code event} at {@code at}, never before now (an event cannot change the past). */
    void at(double at, Event event) {
        if (at < now) {
            throw new IllegalArgumentException("an event at " + at + " s is before now (" + now + " s)");
        }
        queue.add(new Scheduled(at, seq++, event));
    }

    double now() {
        return now;
    }

    long ran() {
        return ran;
    }

    /** Runs events in order until none is left or the next is after {@code until}; the clock ends at {@code until}. */
    void runUntil(double until) {
        while (!queue.isEmpty() && queue.peek().at <= until) {
            Scheduled s = queue.poll();
            now = s.at;
            ran++;
            s.event.run(now);
        }
        now = Math.max(now, until);
    }

    boolean isEmpty() {
        return queue.isEmpty();
    }
}
