package io.loraplex.simulations.load;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

class FineTuningSimulationTest {

    @Test
    void theTrainingFileIsOneChatExamplePerLineEndingWithTheAssistant() throws Exception {
        String[] lines = FineTuningSimulation.trainingFile().split("\n");
        assertEquals(ChatBodies.QUESTIONS.size(), lines.length);
        for (String line : lines) {
            JsonNode messages = LoraplexApi.JSON.readTree(line).get("messages");
            assertEquals(2, messages.size(), line);
            assertEquals("user", messages.get(0).get("role").asText());
            assertEquals("assistant", messages.get(1).get("role").asText());
        }
    }
}
