package io.loraplex.engine.tokenizer;

/**
 * A chat template refused the messages ({@code raise_exception(...)}, e.g. "Conversation roles must
 * alternate user/assistant/user/assistant/...") or could not be rendered. The request is at fault
 * in the first case, which is why this is an {@link IllegalArgumentException}.
 */
public final class ChatTemplateException extends IllegalArgumentException {

    private final String templateMessage;

    ChatTemplateException(String source, String templateMessage, Throwable cause) {
        super(source + ": " + templateMessage, cause);
        this.templateMessage = templateMessage;
    }

    /** The message as the template gave it (for {@code raise_exception}) or the renderer's reason. */
    public String templateMessage() {
        return templateMessage;
    }
}
