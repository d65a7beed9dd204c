package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** A port already taken is refused before anything starts, in one line naming the port, its use and its flag. */
class ListenersTest {

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "loraplex.router.port|the HTTP API|--port",
        "pekko.remote.artery.canonical.port|the cluster|--cluster-port",
        "loraplex.management.port|Pekko Management|--management-port"})
    void aTakenPortIsOneLineNamingItAndTheFlagThatMovesIt(String setting, String what, String flag) throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            int port = taken.getLocalPort();
            Map<String, Object> settings = new HashMap<>(Map.of("loraplex.router.port", 0));
            settings.put(setting, port);
            var config = EmbeddedServer.config(Path.of("data"), ConfigFactory.parseMap(settings));
            IOException e = assertThrows(IOException.class, () -> Listeners.checkFree(config, true));
            assertEquals("cannot listen on 127.0.0.1:" + port + " for " + what + " (Address already in use): stop what holds that "
                    + "port, or choose another with " + flag + " (0: any free port)", e.getMessage());
        }
    }

    @Test
    void portZeroAndAGpuNodesMissingHttpPortAreNotChecked() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            var config = EmbeddedServer.config(Path.of("data"), ConfigFactory.parseMap(Map.of("loraplex.router.port", taken.getLocalPort())));
            // a JVM without the router role does not listen on the HTTP port
            Listeners.checkFree(config, false);
            assertEquals(0, Listeners.fixed(config, false).size());
        }
    }
}
