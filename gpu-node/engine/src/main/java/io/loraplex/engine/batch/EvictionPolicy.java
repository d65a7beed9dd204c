package io.loraplex.engine.batch;

/**
 * Which resident adapter leaves the pool when room is needed: the least recently used one that no
 * request holds and nobody pinned. One class, so another policy can replace it; the adapter pool
 * and the fleet simulator both choose with it.
 */
public final class EvictionPolicy {

    /** A resident adapter as eviction sees it. */
    public interface Candidate {
        /** Resident, held by no request and not pinned: evicting it disturbs nothing running. */
        boolean idle();

        /** A clock value that grows with every use: smaller is longer unused. */
        long lastUse();
    }

    private EvictionPolicy() {
    }

    /** The adapter to evict among {@code entries}, never {@code keep} (the one room is made for); null when none may go. */
    public static <C extends Candidate> C victim(Iterable<C> entries, C keep) {
        C victim = null;
        for (C e : entries) {
            if (e != keep && e.idle() && (victim == null || e.lastUse() < victim.lastUse())) {
                victim = e;
            }
        }
        return victim;
    }
}
