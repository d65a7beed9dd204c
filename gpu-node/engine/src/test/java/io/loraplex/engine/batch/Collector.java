package io.loraplex.engine.batch;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Collects one request's tokens and completion. */
final class Collector implements GenerationListener {

    final List<Integer> tokens = new ArrayList<>();
    final StringBuilder text = new StringBuilder();
    final CompletableFuture<Completion> done = new CompletableFuture<>();
    volatile float[] logits;
    volatile Runnable onToken = () -> { };

    @Override
    public synchronized void onToken(Token token) {
        tokens.add(token.token());
        text.append(token.text());
        onToken.run();
    }

    @Override
    public synchronized void onFinish(Completion completion) {
        text.append(completion.text());
        done.complete(completion);
    }

    @Override
    public void onLogits(float[] logits) {
        this.logits = logits;
    }

    Completion await() {
        try {
            return done.get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("request did not finish in 60 s", e);
        }
    }

    synchronized List<Integer> tokens() {
        return List.copyOf(tokens);
    }

    synchronized int count() {
        return tokens.size();
    }
}
