package io.loraplex.simulations.fleet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The simulator's placement index (holders per adapter, cached rendezvous orders, a load-ordered
 * set) chooses exactly what the rule chooses over plain lists, through a busy run with a burst, a
 * death, a drain and a rebalance.
 */
class FleetIndexTest {

    @Test
    void theIndexChoosesWhatAScanOfTheNodesChoosesThroughDeathsDrainsAndRebalances() {
        FleetConfig c = FleetConfig.create(ConfigFactory.parseString("fleet { nodes = 12, duration = 90s, tenants = 50,"
                + " adapters-per-tenant = 4, node { capacity = 4, max-resident = 3 }, traffic.requests-per-node-per-second = 3,"
                + " traffic.bursts = [{ at = 20s, duration = 20s, factor = 3 }],"
                + " failures = [{ node = 3, at = 30s }], drains = [{ node = 5, at = 45s }], rebalances = [60s] }"));
        List<TraceRequest> trace = new ArrayList<>();
        new Traffic(c).forEachRemaining(trace::add);
        FleetSimulator.Result checked = FleetSimulator.runCrossChecked(c, trace);
        FleetSimulator.Result plain = FleetSimulator.run(c, trace);
        assertTrue(plain.requests().equals(checked.requests()), "a checked run and a plain one give the same results");
        assertTrue(checked.summary().requests() > 2000, "requests: " + checked.summary().requests());
        assertTrue(checked.summary().hotHitRate() < 0.95, "some requests found their adapter elsewhere than hot");
        assertEquals(1, checked.summary().drainSeconds().size());
    }
}
