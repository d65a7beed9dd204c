package io.loraplex.persistence;

import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.cql.SimpleStatement;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The real Cassandra the {@code cassandra}-tagged tests run against: the one answering on
 * 127.0.0.1:9042, or one started with {@code deploy/cassandra/cassandra.sh start} (left running:
 * {@code .ci/run} stops it, or run {@code cassandra.sh stop}). The script's path comes from
 * {@code -Dloraplex.cassandra.script} (the {@code cassandra} Maven profile sets it).
 */
public final class CassandraNode {

    public static final String HOST = "127.0.0.1";
    public static final int PORT = 9042;

    private CassandraNode() {
    }

    /** Returns once Cassandra answers, starting it with the project script if nothing does. */
    public static synchronized void ensureRunning() {
        if (answers()) {
            return;
        }
        Path script = Path.of(System.getProperty("loraplex.cassandra.script", "../deploy/cassandra/cassandra.sh"));
        if (!Files.isExecutable(script)) {
            throw new IllegalStateException("nothing answers on " + HOST + ":" + PORT + " and " + script.toAbsolutePath()
                    + " is not an executable script (set -Dloraplex.cassandra.script)");
        }
        try {
            Process start = new ProcessBuilder(script.toString(), "start").inheritIO().start();
            if (!start.waitFor(10, TimeUnit.MINUTES) || start.exitValue() != 0) {
                throw new IllegalStateException(script + " start failed (exit " + start.exitValue() + ")");
            }
        } catch (IOException e) {
            throw new IllegalStateException("could not run " + script + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting Cassandra", e);
        }
    }

    /** A driver session on the node (the caller closes it). */
    public static CqlSession session() {
        return CqlSession.builder().addContactPoint(new InetSocketAddress(HOST, PORT)).withLocalDatacenter("datacenter1").build();
    }

    /** A schema change (keyspaces, tables), which takes longer than the driver's default 2 s timeout. */
    public static SimpleStatement schemaChange(String cql) {
        return SimpleStatement.newInstance(cql).setTimeout(Duration.ofSeconds(60));
    }

    private static boolean answers() {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(HOST, PORT), 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
