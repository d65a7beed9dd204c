package io.loraplex.engine.request;

import io.loraplex.engine.tokenizer.ChatMessage;
import java.util.List;
import java.util.Objects;

/** What a request asks the model to continue: raw text, chat messages for the base's chat template, or token ids. */
public sealed interface Prompt permits Prompt.Text, Prompt.Chat, Prompt.Tokens {

    /** Text tokenized as is, with the tokenizer's special tokens (BOS) added. */
    record Text(String text) implements Prompt {
        public Text {
            Objects.requireNonNull(text, "text");
        }
    }

    /**
     * Messages rendered with the chat template and a generation prompt, then tokenized without added specials.
     *
     * @param toolsJson the tools the template renders, a JSON array in OpenAI's shape; null for none
     */
    record Chat(List<ChatMessage> messages, String toolsJson) implements Prompt {
        public Chat {
            messages = List.copyOf(messages);
        }

        /** Messages without tools. */
        public Chat(List<ChatMessage> messages) {
            this(messages, null);
        }
    }

    /**
     * Token ids run as they are: no special tokens added, each checked against the tokenizer's vocabulary.
     *
     * @param ids (T) the prompt's tokens
     */
    record Tokens(int[] ids) implements Prompt {
        public Tokens {
            ids = ids.clone();
        }

        @Override
        public int[] ids() {
            return ids.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Tokens t && java.util.Arrays.equals(ids, t.ids);
        }

        @Override
        public int hashCode() {
            return java.util.Arrays.hashCode(ids);
        }

        @Override
        public String toString() {
            return "Tokens" + java.util.Arrays.toString(ids);
        }
    }
}
