package io.loraplex.router.http;

import io.loraplex.router.ConnectionSettings;
import io.loraplex.router.RouterSettings;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.settings.ServerSettings;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.TLSProtocol.SslTlsInbound;
import org.apache.pekko.stream.TLSProtocol.SslTlsOutbound;
import org.apache.pekko.stream.javadsl.BidiFlow;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.TLSPlacebo;
import org.apache.pekko.stream.javadsl.Tcp;
import org.apache.pekko.util.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router's HTTP listener: Pekko HTTP's server layer on each connection, with a
 * {@link ConnectionGuard} between it and the socket, and a connection limit that never stops the
 * accept loop.
 *
 * <p>Pekko HTTP's own binding cannot do this: its {@code max-connections} stops accepting at the
 * limit (every further client, {@code /health} included, waits in the kernel's backlog until a
 * connection closes), its {@code idle-timeout} counts any byte as activity (a header trickled a
 * byte every few hundred ms keeps a connection forever) and {@code request-timeout} starts only once
 * the headers are complete. So this binds the socket itself ({@code Tcp.bind}) and joins
 * {@code Http.serverLayer} per connection, the same layer Pekko's binding uses.
 *
 * <p>At the limit a new connection closes the oldest one with no request in flight, first among
 * those that never sent one, so sockets opened and left idle cannot keep a real client out; only
 * when every connection is busy does the new one get a 503.
 */
public final class GuardedServer {

    private static final Logger log = LoggerFactory.getLogger(GuardedServer.class);

    /** The answer to a connection past the limit when none can give way; written before any request is read. */
    private static final ByteString BUSY = busyResponse();

    /** The listening socket and its connections; what {@code Http.ServerBinding} was, for this listener. */
    public record Binding(InetSocketAddress localAddress, GuardedServer server) {

        /** Stops accepting connections; open ones go on. */
        public CompletionStage<Done> unbind() {
            return server.unbind();
        }

        /**
         * Stops accepting, closes each connection once it has no request in flight, and every one
         * still open after {@code hardDeadline}.
         */
        public CompletionStage<Done> terminate(Duration hardDeadline) {
            return server.terminate(hardDeadline);
        }

        /** Connections open now (evicted ones that are still closing not counted). */
        public int openConnections() {
            return server.live.get();
        }

        BadTrafficLog badTraffic() {
            return server.badTraffic;
        }
    }

    private final ActorSystem<?> system;
    private final Materializer materializer;
    private final RouterSettings settings;
    private final ConnectionSettings limits;
    private final int maxConnections;
    private final ServerSettings serverSettings;
    private final Flow<HttpRequest, HttpResponse, NotUsed> routeFlow;
    private final BadTrafficLog badTraffic;
    /** Open connections by accept order: the oldest idle one gives way at the limit. */
    private final ConcurrentSkipListMap<Long, ConnectionGuard> open = new ConcurrentSkipListMap<>();
    private final AtomicInteger live = new AtomicInteger();
    private long nextSeq; // the accept loop is one sequential stage
    private volatile Tcp.ServerBinding tcpBinding;
    private volatile CompletionStage<Done> unbound;

    private GuardedServer(ActorSystem<?> system, RouterSettings settings, ConnectionSettings limits, Route route) {
        this.system = system;
        this.materializer = Materializer.matFromSystem(system);
        this.settings = settings;
        this.limits = limits;
        this.maxConnections = maxConnections(limits.max());
        this.serverSettings = ServerSettings.create(system.settings().config());
        this.routeFlow = route.flow(system);
        this.badTraffic = new BadTrafficLog(limits.logInterval());
    }

    /** Listens on {@code settings.host():settings.port()} and serves {@code route} on every connection. */
    public static CompletionStage<Binding> bind(ActorSystem<?> system, RouterSettings settings, ConnectionSettings limits,
            Route route) {
        GuardedServer server = new GuardedServer(system, settings, limits, route);
        return Tcp.get(system)
                .bind(settings.host(), settings.port(), limits.backlog(), List.of(), false, Optional.empty())
                .to(Sink.foreach(server::accept))
                .run(server.materializer)
                .thenApply(tcp -> {
                    server.tcpBinding = tcp;
                    return new Binding(tcp.localAddress(), server);
                });
    }

