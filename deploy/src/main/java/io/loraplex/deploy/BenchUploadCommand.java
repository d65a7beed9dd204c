package io.loraplex.deploy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.cli.Flags;
import io.loraplex.engine.cli.WorkDir;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.Architecture;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.TinyModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * {@code loraplex bench-upload}: upload-to-ready latency of a large adapter through the whole
 * lifecycle of the embedded server — HTTP multipart streamed into the blob store, fsync and rename,
 * the Adapter entity's events on the H2 journal, the storage reservation, and validation on the GPU
 * node (every weight read and checked against the base) — as a tenant sees it: from the first byte
 * sent to the {@code 201} of a READY version.
 */
final class BenchUploadCommand {

    private static final String ADMIN_KEY = "lp-admin-bench-upload";

    private BenchUploadCommand() {
    }

    static Flags flags() {
        return new Flags("bench-upload", "[flags]")
                .option("model", null, "model directory (default: a generated ~100M-parameter llama, hidden 1024, 8 layers)")
                .option("work-dir", null, "where the model, data and adapters go, kept (default: a temporary directory, deleted at the end)")
                .option("rank", "96", "LoRA rank of the uploaded adapters (all seven projections; 96 on the default model: ~56 MB)")
                .option("runs", "5", "uploads, each a different adapter")
                .option("threads", "2", "CPU backend threads");
    }

    static int run(Flags f, PrintStream out, PrintStream err) throws Exception {
        try (WorkDir work = WorkDir.of(f.has("work-dir") ? Path.of(f.required("work-dir")) : null, "loraplex-bench-upload")) {
            return run(f, work.path(), out, err);
        }
    }

    private static int run(Flags f, Path work, PrintStream out, PrintStream err) throws Exception {
        Path modelDir = f.has("model") ? Path.of(f.required("model")) : work.resolve("model");
        if (!Files.exists(modelDir.resolve("config.json"))) {
            err.println("generating a ~100M-parameter model in " + modelDir);
            TinyModel.write(modelDir, new TinyModel.Spec(Architecture.LLAMA, 1024, 8, 16, 4, null, 2816, 8192, DType.F32, null, null,
                    2048, null, 0, null, null, 1, 7));
        }
        Path data = work.resolve("data-" + UUID.randomUUID());
        EmbeddedServer server = EmbeddedServer.start(data, modelDir, ConfigFactory.parseMap(Map.of("loraplex.router.port", 0,
                "loraplex.threads", f.integer("threads"), "loraplex.admin-key", ADMIN_KEY,
                "loraplex.router.max-adapter-upload", 1L << 30, "loraplex.engine.max-lora-rank", 256,
                "pekko.coordinated-shutdown.exit-jvm", "off")), false, err);
        HttpClient http = HttpClient.newHttpClient();
        ObjectMapper json = new ObjectMapper();
        try {
            send(http, server.url() + "/v1/admin/tenants", ADMIN_KEY, "application/json", "{\"id\": \"bench\"}".getBytes());
            String key = json.readTree(send(http, server.url() + "/v1/admin/tenants/bench/keys", ADMIN_KEY, "application/json",
                    "{\"scopes\": [\"manage\"]}".getBytes()).body()).get("key").asText();
            List<Double> seconds = new ArrayList<>();
            long bytes = 0;
            for (int i = 0; i < f.integer("runs"); i++) {
                Path adapter = work.resolve("adapter-" + i);
                AdapterWriter.writeRandom(adapter, server.model().model().config(), EnumSet.allOf(TargetModule.class), f.integer("rank"),
                        2 * f.integer("rank"), false, DType.F32, 1000 + i);
                byte[] config = Files.readAllBytes(adapter.resolve(ContentHash.CONFIG_FILE));
                byte[] weights = Files.readAllBytes(adapter.resolve(ContentHash.WEIGHTS_FILE));
                bytes = config.length + weights.length;
                String boundary = "bench-" + UUID.randomUUID();
                byte[] body = form(boundary, "adapter-" + i, config, weights);
                long t0 = System.nanoTime();
                HttpResponse<String> r = send(http, server.url() + "/v1/adapters", key, "multipart/form-data; boundary=" + boundary, body);
                double s = (System.nanoTime() - t0) / 1e9;
                if (r.statusCode() != 201) {
                    throw new IllegalStateException("upload " + i + " answered " + r.statusCode() + ": " + r.body());
                }
                seconds.add(s);
                out.printf("upload %d: %.1f MB ready in %.3f s%n", i, bytes / 1e6, s);
            }
            Collections.sort(seconds);
            out.printf("model %s (%.1fM parameters), adapter rank %d, %.1f MB: upload-to-ready median %.3f s, min %.3f s, max %.3f s"
                            + " (%d runs, %s)%n", server.model().id(), server.model().model().config().parameterCount() / 1e6,
                    f.integer("rank"), bytes / 1e6, seconds.get(seconds.size() / 2), seconds.getFirst(), seconds.getLast(),
                    seconds.size(), Runtime.version());
            return 0;
        } finally {
            server.stop();
        }
    }

    private static byte[] form(String boundary, String name, byte[] config, byte[] weights) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n" + name + "\r\n")
                .getBytes(StandardCharsets.UTF_8));
        for (Map.Entry<String, byte[]> file : Map.of(ContentHash.CONFIG_FILE, config, ContentHash.WEIGHTS_FILE, weights).entrySet()) {
            b.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + file.getKey() + "\"; filename=\""
                    + file.getKey() + "\"\r\nContent-Type: application/octet-stream\r\n\r\n").getBytes(StandardCharsets.UTF_8));
            b.writeBytes(file.getValue());
            b.writeBytes("\r\n".getBytes(StandardCharsets.UTF_8));
        }
        b.writeBytes(("--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        return b.toByteArray();
    }

    private static HttpResponse<String> send(HttpClient http, String url, String key, String contentType, byte[] body)
            throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + key)
                .header("Content-Type", contentType).POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
