package io.loraplex.persistence.tenant;

import io.loraplex.cluster.Roles;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.Command;
import java.time.Clock;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.ClusterShardingSettings;
import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;

/**
 * Registers the {@code Tenant} entity with Cluster Sharding. Its shards run on the
 * {@link Roles#ROUTER} role only; on other nodes (GPU nodes) this starts a proxy that forwards to
 * the routers. Call it on every node that talks to tenants, whatever its role; after a start of the
 * whole cluster, {@link TenantRecovery#wakeAll} brings the tenants (and so the key index) back.
 */
public final class TenantSharding {

    private TenantSharding() {
    }

    /** With {@code loraplex.tenant} from the system's configuration and the system clock. */
    public static ActorRef<ShardingEnvelope<Command>> init(ActorSystem<?> system) {
        return init(system, TenantSettings.create(system.settings().config()));
    }

    public static ActorRef<ShardingEnvelope<Command>> init(ActorSystem<?> system, TenantSettings settings) {
        return init(system, settings, Clock.systemUTC());
    }

    /**
     * With the clock that the entities' token buckets, leases and catalog times read (tests pass their own).
     *
     * @throws IllegalStateException when the journal has no read journal to report usage from
     */
    public static ActorRef<ShardingEnvelope<Command>> init(ActorSystem<?> system, TenantSettings settings, Clock clock) {
        // usage reports read the journal: a journal without a read journal fails here, at start, not at the first report
        settings.requireReadJournal(system.settings().config());
        return ClusterSharding.get(system).init(
                Entity.of(TenantProtocol.TYPE_KEY, entity -> TenantEntity.create(new TenantId(entity.getEntityId()), settings, clock))
                        // no passivation: requests in flight and token buckets live in the entity's memory
                        .withSettings(ClusterShardingSettings.create(system).withNoPassivationStrategy())
                        // on hand-off the entity journals its unflushed usage before it stops
                        .withStopMessage(new TenantProtocol.Passivate())
                        .withRole(Roles.ROUTER));
    }
}