    private void accept(Tcp.IncomingConnection connection) {
        if (live.get() >= maxConnections && !evictOne()) {
            badTraffic.report(BadTrafficLog.Kind.CONNECTION_LIMIT, "all " + maxConnections
                    + " connections have a request in flight; answered 503 to " + connection.remoteAddress());
            connection.handleWith(Flow.fromSinkAndSource(Sink.ignore(), Source.single(BUSY)), materializer);
            return;
        }
        long seq = nextSeq++;
        ConnectionGuard guard = new ConnectionGuard(seq, connection.remoteAddress(), limits, settings.idleTimeout(), badTraffic,
                () -> closed(seq));
        open.put(seq, guard);
        live.incrementAndGet();
        Flow<HttpRequest, HttpResponse, NotUsed> handler = Flow.of(HttpRequest.class)
                .map(request -> {
                    guard.signal(ConnectionGuard.Signal.REQUEST_STARTED);
                    return request;
                })
                .via(routeFlow)
                .map(guard::watch);
        // the HTTP layer (a dozen stages) is built on the connection's first byte: a socket that never sends one
        // costs the accept loop only the TCP stage and its guard
        Flow<ByteString, ByteString, NotUsed> http = Flow.<ByteString, ByteString, NotUsed>lazyFlow(() -> handler.join(
                        Http.get(system).serverLayer(serverSettings, Optional.of(connection.remoteAddress()), badTraffic.pekkoAdapter())
                                .atop(plainText())))
                .mapMaterializedValue(m -> NotUsed.getInstance());
        connection.handleWith(http.join(BidiFlow.fromGraph(guard)), materializer);
    }

    /** Closes the oldest connection without a request in flight, one that never sent a request first; false if none. */
    private boolean evictOne() {
        for (boolean neverRequested : new boolean[] {true, false}) {
            for (ConnectionGuard guard : open.values()) {
                if (!guard.busy() && (!neverRequested || !guard.everRequested()) && guard.leaveCount()) {
                    live.decrementAndGet();
                    guard.signal(ConnectionGuard.Signal.EVICT);
                    badTraffic.report(BadTrafficLog.Kind.CONNECTION_LIMIT, "closed the idle connection from " + guard.remote
                            + " to make room (limit " + maxConnections + ")");
                    return true;
                }
            }
        }
        return false;
    }

    private void closed(long seq) {
        ConnectionGuard guard = open.remove(seq);
        if (guard != null && guard.leaveCount()) {
            live.decrementAndGet();
        }
    }

    private synchronized CompletionStage<Done> unbind() {
        if (unbound == null) {
            unbound = tcpBinding.unbind().thenApply(u -> Done.getInstance());
        }
        return unbound;
    }

    private CompletionStage<Done> terminate(Duration hardDeadline) {
        long end = System.nanoTime() + hardDeadline.toNanos();
        CompletableFuture<Done> terminated = new CompletableFuture<>();
        unbind().whenComplete((d, failure) -> {
            open.values().forEach(g -> g.signal(ConnectionGuard.Signal.DRAIN));
            awaitClosed(end, false, terminated);
        });
        return terminated;
    }

    /** Polls until every connection closed; at {@code end} closes the rest and gives them a moment more. */
    private void awaitClosed(long end, boolean forced, CompletableFuture<Done> terminated) {
        if (open.isEmpty() || (forced && System.nanoTime() - end >= ConnectionGuard.SETTLE.toNanos())) {
            terminated.complete(Done.getInstance());
            return;
        }
        boolean force = !forced && System.nanoTime() - end >= 0;
        if (force) {
            open.values().forEach(g -> g.signal(ConnectionGuard.Signal.CLOSE));
        }
        system.scheduler().scheduleOnce(Duration.ofMillis(20), () -> awaitClosed(end, forced || force, terminated),
                system.executionContext());
    }

    /**
     * The configured limit, lowered to what the process's open-file limit leaves after a reserve for
     * the rest of the JVM: past that, accept itself fails and the listener spins on errors.
     */
    private static int maxConnections(int configured) {
        if (!(ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.UnixOperatingSystemMXBean unix)) {
            return configured;
        }
        long files = unix.getMaxFileDescriptorCount();
        long usable = files - Math.max(256, files / 8);
        if (configured <= usable) {
            return configured;
        }
        int lowered = (int) Math.max(16, usable);
        log.warn("loraplex.router.connections.max = {} but this process may open {} files (ulimit -n); allowing {} connections",
                configured, files, lowered);
        return lowered;
    }

    /** This listener serves plain HTTP: the server layer's TLS ports carry bytes unchanged. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private static BidiFlow<SslTlsOutbound, ByteString, ByteString, SslTlsInbound, NotUsed> plainText() {
        return (BidiFlow) TLSPlacebo.getInstance();
    }

    private static ByteString busyResponse() {
        String body = "{\"error\":{\"message\":\"The server has too many open connections; retry the request.\","
                + "\"type\":\"server_error\",\"param\":null,\"code\":\"service_unavailable\"}}";
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        return ByteString.fromString("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
                + "Content-Type: application/json\r\nContent-Length: " + bytes.length + "\r\n\r\n" + body);
    }
}
