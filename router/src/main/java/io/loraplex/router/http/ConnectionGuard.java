package io.loraplex.router.http;

import io.loraplex.router.ConnectionSettings;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.NotUsed;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpEntity;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.ResponseEntity;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.BidiShape;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.AsyncCallback;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.stream.stage.TimerGraphStageLogic;
import org.apache.pekko.util.ByteString;

/**
 * One connection's watchdog, between the socket and Pekko HTTP's server layer: it sees every byte
 * (so it knows when a request began) and is told when a request's headers are complete and when its
 * response has been sent. With no request in flight, it closes a connection that
 * <ul>
 *   <li>sent no complete request headers within {@code first-request-timeout} of opening (a socket that sends
 *       nothing);</li>
 *   <li>began a request and did not complete its headers within {@code header-timeout} (headers trickled a byte at
 *       a time, which Pekko HTTP's idle-timeout, counting any byte as activity, never ends);</li>
 *   <li>has been silent for {@code keep-alive-timeout} since its last response.</li>
 * </ul>
 * With a request in flight only {@code idle-timeout} applies (no bytes either way), so a chat that
 * streams for minutes is never cut. One instance per connection; it is materialized once.
 */
final class ConnectionGuard extends GraphStage<BidiShape<ByteString, ByteString, ByteString, ByteString>> {

    /** What the rest of the connection tells its guard. */
    enum Signal {
        /** A request's headers are complete (the server layer emitted it). */
        REQUEST_STARTED,
        /** A response's body has been taken to its end (or cancelled). */
        RESPONSE_ENDED,
        /** The connection limit needs this idle connection's place: close now. */
        EVICT,
        /** The server is stopping: close once no request is in flight. */
        DRAIN,
        /** The server's hard deadline: close now, requests in flight or not. */
        CLOSE
    }

    /** The limit a connection ran into, with the kind of bad connection it counts as (null: a normal close). */
    private enum Limit {
        FIRST_REQUEST(BadTrafficLog.Kind.FIRST_REQUEST_TIMEOUT),
        HEADER(BadTrafficLog.Kind.HEADER_TIMEOUT),
        KEEP_ALIVE(null),
        IDLE(BadTrafficLog.Kind.IDLE_TIMEOUT);

        final BadTrafficLog.Kind kind;

        Limit(BadTrafficLog.Kind kind) {
            this.kind = kind;
        }
    }

    /** The last bytes of a response pass the renderer after its body ends: a draining close waits this long. */
    static final Duration SETTLE = Duration.ofMillis(200);

    private static final long NONE = Long.MIN_VALUE;
    /** What the server layer sees when a limit closes the connection; never reaches a client. */
    private static final RuntimeException LIMIT_REACHED = new RuntimeException("connection closed by a connection limit", null,
            false, false) {
    };
    private static final String DEADLINE = "deadline";
    private static final String SETTLED = "settled";

    // the server's bytes on top, the client's below: server layer -> fromServer -> toClient -> socket -> fromClient -> toServer
    private final Inlet<ByteString> fromServer = Inlet.create("ConnectionGuard.fromServer");
    private final Outlet<ByteString> toClient = Outlet.create("ConnectionGuard.toClient");
    private final Inlet<ByteString> fromClient = Inlet.create("ConnectionGuard.fromClient");
    private final Outlet<ByteString> toServer = Outlet.create("ConnectionGuard.toServer");
    private final BidiShape<ByteString, ByteString, ByteString, ByteString> shape =
            BidiShape.of(fromServer, toClient, fromClient, toServer);

    final long seq;
    final InetSocketAddress remote;
    private final ConnectionSettings limits;
    private final long idleTimeoutNanos;
    private final BadTrafficLog badTraffic;
    private final Runnable onStop;

    /** Set when the logic is created (at materialization, before this guard is known to anyone else). */
    private volatile AsyncCallback<Signal> signals;
    /** Read by the connection limit from the accept loop: evict idle connections, never busy ones. */
    private volatile boolean busy;
    private volatile boolean everRequested;
    /** Cleared by the first of eviction and stop, so the connection leaves the count once. */
    private final AtomicBoolean counted = new AtomicBoolean(true);

    ConnectionGuard(long seq, InetSocketAddress remote, ConnectionSettings limits, Duration idleTimeout, BadTrafficLog badTraffic,
            Runnable onStop) {
        this.seq = seq;
        this.remote = remote;
        this.limits = limits;
        this.idleTimeoutNanos = idleTimeout.toNanos();
        this.badTraffic = badTraffic;
        this.onStop = onStop;
    }

    @Override
    public BidiShape<ByteString, ByteString, ByteString, ByteString> shape() {
        return shape;
    }

    void signal(Signal signal) {
        AsyncCallback<Signal> callback = signals;
        if (callback != null) { // null only while the accept loop is still materializing this connection
            callback.invoke(signal);
        }
    }

    boolean busy() {
        return busy;
    }

    boolean everRequested() {
        return everRequested;
    }

    /** True for the first caller only: that one takes the connection out of the count of open ones. */
    boolean leaveCount() {
        return counted.compareAndSet(true, false);
    }

