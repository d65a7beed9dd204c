package io.loraplex.engine.batch;

import io.loraplex.engine.sample.Finish;
import io.loraplex.engine.sample.TokenLogprob;
import java.util.List;

/**
 * Receives one request's output, on the engine's step thread: keep it short and never block.
 */
public interface GenerationListener {

    /** One generated token and the text it completes (may be empty while text is held back). */
    record Token(int token, String text, double logprob, List<TokenLogprob> topLogprobs) {
    }

    /** Token counts of a finished request; {@code cachedPromptTokens} came from the prefix cache. */
    record Usage(int promptTokens, int completionTokens, int cachedPromptTokens) {
        public int totalTokens() {
            return promptTokens + completionTokens;
        }
    }

    /** Whose fault an {@code ERROR} is, for callers that answer differently (an HTTP status). */
    enum Failure {
        /** The engine failed (a bug, memory): not the request's doing. */
        ENGINE,
        /** The request's adapter turned its logits non-finite; that adapter version is quarantined on this engine. */
        ADAPTER_QUARANTINED
    }

    /**
     * How a request ended; {@code error} explains an {@code ERROR}, {@code CANCELLED} or
     * {@code DEADLINE}; {@code failure} says whose fault an {@code ERROR} is (null otherwise).
     */
    record Completion(Finish finish, String text, Usage usage, String error, Failure failure) {
    }

    void onToken(Token token);

    /** The request ended; {@code completion.text()} is held-back text not yet sent with a token. */
    void onFinish(Completion completion);

    /** A SCORE request's logits at its last position (V). */
    default void onLogits(float[] logits) {
    }
}
