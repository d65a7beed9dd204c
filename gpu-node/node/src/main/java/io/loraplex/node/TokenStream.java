package io.loraplex.node;

import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.engine.batch.GenerationListener;
import io.loraplex.engine.batch.RequestHandle;
import io.loraplex.engine.sample.FinishReason;
import io.loraplex.engine.sample.TokenLogprob;
import io.loraplex.engine.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.QueueOfferResult;

/**
 * Carries one generation's output from the engine's step thread into a stream, with backpressure:
 * when the reader falls {@code high} tokens behind, the request is paused in the engine (it keeps
 * its KV blocks, gets no steps); once the reader is within {@code low}, it resumes. Pausing and
 * resuming check the queue under one lock, so a pause can never outlive the queue it was for.
 */
final class TokenStream implements GenerationListener {

    private final BoundedSourceQueue<GpuNodeProtocol.TokenEvent> queue;
    private final Tokenizer tokenizer;
    private final boolean logprobs;
    private final int high;
    private final int low;
    private RequestHandle handle;
    private boolean paused;
    private volatile boolean finished;

    TokenStream(BoundedSourceQueue<GpuNodeProtocol.TokenEvent> queue, Tokenizer tokenizer, boolean logprobs, int buffer) {
        this.queue = queue;
        this.tokenizer = tokenizer;
        this.logprobs = logprobs;
        this.high = buffer;
        this.low = Math.max(1, buffer / 4);
    }

    synchronized void attach(RequestHandle handle) {
        this.handle = handle;
    }

    /** The engine ended the request (finished, failed, cancelled by it). */
    boolean finished() {
        return finished;
    }

    @Override
    public void onToken(Token token) {
        List<GpuNodeProtocol.TokenLogprob> lp = List.of();
        if (logprobs) {
            List<GpuNodeProtocol.TopLogprob> top = new ArrayList<>();
            for (TokenLogprob t : token.topLogprobs()) {
                top.add(new GpuNodeProtocol.TopLogprob(piece(t.token()), t.logprob()));
            }
            lp = List.of(new GpuNodeProtocol.TokenLogprob(piece(token.token()), token.logprob(), top));
        }
        offer(new GpuNodeProtocol.TokenText(token.text(), 1, lp));
        maybePause();
    }

    @Override
    public void onFinish(Completion completion) {
        finished = true;
        if (completion.finish().reason() == FinishReason.ERROR) {
            GpuNodeProtocol.FailureCode code = completion.failure() == Failure.ADAPTER_QUARANTINED
                    ? GpuNodeProtocol.FailureCode.ADAPTER_QUARANTINED : GpuNodeProtocol.FailureCode.INTERNAL;
            offer(new GpuNodeProtocol.Failed(completion.error() == null ? "generation failed" : completion.error(), code));
        } else {
            Usage u = completion.usage();
            offer(new GpuNodeProtocol.Finished(completion.text(), reason(completion.finish().reason()), u.promptTokens(),
                    u.completionTokens(), u.cachedPromptTokens()));
        }
        try {
            queue.complete();
        } catch (IllegalStateException alreadyClosed) {
            // the reader cancelled first; nothing is waiting for the end
        }
    }

    /** The engine's finish reason as the protocol's: the one place the two meet. */
    static GpuNodeProtocol.FinishReason reason(FinishReason r) {
        return switch (r) {
            case STOP -> GpuNodeProtocol.FinishReason.STOP;
            case LENGTH -> GpuNodeProtocol.FinishReason.LENGTH;
            case CANCELLED -> GpuNodeProtocol.FinishReason.CANCELLED;
            case DEADLINE -> GpuNodeProtocol.FinishReason.DEADLINE;
            case ERROR -> throw new IllegalArgumentException("an engine ERROR ends a stream with Failed, never with Finished");
        };
    }

    private String piece(int token) {
        return tokenizer.tokenText(token); // with its leading space, as OpenAI reports a token
    }

    private void offer(GpuNodeProtocol.TokenEvent event) {
        QueueOfferResult result = queue.offer(event);
        if (result != QueueOfferResult.enqueued()) {
            // the buffer holds twice the pause mark, so this means the stream is gone: stop generating
            RequestHandle h = handle;
            if (h != null) {
                h.cancel();
            }
        }
    }

    private synchronized void maybePause() {
        if (!paused && handle != null && queue.size() >= high) {
            paused = true;
            handle.pause(true);
        }
    }

    /** Called as the reader takes an element. */
    synchronized void drained() {
        if (paused && queue.size() <= low) {
            paused = false;
            handle.pause(false);
        }
    }
}
