package io.loraplex.engine.tokenizer;

import java.util.Objects;

/** One message of a chat, as the chat template sees it ({@code message['role']}, {@code message['content']}). */
public record ChatMessage(String role, String content) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }
}
