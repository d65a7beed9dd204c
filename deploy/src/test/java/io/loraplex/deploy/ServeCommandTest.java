package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.loraplex.engine.cli.Flags;
import io.loraplex.engine.model.WeightFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** {@code loraplex serve}'s cluster flags: what configuration each becomes, and the usage errors that name the flag. */
class ServeCommandTest {

    private static final String PORT = "pekko.remote.artery.canonical.port";

    static Map<String, Object> overrides(String... args) {
        return ServeCommand.clusterOverrides(ServeCommand.flags().parse(args));
    }

    static String refused(String... args) {
        return assertThrows(Flags.UsageException.class, () -> overrides(args)).getMessage();
    }

    @Test
    void aRouterAloneListensOnTheConventionalClusterPort() {
        assertEquals(25520, overrides("--roles", "router").get(PORT));
        assertEquals(25600, overrides("--roles", "router", "--cluster-port", "25600").get(PORT));
        // a GPU node, or the embedded default, takes any free port unless told
        assertFalse(overrides("--roles", "gpu-node").containsKey(PORT));
        assertFalse(overrides().containsKey(PORT));
    }

    @Test
    void seedsRolesAndFastFailureBecomeConfiguration() {
        Map<String, Object> o = overrides("--roles", "gpu-node", "--node-id", "gpu-7", "--seed-nodes", "127.0.0.1:25520,127.0.0.1:25521",
                "--fast-failure", "--management-port", "8558");
        assertEquals(List.of("gpu-node"), o.get("pekko.cluster.roles"));
        assertEquals("gpu-7", o.get("loraplex.node.id"));
        assertEquals(List.of("pekko://loraplex@127.0.0.1:25520", "pekko://loraplex@127.0.0.1:25521"), o.get("pekko.cluster.seed-nodes"));
        assertEquals(true, o.get("loraplex.cluster.fast-failure"));
        assertEquals(8558, o.get("loraplex.management.port"));
    }

    @Test
    void badFlagsAreRefusedNamingTheFlag() {
        assertTrue(refused("--roles", "router,cook").contains("--roles"));
        assertTrue(refused("--node-id", "gpu/1").contains("--node-id"));
        assertTrue(refused("--cluster-port", "70000").contains("--cluster-port"));
        assertTrue(refused("--seed-nodes", "127.0.0.1").contains("--seed-nodes"));
        assertTrue(refused("--journal", "postgres").contains("--journal"));
        assertTrue(refused("--bootstrap", "consul").contains("--bootstrap"));
        assertTrue(refused("--cassandra", "127.0.0.1:x").contains("--cassandra"));
    }

    @Test
    void weightsAreParsedAndAnUnknownOneIsRefusedListingTheAllowed() {
        assertEquals(WeightFormat.INT8, ServeCommand.weights(ServeCommand.flags().parse(new String[] {"--weights", "int8"})));
        Flags.UsageException e = assertThrows(Flags.UsageException.class,
                () -> ServeCommand.weights(ServeCommand.flags().parse(new String[] {"--weights", "q8_0"})));
        assertEquals("loraplex serve: --weights: unknown weights 'q8_0' (use f32, bf16, int8, int4)", e.getMessage());
    }

    @Test
    void theWeightsSettingIsTheCheckpointsOwnWhenEmptyAndRefusedNamingTheKeyWhenUnknown() {
        assertEquals(null, EmbeddedServer.weights(ConfigFactory.parseString("loraplex.weights = \"\"")));
        assertEquals(WeightFormat.INT4, EmbeddedServer.weights(ConfigFactory.parseString("loraplex.weights = int4")));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EmbeddedServer.weights(ConfigFactory.parseString("loraplex.weights = fp8")));
        assertEquals("loraplex.weights: unknown weights 'fp8' (use f32, bf16, int8, int4)", e.getMessage());
    }

    @Test
    void theH2JournalIsRefusedWithWhatToUseInstead() {
        String why = refused("--journal", "h2");
        assertTrue(why.contains("--journal embedded") && why.contains("lost acknowledged writes"), why);
    }
}
