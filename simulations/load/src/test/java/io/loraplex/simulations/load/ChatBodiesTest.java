package io.loraplex.simulations.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ChatBodiesTest {

    static JsonNode parse(String json) throws Exception {
        return LoraplexApi.JSON.readTree(json);
    }

    @Test
    void aStreamedSampledTurnCarriesTheHistoryTheQuestionAndTheSamplingParameters() throws Exception {
        List<ChatBodies.Message> history = ChatBodies.after(List.of(), "Where are you?", "By the park.");
        JsonNode body = parse(ChatBodies.chat("a0", history, "Is there wifi?", new ChatBodies.TurnShape(true, true, 42), 12));
        assertEquals("a0", body.get("model").asText());
        assertEquals(3, body.get("messages").size());
        assertEquals("assistant", body.at("/messages/1/role").asText());
        assertEquals("By the park.", body.at("/messages/1/content").asText());
        assertEquals("Is there wifi?", body.at("/messages/2/content").asText());
        assertTrue(body.get("stream").asBoolean());
        assertEquals(42, body.get("seed").asLong());
        assertEquals(0.9, body.get("top_p").asDouble());
        assertEquals(12, body.get("max_tokens").asInt());
    }

    @Test
    void aGreedyTurnIsNotStreamedAndHasTemperatureZeroAndNoSeed() throws Exception {
        JsonNode body = parse(ChatBodies.chat("a1", List.of(), "Hi?", new ChatBodies.TurnShape(false, false, 1), 4));
        assertFalse(body.has("stream"));
        assertFalse(body.has("seed"));
        assertEquals(0.0, body.get("temperature").asDouble());
    }

    @Test
    void aStreamedAnswerLeavesAPlaceholderInTheHistory() {
        assertEquals(List.of(new ChatBodies.Message("user", "Q"), new ChatBodies.Message("assistant", "...")),
                ChatBodies.after(List.of(), "Q", ""));
    }

    @Test
    void theFirstTokenEventIsAContentDeltaOrTheFinalEmptyDeltaNeverTheRoleChunk() {
        // the chunks the router writes (OpenAiWriter), as the data of server-sent events
        String role = "{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}";
        String token = "{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"We\"},\"finish_reason\":null}]}";
        String last = "{\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}";
        assertFalse(ChatBodies.TOKEN_EVENT.matcher(role).find());
        assertTrue(ChatBodies.TOKEN_EVENT.matcher(token).find());
        assertTrue(ChatBodies.TOKEN_EVENT.matcher(last).find());
        assertFalse(ChatBodies.TOKEN_EVENT.matcher("[DONE]").find());
    }

    @Test
    void theTurnMixFollowsTheShares() {
        SplittableRandom random = new SplittableRandom(3);
        int streamed = 0;
        int sampled = 0;
        for (int i = 0; i < 10_000; i++) {
            ChatBodies.TurnShape shape = ChatBodies.shape(random, 0.5, 0.3);
            streamed += shape.stream() ? 1 : 0;
            sampled += shape.sampled() ? 1 : 0;
        }
        assertTrue(Math.abs(streamed - 5000) < 250, "streamed " + streamed);
        assertTrue(Math.abs(sampled - 3000) < 250, "sampled " + sampled);
        assertTrue(ChatBodies.QUESTIONS.contains(ChatBodies.question(random)));
    }
}
