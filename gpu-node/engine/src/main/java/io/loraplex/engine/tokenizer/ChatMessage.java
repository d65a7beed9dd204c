package io.loraplex.engine.tokenizer;

import java.util.List;
import java.util.Objects;

/**
 * One message of a chat, as the chat template sees it ({@code message['role']}, {@code message['content']},
 * and for tool use {@code message['tool_calls']}, {@code message['tool_call_id']}, {@code message['name']}).
 *
 * @param toolCalls  the calls an assistant message made; empty otherwise
 * @param toolCallId the call a {@code tool} message answers; null otherwise
 * @param name       the participant's or tool's name; null when not given
 */
public record ChatMessage(String role, String content, List<ToolCall> toolCalls, String toolCallId, String name) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
        toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
    }

    /** A message with no tool fields. */
    public ChatMessage(String role, String content) {
        this(role, content, List.of(), null, null);
    }

    /** Whether the message carries any tool-use field. */
    boolean usesTools() {
        return !toolCalls.isEmpty() || toolCallId != null || role.equals("tool");
    }

    /** A function call an assistant made; {@code argumentsJson} is the JSON text of its arguments. */
    public record ToolCall(String id, String name, String argumentsJson) {
        public ToolCall {
            Objects.requireNonNull(id, "id");
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(argumentsJson, "argumentsJson");
        }
    }
}
