package io.loraplex.router;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * Limits on the HTTP API's TCP connections, from {@code loraplex.router.connections} (see this
 * module's {@code reference.conf}). They bound what a client that opens sockets and sends nothing,
 * or trickles a request's headers a byte at a time, can hold; a request in flight (a streamed chat
 * included) is bounded only by {@code loraplex.router.idle-timeout}.
 *
 * @param max                 open connections; past it a new one closes the oldest connection that has no request in
 *                            flight (one that never sent a request first), or gets 503 when every one is busy
 * @param firstRequestTimeout a new connection whose first request's headers are not complete by then is closed
 * @param headerTimeout       a request whose headers are not complete this long after its first byte is closed
 * @param keepAliveTimeout    a connection with no request in flight and no bytes for this long is closed
 * @param backlog             the listening socket's accept queue (the kernel caps it at net.core.somaxconn)
 * @param logInterval         at most one log line per kind of bad connection per interval, with the count of the others
 */
public record ConnectionSettings(
        int max,
        Duration firstRequestTimeout,
        Duration headerTimeout,
        Duration keepAliveTimeout,
        int backlog,
        Duration logInterval) {

    public ConnectionSettings {
        if (max < 1) {
            throw new IllegalArgumentException("loraplex.router.connections.max must be positive, got " + max);
        }
        if (backlog < 1) {
            throw new IllegalArgumentException("loraplex.router.connections.backlog must be positive, got " + backlog);
        }
        positive("first-request-timeout", firstRequestTimeout);
        positive("header-timeout", headerTimeout);
        positive("keep-alive-timeout", keepAliveTimeout);
        positive("log-interval", logInterval);
    }

    private static void positive(String key, Duration d) {
        if (d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException("loraplex.router.connections." + key + " must be positive, got " + d);
        }
    }

    public static ConnectionSettings create(Config config) {
        Config c = config.getConfig("loraplex.router.connections");
        return new ConnectionSettings(
                c.getInt("max"),
                c.getDuration("first-request-timeout"),
                c.getDuration("header-timeout"),
                c.getDuration("keep-alive-timeout"),
                c.getInt("backlog"),
                c.getDuration("log-interval"));
    }
}
