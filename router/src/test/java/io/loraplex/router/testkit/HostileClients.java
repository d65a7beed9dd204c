package io.loraplex.router.testkit;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Sockets a hostile client holds open against a server: some send nothing, some trickle one byte
 * of a never-ending request header every {@code period} (a slowloris). A daemon thread does the
 * trickling; {@link #close()} stops it and closes every socket.
 */
public final class HostileClients implements AutoCloseable {

    /** A request line and headers that never end: each trickled byte is part of one endless header value. */
    private static final byte[] ENDLESS = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".getBytes(StandardCharsets.US_ASCII);

    private final List<Socket> idle = new ArrayList<>();
    private final List<Socket> trickling = new ArrayList<>();
    private final AtomicInteger trickleFailures = new AtomicInteger();
    private final Thread trickler;
    private volatile boolean stopped;

    private HostileClients(InetSocketAddress target, int idleCount, int tricklingCount, Duration period) {
        try {
            for (int i = 0; i < idleCount + tricklingCount; i++) {
                Socket socket = new Socket();
                socket.connect(target, 10_000);
                boolean idleTurn = i % 2 == 0 ? idle.size() < idleCount : trickling.size() >= tricklingCount;
                (idleTurn ? idle : trickling).add(socket);
            }
        } catch (IOException e) {
            close();
            throw new UncheckedIOException("could not open hostile connection " + (idle.size() + trickling.size() + 1), e);
        }
        trickler = Thread.ofPlatform().daemon().name("hostile-trickler").start(() -> trickle(period));
    }

    /** Opens {@code idleCount} silent and {@code tricklingCount} trickling connections to {@code target}, interleaved. */
    public static HostileClients open(InetSocketAddress target, int idleCount, int tricklingCount, Duration period) {
        return new HostileClients(target, idleCount, tricklingCount, period);
    }

    private void trickle(Duration period) {
        int[] sent = new int[trickling.size()];
        boolean[] dead = new boolean[trickling.size()];
        while (!stopped) {
            for (int i = 0; i < trickling.size() && !stopped; i++) {
                if (dead[i]) {
                    continue;
                }
                try {
                    OutputStream out = trickling.get(i).getOutputStream();
                    out.write(sent[i] < ENDLESS.length ? ENDLESS[sent[i]] : 'a');
                    out.flush();
                    sent[i]++;
                } catch (IOException e) {
                    dead[i] = true; // the server closed it
                    trickleFailures.incrementAndGet();
                }
            }
            try {
                Thread.sleep(period);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    public int size() {
        return idle.size() + trickling.size();
    }

    /** Trickling connections whose write failed: the server closed them. */
    public int tricklersClosed() {
        return trickleFailures.get();
    }

    /** Files this process may open (ulimit -n), or Long.MAX_VALUE where the JVM cannot tell. */
    public static long fileLimit() {
        return ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.UnixOperatingSystemMXBean unix
                ? unix.getMaxFileDescriptorCount() : Long.MAX_VALUE;
    }

    @Override
    public void close() {
        stopped = true;
        if (trickler != null) {
            trickler.interrupt();
        }
        for (List<Socket> sockets : List.of(idle, trickling)) {
            for (Socket s : sockets) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // closing is best effort: the server may have closed it first
                }
            }
        }
    }
}
