package io.loraplex.simulations.load;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class OperatorSimulationTest {

    @Test
    void aDrainHasEndedOnlyOnceTheRouterSaysLeftDrainedOrFailed() {
        for (String onTheWay : new String[] {"draining", "prefetching its hot adapters elsewhere", "waiting for 3 requests in flight",
                "leaving"}) {
            assertFalse(OperatorSimulation.drainEnded(onTheWay), onTheWay);
        }
        for (String ended : new String[] {"left", "left (the node no longer answers)", "drained (stays: busy)",
                "drained, not left: 1 requests still in flight after 60 s", "drain failed: timeout"}) {
            assertTrue(OperatorSimulation.drainEnded(ended), ended);
        }
    }

    @Test
    void aNodeIsDrainedAwayWhenItIsGoneOrHasLeft() {
        assertTrue(OperatorSimulation.drainedAway("{\"data\": [{\"id\": \"gpu-1\"}]}", "gpu-2"));
        assertTrue(OperatorSimulation.drainedAway("{\"data\": [{\"id\": \"gpu-2\", \"drain_status\": \"left\"}]}", "gpu-2"));
        assertFalse(OperatorSimulation.drainedAway("{\"data\": [{\"id\": \"gpu-2\", \"drain_status\": \"drain failed: timeout\"}]}",
                "gpu-2"));
        assertFalse(OperatorSimulation.drainedAway("{\"data\": [{\"id\": \"gpu-2\", \"drain_status\": "
                + "\"drained, not left: 2 requests still in flight after 60 s\"}]}", "gpu-2"));
        assertFalse(OperatorSimulation.drainedAway("{\"data\": [{\"id\": \"gpu-2\"}]}", "gpu-2"));
    }
}
