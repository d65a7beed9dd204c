package io.loraplex.router.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.router.testkit.TestRouter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.junit.jupiter.api.Test;

/** Coordinated shutdown: the listener closes, /ready turns 503, an in-flight stream still finishes, then the system stops. */
class GracefulShutdownTest {

    @Test
    void anInFlightStreamFinishesDuringShutdown() throws Exception {
        TestRouter router = new TestRouter("graceful-shutdown-test", true, "");
        try {
            HttpResponse<Stream<String>> response = router.stream("/v1/chat/completions",
                    "{\"model\":\"cafe\",\"messages\":[{\"role\":\"user\",\"content\":\"[paced]\"}],\"stream\":true}");
            assertEquals(200, response.statusCode());
            String id = response.headers().firstValue("x-request-id").orElseThrow();
            List<String> data = new ArrayList<>();
            CompletionStage<Done> shutdown = null;
            try (Stream<String> lines = response.body()) {
                Iterator<String> it = lines.iterator();
                while (it.hasNext()) {
                    String line = it.next();
                    if (!line.startsWith("data: ")) {
                        continue;
                    }
                    data.add(line.substring(6));
                    if (data.size() == 2) { // the role chunk and the first token: now shut down
                        shutdown = CoordinatedShutdown.get(router.system).runAll(CoordinatedShutdown.unknownReason());
                        TestRouter.await(() -> readyIsRefused(router), Duration.ofSeconds(5), "/ready to refuse");
                    }
                }
            }
            assertEquals("[DONE]", data.get(data.size() - 1), "the stream ran to its end");
            String text = String.join("", data.stream().filter(d -> d.contains("\"content\":\"t")).toList());
            for (int i = 0; i < 10; i++) {
                assertTrue(text.contains("t" + i + " "), "token " + i + " arrived: " + data);
            }
            assertTrue(shutdown != null);
            shutdown.toCompletableFuture().get(20, TimeUnit.SECONDS);
            router.system.getWhenTerminated().toCompletableFuture().get(20, TimeUnit.SECONDS);
            assertEquals(1, router.tenants.finishedOf(id).size(), "the tenant heard Finished before the system stopped");
        } finally {
            router.close();
        }
    }

    /** Unbound: a new connection is refused, or a kept-alive one gets 503. */
    private static boolean readyIsRefused(TestRouter router) {
        try {
            return router.send("GET", "/ready", null, null).statusCode() == 503;
        } catch (UncheckedIOException e) {
            return e.getCause() instanceof IOException;
        }
    }
}
