package io.loraplex.persistence.tenant;

import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.GetInfo;
import io.loraplex.persistence.Journals;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.persistence.query.PersistenceQuery;
import org.apache.pekko.persistence.query.javadsl.CurrentPersistenceIdsQuery;
import org.apache.pekko.persistence.typed.PersistenceId;

/**
 * Wakes every journaled tenant after a start. The key index routers read
 * ({@link TenantProtocol#KEY_INDEX}) lives in Distributed Data, in memory: after a restart of the
 * whole cluster it is empty, and a tenant's keys come back only when its entity recovers (which
 * repairs the index). Entities recover lazily, on their first message, and no message finds a
 * tenant whose keys are not in the index: so the node that starts the cluster lists the tenants'
 * persistence ids in the journal and sends each a {@code GetInfo} through sharding.
 */
public final class TenantRecovery {

    private TenantRecovery() {
    }

    /**
     * Sends a {@code GetInfo} to every tenant the journal knows, {@code parallelism} at a time, and
     * completes with how many answered (0 with a journal that cannot list persistence ids). Call
     * it after {@link TenantSharding#init} and once the journal is prepared.
     */
    public static CompletionStage<Integer> wakeAll(ActorSystem<?> system, int parallelism, Duration askTimeout) {
        String plugin = Journals.queryPluginId(system.settings().config());
        if (plugin == null) {
            return CompletableFuture.completedFuture(0);
        }
        CurrentPersistenceIdsQuery query = PersistenceQuery.get(Adapter.toClassic(system))
                .getReadJournalFor(CurrentPersistenceIdsQuery.class, plugin);
        ClusterSharding sharding = ClusterSharding.get(system);
        String prefix = TenantProtocol.TYPE_KEY.name() + PersistenceId.DefaultSeparator();
        return query.currentPersistenceIds()
                .filter(id -> id.startsWith(prefix))
                .mapAsyncUnordered(parallelism, id -> sharding.entityRefFor(TenantProtocol.TYPE_KEY, id.substring(prefix.length()))
                        .ask(GetInfo::new, askTimeout))
                .runFold(0, (count, info) -> count + 1, system);
    }
}
