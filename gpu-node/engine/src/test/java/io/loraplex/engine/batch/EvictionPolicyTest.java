package io.loraplex.engine.batch;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.List;
import org.junit.jupiter.api.Test;

class EvictionPolicyTest {

    private record C(String name, boolean idle, long lastUse) implements EvictionPolicy.Candidate {
    }

    @Test
    void theLeastRecentlyUsedIdleAdapterGoes() {
        C old = new C("old", true, 1);
        C newer = new C("newer", true, 5);
        C busyOlder = new C("in use or pinned", false, 0);
        assertSame(old, EvictionPolicy.victim(List.of(newer, busyOlder, old), null));
    }

    @Test
    void theAdapterRoomIsMadeForIsNeverItsOwnVictim() {
        C keep = new C("keep", true, 1);
        C other = new C("other", true, 9);
        assertSame(other, EvictionPolicy.victim(List.of(keep, other), keep));
    }

    @Test
    void nothingGoesWhenEveryAdapterIsInUseOrPinned() {
        assertNull(EvictionPolicy.victim(List.of(new C("a", false, 1), new C("b", false, 2)), null));
    }
}
