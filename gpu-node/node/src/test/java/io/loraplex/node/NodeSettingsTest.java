package io.loraplex.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.engine.backend.TrainingShare;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The node's training share comes from loraplex.node.training-share and training-share-window. */
class NodeSettingsTest {

    private static Config with(String overrides) {
        return ConfigFactory.parseString(overrides).withFallback(ConfigFactory.defaultReference()).resolve();
    }

    @Test
    void theDefaultTrainingShareIsAQuarterOverASecond() {
        assertEquals(new TrainingShare(0.25, Duration.ofSeconds(1)), NodeSettings.create(with("")).trainingShare());
    }

    @Test
    void theTrainingShareIsReadFromTheNodesConfig() {
        NodeSettings settings = NodeSettings.create(with("loraplex.node { training-share = 0.5, training-share-window = 250 ms }"));
        assertEquals(new TrainingShare(0.5, Duration.ofMillis(250)), settings.trainingShare());
    }

    @Test
    void aTrainingShareAboveOneIsRefusedNamingTheSettingAndValue() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> NodeSettings.create(with("loraplex.node.training-share = 1.5")));
        assertEquals("training-share must be in (0, 1], got 1.5", e.getMessage());
    }
}
