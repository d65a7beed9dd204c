package io.loraplex.persistence.finetune;

import io.loraplex.cluster.Roles;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.finetune.FineTuneProtocol;
import java.time.Clock;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.ClusterShardingSettings;
import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;

/**
 * Registers the {@code FineTune} entity with Cluster Sharding, on the {@link Roles#ROUTER} role (a
 * proxy elsewhere). Entities are remembered (in the journal): a tenant's entity with jobs in flight
 * starts again by itself after its node restarts or its shard moves, and picks its jobs up; it is
 * never passivated, since it watches its jobs' GPU nodes.
 */
public final class FineTuneSharding {

    private FineTuneSharding() {
    }

    public static ActorRef<ShardingEnvelope<FineTuneProtocol.Command>> init(ActorSystem<?> system) {
        return init(system, FineTuneSettings.create(system.settings().config()), Clock.systemUTC());
    }

    public static ActorRef<ShardingEnvelope<FineTuneProtocol.Command>> init(ActorSystem<?> system, FineTuneSettings settings,
            Clock clock) {
        return ClusterSharding.get(system).init(
                Entity.of(FineTuneProtocol.TYPE_KEY, entity -> FineTuneEntity.create(new TenantId(entity.getEntityId()), settings, clock))
                        .withSettings(ClusterShardingSettings.create(system).withNoPassivationStrategy()
                                .withRememberEntities(true)
                                .withRememberEntitiesStoreMode(ClusterShardingSettings.RememberEntitiesStoreModeEventSourced$.MODULE$))
                        .withRole(Roles.ROUTER));
    }
}
