package io.loraplex.persistence.tenant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.Roles;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.Ack;
import io.loraplex.cluster.tenant.TenantProtocol.AddApiKey;
import io.loraplex.cluster.tenant.TenantProtocol.Admission;
import io.loraplex.cluster.tenant.TenantProtocol.Admit;
import io.loraplex.cluster.tenant.TenantProtocol.Admitted;
import io.loraplex.cluster.tenant.TenantProtocol.GetInfo;
import io.loraplex.cluster.tenant.TenantProtocol.Info;
import io.loraplex.cluster.tenant.TenantProtocol.Limits;
import io.loraplex.cluster.tenant.TenantProtocol.Scope;
import io.loraplex.cluster.tenant.TenantProtocol.Setup;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.sharding.ShardRegion;
import org.apache.pekko.cluster.sharding.typed.GetClusterShardingStats;
import org.apache.pekko.cluster.sharding.typed.GetShardRegionState;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Two ActorSystems of one cluster on loopback: a router and a GPU node. Tenants asked through the
 * GPU node are reached on the router; the GPU node hosts no shard of them.
 */
class TenantRolesTest {

    static ActorTestKit router;
    static ActorTestKit gpu;

    @BeforeAll
    static void start() {
        router = ActorTestKit.create("tenant-roles", TestClusters.config(Roles.ROUTER));
        gpu = ActorTestKit.create("tenant-roles", TestClusters.config(Roles.GPU_NODE));
        TestClusters.join(router, TestClusters.address(router));
        TestClusters.join(gpu, TestClusters.address(router));
        router.createTestProbe().awaitAssert(Duration.ofSeconds(20), () -> {
            var members = new ArrayList<org.apache.pekko.cluster.Member>();
            Cluster.get(router.system()).state().getMembers().forEach(members::add);
            assertEquals(2, members.size());
            assertTrue(members.stream().allMatch(m -> m.status() == MemberStatus.up()));
            return null;
        });
        MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
        TenantSharding.init(router.system(), TenantSettings.create(router.system().settings().config()), clock);
        TenantSharding.init(gpu.system(), TenantSettings.create(gpu.system().settings().config()), clock);
    }

    @AfterAll
    static void stop() {
        gpu.shutdownTestKit();
        router.shutdownTestKit();
    }

    @Test
    void tenantsAskedThroughAGpuNodeLiveOnTheRouter() {
        List<String> tenants = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            String id = "roles-" + i + "-" + UUID.randomUUID().toString().substring(0, 8);
            tenants.add(id);
            // through the GPU node's proxy, across the wire to the router
            TestProbe<Ack> acks = gpu.createTestProbe(Ack.class);
            var viaGpu = ClusterSharding.get(gpu.system()).entityRefFor(TenantProtocol.TYPE_KEY, id);
            viaGpu.tell(new Setup("Tenant " + i, "pro", 1.0, Limits.generous(), acks.ref()));
            assertEquals(Ack.done(), acks.receiveMessage(Duration.ofSeconds(15)));
            String hash = TenantProtocol.hashKey("sk-" + id);
            viaGpu.tell(new AddApiKey(hash, Set.of(Scope.CHAT), acks.ref()));
            assertEquals(Ack.done(), acks.receiveMessage());
            TestProbe<Admission> admissions = gpu.createTestProbe(Admission.class);
            viaGpu.tell(new Admit("r1", hash, Scope.CHAT, null, 10, admissions.ref()));
            assertInstanceOf(Admitted.class, admissions.receiveMessage());

            // the same entity, seen from the router
            TestProbe<Info> infos = router.createTestProbe(Info.class);
            ClusterSharding.get(router.system()).entityRefFor(TenantProtocol.TYPE_KEY, id).tell(new GetInfo(infos.ref()));
            Info info = infos.receiveMessage();
            assertEquals("Tenant " + i, info.displayName());
            assertEquals(1, info.inFlight());
        }

        // the coordinator knows one region, the router's, and every tenant is in it (asked on the
        // router: a proxy-only node answers this query with nothing)
        Address routerAddress = TestClusters.address(router);
        TestProbe<ShardRegion.ClusterShardingStats> stats = router.createTestProbe(ShardRegion.ClusterShardingStats.class);
        ClusterSharding.get(router.system()).shardState()
                .tell(new GetClusterShardingStats(TenantProtocol.TYPE_KEY, Duration.ofSeconds(5), stats.ref()));
        ShardRegion.ClusterShardingStats cluster = stats.receiveMessage();
        assertEquals(Set.of(routerAddress), cluster.getRegions().keySet());
        int entities = cluster.getRegions().get(routerAddress).getStats().values().stream().mapToInt(n -> (Integer) n).sum();
        assertTrue(entities >= tenants.size(), "entities on the router: " + entities);

        assertEquals(Set.of(), localEntities(gpu), "the GPU node hosts no tenant");
        assertTrue(localEntities(router).containsAll(tenants), "the router hosts every tenant");
    }

    /** Entity ids in this node's shard region (none where the node runs only a proxy). */
    static Set<String> localEntities(ActorTestKit kit) {
        TestProbe<ShardRegion.CurrentShardRegionState> probe = kit.createTestProbe(ShardRegion.CurrentShardRegionState.class);
        ClusterSharding.get(kit.system()).shardState().tell(new GetShardRegionState(TenantProtocol.TYPE_KEY, probe.ref()));
        Set<String> ids = new HashSet<>();
        probe.receiveMessage().getShards().forEach(shard -> ids.addAll(shard.getEntityIds()));
        return ids;
    }
}
