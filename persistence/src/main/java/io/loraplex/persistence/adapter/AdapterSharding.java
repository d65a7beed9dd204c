package io.loraplex.persistence.adapter;

import io.loraplex.cluster.Roles;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.adapter.AdapterProtocol.Command;
import java.time.Clock;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;

/**
 * Registers the {@code Adapter} entity with Cluster Sharding. Its shards run on the
 * {@link Roles#ROUTER} role only; on other nodes this starts a proxy. Call it on every node that
 * talks to adapters, beside {@code TenantSharding.init}: the entities answer through the tenants.
 */
public final class AdapterSharding {

    private AdapterSharding() {
    }

    /** With {@code loraplex.adapter} from the system's configuration and the system clock. */
    public static ActorRef<ShardingEnvelope<Command>> init(ActorSystem<?> system) {
        return init(system, AdapterSettings.create(system.settings().config()), Clock.systemUTC());
    }

    /** With the clock that the versions' history reads (tests pass their own). */
    public static ActorRef<ShardingEnvelope<Command>> init(ActorSystem<?> system, AdapterSettings settings, Clock clock) {
        return ClusterSharding.get(system).init(
                Entity.of(AdapterProtocol.TYPE_KEY, entity -> AdapterEntity.create(entity.getEntityId(), settings, clock))
                        .withRole(Roles.ROUTER));
    }
}
