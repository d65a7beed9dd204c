package io.loraplex.deploy;

import com.typesafe.config.Config;
import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;

/**
 * The ports a JVM of loraplex listens on: the HTTP API (routers), the cluster's Artery port and
 * Pekko Management's. A taken one is refused before anything starts, in one line that names the
 * port and the flag that moves it, rather than in the stack traces Pekko logs when a bind fails.
 */
final class Listeners {

    /** One port this JVM will listen on; {@code flag}: the {@code serve} flag that chooses it. */
    record Listener(String what, String flag, String host, int port) {
    }

    private Listeners() {
    }

    /** The fixed (non-zero) ports the configuration asks for. */
    static List<Listener> fixed(Config config, boolean router) {
        List<Listener> out = new ArrayList<>();
        if (router) {
            out.add(new Listener("the HTTP API", "--port", config.getString("loraplex.router.host"), config.getInt("loraplex.router.port")));
        }
        // Artery binds bind.hostname:bind.port, which default ("") to the canonical ones
        String bindHost = config.getString("pekko.remote.artery.bind.hostname");
        String bindPort = config.getString("pekko.remote.artery.bind.port");
        out.add(new Listener("the cluster", "--cluster-port",
                bindHost.isEmpty() ? config.getString("pekko.remote.artery.canonical.hostname") : bindHost,
                bindPort.isEmpty() ? config.getInt("pekko.remote.artery.canonical.port") : Integer.parseInt(bindPort)));
        out.add(new Listener("Pekko Management", "--management-port", config.getString("loraplex.management.host"),
                config.getInt("loraplex.management.port")));
        return out.stream().filter(l -> l.port() > 0).toList();
    }

    /** Throws {@link #cannotListen} for the first fixed port this JVM could not listen on now. */
    static void checkFree(Config config, boolean router) throws IOException {
        for (Listener l : fixed(config, router)) {
            try (ServerSocket probe = new ServerSocket()) {
                // as the listeners themselves: a port whose last connections linger in TIME_WAIT is free
                probe.setReuseAddress(true);
                probe.bind(new InetSocketAddress(l.host(), l.port()));
            } catch (IOException e) {
                throw cannotListen(l, e);
            }
        }
    }

    /** Whether {@code t} or one of its causes is the JDK's failure to bind a socket. */
    static boolean isBindFailure(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof BindException) {
                return true;
            }
        }
        return false;
    }

    /** One line: which port, for what, why, and what to do. */
    static IOException cannotListen(Listener l, Throwable cause) {
        Throwable root = cause;
        while (root.getCause() != null) {
            root = root.getCause();
        }
        return new IOException("cannot listen on " + l.host() + ":" + l.port() + " for " + l.what() + " (" + reason(root)
                + "): stop what holds that port, or choose another with " + l.flag() + " (0: any free port)", cause);
    }

    /** The JDK's message without the address it repeats ("[/127.0.0.1:8080] Address already in use"). */
    private static String reason(Throwable t) {
        String m = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        return m.replaceFirst("^\\[[^]]*\\]\\s*", "");
    }
}
