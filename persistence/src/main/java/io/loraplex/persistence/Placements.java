package io.loraplex.persistence;

import java.util.Comparator;
import java.util.Optional;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * Which router's placement an entity asks for a GPU node ({@code PlacementProtocol}): every router
 * registers one, and all apply the same policy, so the one in the entity's own JVM is preferred (no
 * network hop, and it sees the same node stats as the chat placement beside it).
 */
public final class Placements {

    private Placements() {
    }

    /** The instance at {@code self}'s address, else any (the same one each time), else none. */
    public static <T> Optional<ActorRef<T>> nearest(Set<ActorRef<T>> instances, ActorRef<?> self) {
        var here = self.path().address();
        return instances.stream().filter(ref -> ref.path().address().equals(here)).findFirst()
                .or(() -> instances.stream().min(Comparator.comparing(ref -> ref.path().toString())));
    }
}
