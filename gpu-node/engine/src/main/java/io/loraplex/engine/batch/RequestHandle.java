package io.loraplex.engine.batch;

/** A submitted request: cancel it from any thread; its blocks are freed at the next step. */
public interface RequestHandle {

    String id();

    void cancel();
}
