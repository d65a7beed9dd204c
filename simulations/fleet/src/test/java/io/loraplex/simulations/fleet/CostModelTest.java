package io.loraplex.simulations.fleet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

/** The H100 model's arithmetic, worked out by hand from its published figures. */
class CostModelTest {

    private static final CostModel H100 = CostModel.h100();

    @Test
    void aOneTokenDecodeStepReadsTheWeightsOnce() {
        // 3 ms + 16.06e9 B / 3.35e12 B/s = 3 ms + 4.7940 ms
        assertEquals(0.0077940, H100.stepSeconds(1, 0, 0), 1e-7);
    }

    @Test
    void aLongPrefillIsComputeBound() {
        // 2 * 8.03e9 * 2048 FLOP / 989e12 FLOP/s = 32.89e12 / 989e12 s = 33.2567 ms > 4.79 ms of memory; plus 3 ms
        assertEquals(0.0362567, H100.stepSeconds(2048, 0, 0), 1e-7);
    }

    @Test
    void adaptersAndKvInTheBatchAddToTheBytesRead() {
        // rank 16: 16 * 1,703,936 B = 27,262,976 B; 10,000 tokens of KV: 1,310,720,000 B
        long adapter = H100.adapterBytes(16);
        assertEquals(27_262_976L, adapter);
        double expected = 0.003 + (16_060_000_000.0 + 27_262_976 + 1_310_720_000.0) / 3.35e12;
        assertEquals(expected, H100.stepSeconds(32, adapter, 10_000), 1e-12);
    }

    @Test
    void aColdLoadCrossesTheNetworkAndTheHostLinkAWarmOneOnlyTheHostLink() {
        long bytes = 27_262_976L;
        // 5 ms + 27,262,976 / 12.5e9 (2.1810 ms) + 27,262,976 / 64e9 (0.4260 ms)
        assertEquals(0.0076070, H100.coldLoadSeconds(bytes), 1e-7);
        assertEquals(0.0004260, H100.warmLoadSeconds(bytes), 1e-7);
    }

    @Test
    void theConfiguredH100EqualsThePublishedOne() {
        FleetConfig c = FleetConfig.defaults();
        assertEquals(H100, c.costModel());
    }

    @Test
    void aZeroBandwidthIsRefusedNamingTheModelAndFields() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new CostModel("x", 1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 0));
        assertEquals("cost model 'x': memory-bandwidth, compute, host-to-device and network must be > 0, were 0.0, 1.0, 1.0, 1.0",
                e.getMessage());
    }

    @Test
    void anUnknownCostModelIsRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FleetConfig.create(ConfigFactory.parseString("fleet.cost-model = tpu")));
        assertEquals("fleet.cost-model: no cost model 'tpu' under fleet.cost-models", e.getMessage());
    }

    @Test
    void theCpuModelIsFittedToTheMeasuredFiguresOfCpuCostModelConf() {
        CostModel cpu = FleetConfig.create(ConfigFactory.parseString("fleet.cost-model = cpu")).costModel();
        assertEquals(CostModel.cpu(), cpu);
        // a prefill of 100 tokens: 0.30 ms of overhead + 100 x 0.33 ms (the prefill slope is the compute rate)
        assertEquals(0.00030 + 0.033, cpu.stepSeconds(100, 0, 0), 1e-9);
        // a warm load of the replay's adapter (rank 8, 57,344 bytes) is the measured 0.14 ms
        assertEquals(57_344, cpu.adapterBytes(8));
        assertEquals(0.00014, cpu.warmLoadSeconds(57_344), 1e-9);
        // a cold one: the fetch (18.6 ms) and the engine's cold load (2.40 ms, which includes the warm part)
        assertEquals(0.0186 + 0.0024, cpu.coldLoadSeconds(57_344), 1e-9);
        // the router's route overhead, p50
        assertEquals(0.01167, cpu.routeSeconds(), 1e-9);
    }

    @Test
    void aMeasuredModelFromAResourceWithoutTheFiguresIsRefusedNamingTheResource() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FleetConfig.create(ConfigFactory.parseString(
                "fleet.cost-model = cpu\nfleet.cost-models.cpu.measured = \"fleet.conf\"")));
        assertEquals("fleet.cost-models.cpu.measured: the resource 'fleet.conf' has no loraplex.simulations.cpu-cost-model section",
                e.getMessage());
    }
}
