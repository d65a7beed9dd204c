package io.loraplex.router.http;

import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.router.metrics.RouterMetrics;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;

/**
 * One generation request from arrival to its end, however it ends. {@link #end} runs exactly once:
 * it records the request's metrics and, when the tenant admitted it, sends the tenant
 * {@link TenantProtocol.Finished} with the tokens it used.
 */
final class Call {

    final String id;
    final long createdEpochSeconds;
    final String endpoint;
    final long startNanos = System.nanoTime();

    private final RouterMetrics metrics;
    private final BiConsumer<TenantId, TenantProtocol.Finished> tenantFinished;
    private final Runnable onEnd;
    /** What else runs at the end: the nodes this request ran on count it no longer. */
    private final java.util.List<Runnable> alsoOnEnd = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final AtomicBoolean ended = new AtomicBoolean();
    private final AtomicLong firstTokenNanos = new AtomicLong();

    private volatile Caller caller;
    private volatile String session;
    private volatile boolean admitted;
    private volatile String modelLabel = RouterMetrics.NONE;

    Call(String id, String endpoint, RouterMetrics metrics, BiConsumer<TenantId, TenantProtocol.Finished> tenantFinished,
            Runnable onEnd) {
        this.id = id;
        this.createdEpochSeconds = System.currentTimeMillis() / 1000;
        this.endpoint = endpoint;
        this.metrics = metrics;
        this.tenantFinished = tenantFinished;
        this.onEnd = onEnd;
        metrics.requestStarted();
    }

    void authenticated(Caller caller) {
        this.caller = caller;
    }

    Caller caller() {
        return caller;
    }

    /** The chat session the request names ({@code X-Session-Id}), or null. */
    void session(String session) {
        this.session = session;
    }

    String session() {
        return session;
    }

    /** From here on the tenant is owed a {@code Finished}. */
    void admitted(String modelLabel) {
        this.modelLabel = modelLabel;
        this.admitted = true;
    }

    String tenantLabel() {
        Caller c = caller;
        return c == null ? RouterMetrics.NONE : c.tenant().value();
    }

    /** A token arrived (of any choice); the first one sets the time to first token. */
    void tokenArrived(long nowNanos) {
        if (firstTokenNanos.get() == 0 && firstTokenNanos.compareAndSet(0, nowNanos)) {
            metrics.firstToken(tenantLabel(), nowNanos - startNanos);
        }
    }

    /** One choice's pace after its first token. */
    void choiceDone(long firstTokenNanos, long lastTokenNanos, int tokens) {
        if (tokens > 1 && firstTokenNanos > 0) {
            metrics.perOutputToken(tenantLabel(), (lastTokenNanos - firstTokenNanos) / (tokens - 1));
        }
    }

    /**
     * Ends the request: metrics by {@code status} (499: the client went away) and the tenant's
     * {@code Finished} with prompt plus completion tokens. Later calls do nothing.
     */
    void end(int status, int promptTokens, int completionTokens) {
        if (!ended.compareAndSet(false, true)) {
            return;
        }
        metrics.requestEnded(tenantLabel(), modelLabel, endpoint, status, promptTokens, completionTokens);
        if (admitted) {
            tenantFinished.accept(caller.tenant(), new TenantProtocol.Finished(id, promptTokens + completionTokens));
        }
        onEnd.run();
        alsoOnEnd.forEach(Runnable::run);
    }

    /** Runs {@code action} when the request ends (at once if it has). */
    void atEnd(Runnable action) {
        alsoOnEnd.add(action);
        if (ended.get() && alsoOnEnd.remove(action)) {
            action.run();
        }
    }

    boolean ended() {
        return ended.get();
    }
}
