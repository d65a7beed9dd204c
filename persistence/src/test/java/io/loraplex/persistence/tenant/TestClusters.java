package io.loraplex.persistence.tenant;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;

/**
 * ActorSystems for the tests: cluster provider on loopback, every message serialized, one role, the
 * in-memory journal, a snapshot every 5 events, a usage checkpoint every 5 (so every usage test runs with them).
 */
public final class TestClusters {

    private TestClusters() {
    }

    public static Config config(String role) {
        return ConfigFactory.parseString("""
                pekko.loglevel = WARNING
                pekko.actor.provider = cluster
                pekko.actor.serialize-messages = on
                pekko.remote.artery.canonical.hostname = "127.0.0.1"
                pekko.remote.artery.canonical.port = 0
                pekko.cluster.roles = ["%s"]
                pekko.cluster.jmx.multi-mbeans-in-same-jvm = on
                pekko.actor.testkit.typed.single-expect-default = 10s
                loraplex.tenant.lease-sweep-interval = 50ms
                loraplex.tenant.snapshot-every = 5
                loraplex.tenant.usage-flush-interval = 100ms
                loraplex.tenant.usage-checkpoint.every = 5
                """.formatted(role)).withFallback(TestJournals.inMemory()).withFallback(ConfigFactory.load());
    }

    /** Joins {@code seed} (itself, for the first node) and waits until this node is Up. */
    public static void join(ActorTestKit kit, Address seed) {
        Cluster cluster = Cluster.get(kit.system());
        cluster.manager().tell(Join.create(seed));
        kit.createTestProbe().awaitAssert(Duration.ofSeconds(20), () -> {
            assertEquals(MemberStatus.up(), cluster.selfMember().status());
            return null;
        });
    }

    public static Address address(ActorTestKit kit) {
        return Cluster.get(kit.system()).selfMember().address();
    }
}
