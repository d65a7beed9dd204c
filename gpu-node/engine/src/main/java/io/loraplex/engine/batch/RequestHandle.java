package io.loraplex.engine.batch;

/** A submitted request, controlled from any thread: cancelled, its blocks are freed at the next step. */
public interface RequestHandle {

    String id();

    void cancel();

    /**
     * Pauses or resumes the request: a paused request keeps its place and its KV blocks but gets no
     * tokens in the steps that follow, so a slow reader of its output is never overrun.
     */
    void pause(boolean paused);
}
