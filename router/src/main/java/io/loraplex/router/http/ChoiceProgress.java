package io.loraplex.router.http;

import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.TokenLogprob;
import java.util.ArrayList;
import java.util.List;

/**
 * One choice's stream as read so far. Used by one stream stage at a time, so it needs no locks. In
 * collecting mode it keeps the text and logprobs for the response body; streaming only counts.
 */
final class ChoiceProgress {

    final int index;
    private final Call call;
    private final boolean collect;
    private final StringBuilder text = new StringBuilder();
    private final List<TokenLogprob> logprobs = new ArrayList<>();

    int tokens;
    long firstTokenNanos;
    long lastTokenNanos;
    /** Set by the stream's last element: exactly one of them. */
    GpuNodeProtocol.Finished finished;
    String failure;
    /** Whose fault {@code failure} is; a broken stream is the server's. */
    GpuNodeProtocol.FailureCode failureCode = GpuNodeProtocol.FailureCode.INTERNAL;
    private NodeId lostNode;

    ChoiceProgress(int index, Call call, boolean collect) {
        this.index = index;
        this.call = call;
        this.collect = collect;
    }

    /** Folds one event in (as {@code Sink.fold} wants it). */
    ChoiceProgress add(GpuNodeProtocol.TokenEvent event) {
        switch (event) {
            case GpuNodeProtocol.TokenText t -> onText(t);
            case GpuNodeProtocol.Finished f -> {
                finished = f;
                if (collect) {
                    text.append(f.text()); // text the node held back until the end
                }
                call.choiceDone(firstTokenNanos, lastTokenNanos, f.completionTokens());
            }
            case GpuNodeProtocol.Failed f -> {
                failure = f.message();
                failureCode = f.code();
            }
        }
        return this;
    }

    void onText(GpuNodeProtocol.TokenText t) {
        if (t.tokens() > 0) {
            long now = System.nanoTime();
            if (firstTokenNanos == 0) {
                firstTokenNanos = now;
            }
            lastTokenNanos = now;
            tokens += t.tokens();
            call.tokenArrived(now);
        }
        if (collect) {
            text.append(t.text());
            logprobs.addAll(t.logprobs());
        }
    }

    /** The stream broke before its last element (the node or the link failed). */
    ChoiceProgress broken(Throwable t) {
        if (finished == null && failure == null) {
            failure = "the token stream broke: " + Responses.unwrap(t).getMessage();
        }
        return this;
    }

    /** The stream from {@code node} broke before its end: the node died or left. */
    ChoiceProgress broken(NodeId node, String message) {
        if (finished == null && failure == null) {
            failure = message;
            lostNode = node;
        }
        return this;
    }

    /** The node whose stream broke before this choice ended, or null. */
    NodeId lostNode() {
        return lostNode;
    }

    String failureOrMissingEnd() {
        if (failure != null) {
            return failure;
        }
        return finished == null ? "the token stream ended without a finish" : null;
    }

    int completionTokens() {
        return finished != null ? finished.completionTokens() : tokens;
    }

    OpenAiWriter.Choice choice(boolean withLogprobs) {
        return new OpenAiWriter.Choice(index, text.toString(), withLogprobs ? List.copyOf(logprobs) : null,
                OpenAiWriter.finishReason(finished.finishReason()));
    }

    /**
     * The request's usage: each prompt counted once (as OpenAI bills n choices), completions summed.
     * Choices come {@code n} per prompt, prompt by prompt; {@code startedPromptTokens} is the prompts'
     * total as the nodes counted them at the start, used until every prompt's first choice finished.
     */
    static OpenAiWriter.Usage usage(List<ChoiceProgress> choices, int startedPromptTokens, int n) {
        int prompt = 0;
        int cached = 0;
        boolean allFinished = !choices.isEmpty();
        for (int i = 0; i < choices.size(); i += n) {
            GpuNodeProtocol.Finished first = choices.get(i).finished;
            if (first == null) {
                allFinished = false;
                break;
            }
            prompt += first.promptTokens();
            cached += first.cachedTokens();
        }
        if (!allFinished) {
            prompt = startedPromptTokens;
            cached = 0;
        }
        int completion = 0;
        for (ChoiceProgress c : choices) {
            completion += c.completionTokens();
        }
        return new OpenAiWriter.Usage(prompt, completion, cached);
    }
}
