package io.loraplex.persistence.tenant;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.Config;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.Ack;
import io.loraplex.cluster.tenant.TenantProtocol.CreateApiKey;
import io.loraplex.cluster.tenant.TenantProtocol.KeyCreated;
import io.loraplex.cluster.tenant.TenantProtocol.Limits;
import io.loraplex.cluster.tenant.TenantProtocol.Scope;
import io.loraplex.cluster.tenant.TenantProtocol.Setup;
import io.loraplex.persistence.Journals;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * After a restart of the whole cluster the key index is empty; waking every journaled tenant
 * (embedded journal) puts each tenant's keys back.
 */
class TenantRecoveryTest {

    @TempDir
    Path dataDir;

    @Test
    void wakingEveryTenantRefillsTheKeyIndexAfterAFullRestart() {
        Config config = Journals.embedded(dataDir).withFallback(TestClusters.config("router"));
        Map<String, String> keys = new HashMap<>();
        ActorTestKit first = start(config);
        try {
            for (String tenant : new String[] {"alpha", "beta", "gamma"}) {
                var ref = ClusterSharding.get(first.system()).entityRefFor(TenantProtocol.TYPE_KEY, tenant);
                TestProbe<Ack> acks = first.createTestProbe(Ack.class);
                ref.tell(new Setup(tenant, "pro", 1.0, Limits.generous(), acks.ref()));
                assertEquals(Ack.done(), acks.receiveMessage());
                TestProbe<KeyCreated> created = first.createTestProbe(KeyCreated.class);
                ref.tell(new CreateApiKey(Set.of(Scope.CHAT), "", created.ref()));
                keys.put(TenantProtocol.hashKey(created.receiveMessage().apiKey()), tenant);
            }
            assertEquals(keys, keyIndex(first));
        } finally {
            first.shutdownTestKit();
        }

        ActorTestKit second = start(config);
        try {
            assertEquals(Map.of(), keyIndex(second));
            int woken = TenantRecovery.wakeAll(second.system(), 4, Duration.ofSeconds(10)).toCompletableFuture().join();
            assertEquals(3, woken);
            second.createTestProbe().awaitAssert(Duration.ofSeconds(5), () -> {
                assertEquals(keys, keyIndex(second));
                return null;
            });
        } finally {
            second.shutdownTestKit();
        }
    }

    private static ActorTestKit start(Config config) {
        ActorTestKit kit = ActorTestKit.create("tenant-recovery", config);
        Journals.prepare(kit.system(), Duration.ofSeconds(30));
        TestClusters.join(kit, TestClusters.address(kit));
        TenantSharding.init(kit.system(), TenantSettings.create(kit.system().settings().config()),
                new MutableClock(Instant.parse("2026-01-01T00:00:00Z")));
        return kit;
    }

    private static Map<String, String> keyIndex(ActorTestKit kit) {
        TestProbe<Replicator.GetResponse<LWWMap<String, String>>> probe = kit.createTestProbe();
        DistributedData.get(kit.system()).replicator()
                .tell(new Replicator.Get<>(TenantProtocol.KEY_INDEX, Replicator.readLocal(), probe.ref()));
        if (probe.receiveMessage() instanceof Replicator.GetSuccess<LWWMap<String, String>> found) {
            return Map.copyOf(found.dataValue().getEntries());
        }
        return Map.of();
    }
}
