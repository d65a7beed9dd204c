package io.loraplex.router.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraplex.cluster.ContentHash;
import io.loraplex.router.testkit.TestRouter;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * Upload-to-registered latency of a 50 MB adapter over HTTP into the real blob store (stream, hash,
 * fsync, rename), the Adapter entity being the double that answers READY at once: the router's and
 * blob store's share of upload-to-ready. Not part of the default run:
 * {@code ./mvnw -B -o -pl cluster,persistence,router test -Dtest=AdapterUploadBench -Dloraplex.bench=true -Dsurefire.failIfNoSpecifiedTests=false}
 */
@EnabledIfSystemProperty(named = "loraplex.bench", matches = "true")
class AdapterUploadBench {

    static final int MB = 1 << 20;

    @TempDir
    Path blobs;

    @Test
    void uploadOf50Megabytes() throws Exception {
        try (TestRouter router = new TestRouter("adapter-upload-bench", false, "loraplex.router.max-adapter-upload = 128 MiB\npekko.actor.serialize-messages = off", blobs)) {
            byte[] config = "{\"r\": 16, \"peft_type\": \"LORA\"}".getBytes();
            List<Double> seconds = new ArrayList<>();
            for (int run = 0; run < 6; run++) {
                byte[] weights = new byte[50 * MB];
                new Random(run).nextBytes(weights);
                MultipartForm form = new MultipartForm().field("name", "bench-" + run)
                        .file("file", ContentHash.CONFIG_FILE, config).file("file", ContentHash.WEIGHTS_FILE, weights);
                byte[] body = form.body();
                long start = System.nanoTime();
                HttpResponse<String> response = router.http.send(router.request("POST", "/v1/adapters", TestRouter.MANAGE_KEY, null)
                        .header("Content-Type", form.contentType()).POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                        HttpResponse.BodyHandlers.ofString());
                double s = (System.nanoTime() - start) / 1e9;
                assertEquals(201, response.statusCode(), response.body());
                if (run > 0) {
                    seconds.add(s); // the first run warms the JIT
                }
            }
            seconds.sort(Double::compare);
            double median = seconds.get(seconds.size() / 2);
            System.out.printf("50 MB adapter upload to registered: median %.3f s (%.0f MB/s), runs %s%n", median, 50 / median, seconds);
        }
    }
}
