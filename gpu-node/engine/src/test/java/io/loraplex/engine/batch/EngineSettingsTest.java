package io.loraplex.engine.batch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The engine's settings from a map of strings: the defaults in one place, every key known. */
class EngineSettingsTest {

    @Test
    void anEmptyMapGivesTheDefaults() {
        assertEquals(EngineSettings.defaults(), EngineSettings.fromMap(Map.of()));
    }

    @Test
    void everyKnownKeyIsRead() {
        Map<String, String> values = new LinkedHashMap<>();
        for (String key : EngineSettings.KEYS) {
            values.put(key, "7");
        }
        EngineSettings s = EngineSettings.fromMap(values);
        assertEquals(new EngineSettings(7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, new io.loraplex.engine.lora.AdapterBounds(7, 7, 7)), s);
    }

    @Test
    void anUnknownKeyIsRefusedByNameListingTheKnownOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EngineSettings.fromMap(Map.of("maxRunning", "8", "maxRuning", "8")));
        assertEquals("unknown engine setting maxRuning; the engine's settings are maxRunning, maxTokensPerStep, prefillChunk, "
                + "blockSize, memoryBudgetBytes, maxResidentAdapters, maxLoraRank, warmBudgetBytes, maxRunningPerTenant, "
                + "maxKvBlocksPerTenant, adapterLoadThreads, maxLoraAlpha, maxAdapterWeight, maxAdapterGain", e.getMessage());
    }

    @Test
    void aValueThatIsNoNumberIsRefusedNamingItsKey() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EngineSettings.fromMap(Map.of("blockSize", "sixteen")));
        assertEquals("engine setting blockSize must be an integer, got 'sixteen'", e.getMessage());
    }
}
