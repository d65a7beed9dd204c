package io.loraplex.simulations.load;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Pattern;

/** The bodies of the chat scenario's requests: a conversation that grows turn by turn, streamed or not, sampled or greedy. */
final class ChatBodies {

    /** One message of a conversation. */
    record Message(String role, String content) {
    }

    /** How a turn is sent: streamed (server-sent events) or not; with sampling parameters (and their seed) or greedy. */
    record TurnShape(boolean stream, boolean sampled, long seed) {
    }

    static final List<String> QUESTIONS = List.of("What are your opening hours?", "Do you have oat milk?", "Where are you?",
            "Can I book a table?", "Is there wifi?", "Can you review my contract?", "How much is a consultation?",
            "Do you deliver on Sundays?");

    /**
     * A streamed chat's event that carries its first token: a {@code delta} with content, or the empty final delta of
     * a stream whose first token ended it. The role-only opening chunk ({@code "delta":{"role":...}}) does not match.
     */
    static final Pattern TOKEN_EVENT = Pattern.compile("\"delta\":\\{(\"content\"|\\})");

    private ChatBodies() {
    }

    static TurnShape shape(SplittableRandom random, double streamShare, double samplingShare) {
        return new TurnShape(random.nextDouble() < streamShare, random.nextDouble() < samplingShare, random.nextLong());
    }

    static String question(SplittableRandom random) {
        return QUESTIONS.get(random.nextInt(QUESTIONS.size()));
    }

    /** The history after a turn: the question, then the answer (a streamed turn's text is not collected: a placeholder). */
    static List<Message> after(List<Message> history, String question, String answer) {
        List<Message> next = new ArrayList<>(history);
        next.add(new Message("user", question));
        next.add(new Message("assistant", answer == null || answer.isEmpty() ? "..." : answer));
        return List.copyOf(next);
    }

    /** The JSON body of {@code POST /v1/chat/completions} for this turn. */
    static String chat(String model, List<Message> history, String question, TurnShape shape, int maxTokens) {
        ObjectNode body = LoraplexApi.JSON.createObjectNode();
        body.put("model", model);
        ArrayNode messages = body.putArray("messages");
        for (Message m : history) {
            messages.addObject().put("role", m.role()).put("content", m.content());
        }
        messages.addObject().put("role", "user").put("content", question);
        body.put("max_tokens", maxTokens);
        if (shape.stream()) {
            body.put("stream", true);
        }
        if (shape.sampled()) {
            body.put("temperature", 0.8).put("top_p", 0.9).put("top_k", 40).put("frequency_penalty", 0.2).put("seed", shape.seed());
        } else {
            body.put("temperature", 0);
        }
        return body.toString();
    }
}
