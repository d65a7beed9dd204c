package io.loraplex.router.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraplex.router.testkit.HostileClients;
import io.loraplex.router.testkit.TestRouter;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Chat latency (p50, p99) of a well-behaved client, sequential non-streaming chats on one kept-alive
 * connection against the GPU node double, without hostile connections, with 2000 of them open (1000
 * silent, 1000 trickling a header byte every 300 ms), and again after they close. The limits are
 * raised so the 2000 stay open while measured. Not part of the default run:
 * {@code ./mvnw -B -o -pl cluster,persistence,router test -Dtest=HostileConnectionsBench -Dloraplex.bench=true -Dsurefire.failIfNoSpecifiedTests=false}
 */
@EnabledIfSystemProperty(named = "loraplex.bench", matches = "true")
class HostileConnectionsBench {

    static final int HOSTILE = 2000;
    static final int CHATS = 600;

    @Test
    void chatLatencyWithAndWithout2000HostileConnections() throws Exception {
        try (TestRouter router = new TestRouter("hostile-connections-bench", true, """
                pekko.actor.serialize-messages = off
                loraplex.router.connections { first-request-timeout = 10 minutes, header-timeout = 10 minutes }
                """);
                HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
            measure(router, client, 2 * CHATS); // JIT warm-up
            double[] before = measure(router, client, CHATS);
            long start = System.nanoTime();
            double[] during;
            try (HostileClients hostile = HostileClients.open(HostileClientsTest.address(router), HOSTILE / 2, HOSTILE / 2,
                    Duration.ofMillis(300))) {
                TestRouter.await(() -> router.binding.openConnections() >= HOSTILE, Duration.ofSeconds(60), "the hostile connections");
                double accepted = (System.nanoTime() - start) / 1e9;
                during = measure(router, client, CHATS);
                System.out.printf("%d hostile connections opened and accepted in %.2f s; connections open after the run: %d%n",
                        HOSTILE, accepted, router.binding.openConnections());
            }
            TestRouter.await(() -> router.binding.openConnections() <= 1, Duration.ofSeconds(30), "the hostile connections to close");
            double[] after = measure(router, client, CHATS);
            report("without hostile connections", before);
            report("with " + HOSTILE + " hostile connections", during);
            report("after they closed", after);
            System.out.printf("p99 with / p99 without (the worse of before and after: %.2f, the better: %.2f)%n",
                    percentile(during, 0.99) / Math.max(percentile(before, 0.99), percentile(after, 0.99)),
                    percentile(during, 0.99) / Math.min(percentile(before, 0.99), percentile(after, 0.99)));
        }
    }

    /** Milliseconds of each of {@code n} sequential chats, sorted. */
    private static double[] measure(TestRouter router, HttpClient client, int n) throws Exception {
        double[] ms = new double[n];
        for (int i = 0; i < n; i++) {
            long start = System.nanoTime();
            HttpResponse<String> response = client.send(router.request("POST", "/v1/chat/completions", TestRouter.KEY,
                    HostileClientsTest.CHAT).build(), HttpResponse.BodyHandlers.ofString());
            ms[i] = (System.nanoTime() - start) / 1e6;
            assertEquals(200, response.statusCode(), response.body());
        }
        Arrays.sort(ms);
        return ms;
    }

    private static double percentile(double[] sorted, double p) {
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p * sorted.length) - 1)];
    }

    private static void report(String phase, double[] sorted) {
        System.out.printf("%-36s chats %d  p50 %.2f ms  p99 %.2f ms  max %.2f ms%n", phase, sorted.length,
                percentile(sorted, 0.50), percentile(sorted, 0.99), sorted[sorted.length - 1]);
    }
}
