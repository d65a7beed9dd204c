package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged launcher starts clean: {@code serve} and the other commands print no warning a user
 * cannot act on (the incubator module, {@code sun.misc.Unsafe}, Pekko's mixed versions, Kamon's
 * Kanela), the data directory and its key files are the owner's alone, keys are shown at the first
 * start only, {@code /metrics} is the metrics key's or the management port's, a taken port is one
 * line, and {@code bench} leaves nothing in the temp folder.
 */
class CleanStartIT {

    /** What none of the launcher's output may hold: warnings nobody can act on, and stack traces. */
    static final Pattern NOISE = Pattern.compile(
            "(?i)\\bWARN(ING)?\\b|incubator|sun\\.misc\\.Unsafe|mixed version|older versions of related artifacts|Kanela|Exception|^\\s+at ",
            Pattern.MULTILINE);

    static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    static Path work;

    static void assertClean(String output) {
        Matcher m = NOISE.matcher(output);
        assertFalse(m.find(), () -> "a line nobody can act on: '" + output.lines().filter(l -> NOISE.matcher(l).find()).findFirst()
                .orElse("") + "' in\n" + output);
    }

    static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    static HttpResponse<String> get(String url, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(30));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static String mode(Path p) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    @Test
    void serveStartsCleanKeepsItsKeysPrivateAndShowsThemOnce() throws Exception {
        Path data = work.resolve("serve-data");
        int management = freePort();
        ServeProcess first = ServeProcess.start(work, data, Map.of(), "--management-port", String.valueOf(management));
        String metricsKey;
        try {
            String printed = first.printedOnce("Ctrl-C stops it gracefully", 30);
            assertClean(printed);
            Matcher drawn = Pattern.compile("^\\s+(lp-metrics-[0-9a-f]+)$", Pattern.MULTILINE).matcher(printed);
            assertTrue(drawn.find(), printed);
            metricsKey = drawn.group(1);
            String cafeKey = new com.fasterxml.jackson.databind.ObjectMapper().readTree(data.resolve("demo-keys.json").toFile())
                    .get("cafe").asText();
            assertTrue(printed.contains("key " + cafeKey), "the first start shows the demo keys:\n" + printed);

            assertEquals("rwx------", mode(data));
            for (String f : List.of("demo-keys.json", "admin-key.sha256", "metrics-key.sha256")) {
                assertEquals("rw-------", mode(data.resolve(f)), f);
            }

            // the API's port: the metrics key only
            HttpResponse<String> none = get(first.url() + "/metrics", null);
            assertEquals(401, none.statusCode(), none.body());
            assertTrue(none.body().contains("The metrics need the metrics key in an Authorization header (Bearer METRICS_KEY)."),
                    none.body());
            HttpResponse<String> tenant = get(first.url() + "/metrics", cafeKey);
            assertEquals(401, tenant.statusCode(), tenant.body());
            assertTrue(tenant.body().contains("Incorrect metrics key provided."), tenant.body());
            // the chat request makes tenant series, which both ports show to whom they may
            HttpResponse<String> chat = http.send(HttpRequest.newBuilder(URI.create(first.url() + "/v1/chat/completions"))
                    .header("Authorization", "Bearer " + cafeKey).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"cafe\", \"max_tokens\": 2, \"messages\": "
                            + "[{\"role\": \"user\", \"content\": \"hi\"}]}")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, chat.statusCode(), chat.body());
            long until = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            String keyed = "";
            String managed = "";
            while (System.nanoTime() < until && !(keyed.contains("tenant=\"cafe\"") && managed.contains("tenant=\"cafe\""))) {
                HttpResponse<String> withKey = get(first.url() + "/metrics", metricsKey);
                assertEquals(200, withKey.statusCode(), withKey.body());
                keyed = withKey.body();
                HttpResponse<String> onManagement = get("http://127.0.0.1:" + management + "/metrics", null);
                assertEquals(200, onManagement.statusCode(), onManagement.body());
                managed = onManagement.body();
                Thread.sleep(500);
            }
            assertTrue(keyed.contains("loraplex_router_requests_total{") && keyed.contains("tenant=\"cafe\""), keyed);
            assertTrue(managed.contains("loraplex_router_requests_total{") && managed.contains("tenant=\"cafe\""), managed);
            assertClean(first.printed());
        } finally {
            first.kill();
        }

        ServeProcess second = ServeProcess.start(work, data, Map.of());
        try {
            String printed = second.printedOnce("Ctrl-C stops it gracefully", 30);
            assertClean(printed);
            assertTrue(printed.contains("demo tenants (keys in " + data.resolve("demo-keys.json") + ", readable by you alone):"), printed);
            assertFalse(printed.contains("lp-cafe-") || printed.contains("lp-lawfirm-") || printed.contains("lp-admin-")
                    || printed.contains("lp-metrics-"), "a later start shows no key:\n" + printed);
            assertEquals(200, get(second.url() + "/metrics", metricsKey).statusCode(), "the first start's metrics key still holds");
        } finally {
            second.kill();
        }
    }

    @Test
    void theOtherCommandsStartCleanAndBenchLeavesNothingInTheTempFolder() throws Exception {
        Path tmp = Files.createDirectories(work.resolve("private-tmp"));
        Map<String, String> env = Map.of("LORAPLEX_JAVA_OPTS", "-Xmx1g -Djava.io.tmpdir=" + tmp);
        Path model = work.resolve("bench-model");
        for (List<String> args : List.of(List.of("help"), List.of("ctl", "--help"), List.of("serve", "--help"),
                List.of("tiny-model", "--out", model.toString(), "--seed", "3", "--hidden", "64", "--layers", "2", "--intermediate",
                        "128", "--vocab", "600"),
                List.of("bench", "--model", model.toString(), "--prompt-tokens", "8", "--decode-tokens", "4", "--runs", "1",
                        "--threads", "1"))) {
            Launcher.Run r = Launcher.run(work, null, env, args.toArray(String[]::new));
            assertEquals(0, r.exit(), args + ":\n" + r.all());
            assertClean(r.all());
        }
        try (Stream<Path> left = Files.list(tmp)) {
            assertEquals(List.of(), left.toList(), "bench --model without --work-dir leaves nothing in java.io.tmpdir");
        }
    }

    @Test
    void aTakenPortIsOneLineNamingItNoStackTraceAndExitOne() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            int port = taken.getLocalPort();
            for (List<String> flags : List.of(List.of("--port", String.valueOf(port)),
                    List.of("--port", "0", "--cluster-port", String.valueOf(port)),
                    List.of("--port", "0", "--management-port", String.valueOf(port)))) {
                String flag = flags.get(flags.size() - 2);
                String what = switch (flag) {
                    case "--port" -> "the HTTP API";
                    case "--cluster-port" -> "the cluster";
                    default -> "Pekko Management";
                };
                List<String> args = new java.util.ArrayList<>(List.of("serve", "--no-demo", "--data", work.resolve("port-data").toString()));
                args.addAll(flags);
                Launcher.Run r = Launcher.run(work, args.toArray(String[]::new));
                assertEquals(1, r.exit(), r.all());
                assertEquals("loraplex: cannot listen on 127.0.0.1:" + port + " for " + what + " (Address already in use): stop what "
                        + "holds that port, or choose another with " + flag + " (0: any free port)\n", r.stderr(), r.all());
                assertEquals("", r.stdout());
            }
        }
    }
}