    /** The response with its body watched, so the guard learns when it has been sent. */
    HttpResponse watch(HttpResponse response) {
        ResponseEntity entity = response.entity();
        if (entity.isKnownEmpty() || entity instanceof HttpEntity.Strict) {
            signal(Signal.RESPONSE_ENDED); // rendered at once; a draining close waits SETTLE for its bytes
            return response;
        }
        Flow<ByteString, ByteString, NotUsed> watched = Flow.<ByteString>create().watchTermination((notUsed, done) -> {
            done.whenComplete((d, failure) -> signal(Signal.RESPONSE_ENDED));
            return NotUsed.getInstance();
        });
        // rebuilt by kind: transformDataBytes would turn a body of known length into a chunked one
        ResponseEntity rebuilt = switch (entity) {
            case HttpEntity.Default d -> HttpEntities.create(d.getContentType(), d.getContentLength(), d.getDataBytes().via(watched));
            case HttpEntity.CloseDelimited c -> HttpEntities.createCloseDelimited(c.getContentType(), c.getDataBytes().via(watched));
            default -> HttpEntities.createChunked(entity.getContentType(), entity.getDataBytes().via(watched));
        };
        return response.withEntity(rebuilt);
    }

    @Override
    public GraphStageLogic createLogic(Attributes attributes) {
        return new TimerGraphStageLogic(shape) {
            private final long openedAt = System.nanoTime();
            private long lastActivity = openedAt;
            /** When the first byte of a request whose headers are not complete arrived; NONE between requests. */
            private long headerStart = NONE;
            private int inFlight;
            private boolean draining;

            {
                signals = createAsyncCallback(this::onSignal);
                setHandler(fromClient, new AbstractInHandler() {
                    @Override
                    public void onPush() {
                        long now = System.nanoTime();
                        lastActivity = now;
                        if (inFlight == 0 && headerStart == NONE) {
                            headerStart = now;
                            reschedule();
                        }
                        push(toServer, grab(fromClient));
                    }

                    @Override
                    public void onUpstreamFinish() {
                        complete(toServer);
                    }

                    @Override
                    public void onUpstreamFailure(Throwable ex) {
                        fail(toServer, ex);
                    }
                });
                setHandler(toServer, new AbstractOutHandler() {
                    @Override
                    public void onPull() {
                        pull(fromClient);
                    }

                    @Override
                    public void onDownstreamFinish(Throwable cause) {
                        cancel(fromClient, cause);
                    }
                });
                setHandler(fromServer, new AbstractInHandler() {
                    @Override
                    public void onPush() {
                        lastActivity = System.nanoTime();
                        push(toClient, grab(fromServer));
                    }

                    @Override
                    public void onUpstreamFinish() {
                        complete(toClient);
                    }

                    @Override
                    public void onUpstreamFailure(Throwable ex) {
                        fail(toClient, ex);
                    }
                });
                setHandler(toClient, new AbstractOutHandler() {
                    @Override
                    public void onPull() {
                        pull(fromServer);
                    }

                    @Override
                    public void onDownstreamFinish(Throwable cause) {
                        cancel(fromServer, cause);
                    }
                });
            }

            @Override
            public void preStart() {
                reschedule();
            }

            @Override
            public void postStop() {
                busy = false;
                onStop.run();
            }

            private void onSignal(Signal signal) {
                switch (signal) {
                    case REQUEST_STARTED -> {
                        inFlight++;
                        headerStart = NONE;
                        busy = true;
                        everRequested = true;
                        reschedule();
                    }
                    case RESPONSE_ENDED -> {
                        inFlight = Math.max(0, inFlight - 1);
                        busy = inFlight > 0;
                        lastActivity = System.nanoTime();
                        if (inFlight == 0 && draining) {
                            scheduleOnce(SETTLED, SETTLE);
                        }
                        reschedule();
                    }
                    case DRAIN -> {
                        draining = true;
                        if (inFlight == 0) {
                            scheduleOnce(SETTLED, SETTLE);
                        }
                    }
                    case EVICT, CLOSE -> completeStage();
                }
            }

            @Override
            public void onTimer(Object key) {
                if (SETTLED.equals(key)) {
                    if (inFlight == 0) {
                        completeStage();
                    }
                    return;
                }
                long now = System.nanoTime();
                Limit limit = nextLimit();
                long at = deadline(limit);
                if (now - at >= 0) {
                    if (limit.kind != null) {
                        badTraffic.report(limit.kind, "closed the connection from " + remote + " after "
                                + Duration.ofNanos(now - openedAt).toMillis() + " ms open");
                    }
                    closeForLimit();
                } else {
                    scheduleOnce(DEADLINE, Duration.ofNanos(at - now));
                }
            }

            /**
             * Closes the socket, and fails (rather than ends) the server layer's input: an end of input in the middle
             * of a trickled request would make Pekko log it as malformed, a second line for the same connection.
             */
            private void closeForLimit() {
                complete(toClient);
                cancel(fromClient);
                cancel(fromServer);
                fail(toServer, LIMIT_REACHED);
            }

            /** Re-arms the timer for the limit that now applies; bytes only move deadlines later, so they need no re-arm. */
            private void reschedule() {
                long at = deadline(nextLimit());
                scheduleOnce(DEADLINE, Duration.ofNanos(Math.max(0, at - System.nanoTime())));
            }

            /** The limit that will end this connection first if nothing else happens. */
            private Limit nextLimit() {
                if (inFlight > 0) {
                    return Limit.IDLE;
                }
                Limit first = headerStart != NONE ? Limit.HEADER : everRequested ? Limit.KEEP_ALIVE : Limit.FIRST_REQUEST;
                if (!everRequested && deadline(Limit.FIRST_REQUEST) - deadline(first) < 0) {
                    return Limit.FIRST_REQUEST;
                }
                return first;
            }

            private long deadline(Limit limit) {
                return switch (limit) {
                    case FIRST_REQUEST -> openedAt + limits.firstRequestTimeout().toNanos();
                    case HEADER -> headerStart + limits.headerTimeout().toNanos();
                    case KEEP_ALIVE -> lastActivity + limits.keepAliveTimeout().toNanos();
                    case IDLE -> lastActivity + idleTimeoutNanos;
                };
            }
        };
    }
}
