package io.loraplex.deploy;

import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.AdapterDirectory;
import io.loraplex.cluster.TenantId;
import io.loraplex.engine.batch.EngineRequest;
import io.loraplex.engine.batch.GenerationListener;
import io.loraplex.engine.cli.Flags;
import io.loraplex.engine.cli.WorkDir;
import io.loraplex.engine.request.PreparedRequest;
import io.loraplex.engine.request.Prompt;
import io.loraplex.engine.request.RequestParams;
import io.loraplex.engine.request.RequestPreparation;
import io.loraplex.engine.sample.SamplingParams;
import io.loraplex.engine.tokenizer.ChatMessage;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code loraplex bench-http}: the embedded server in this JVM under streaming clients on loopback —
 * requests/s and time to first token (p50, p99) at several concurrencies — and the per-request
 * cost of HTTP and the actors, against the same request given straight to the engine. Clients are
 * minimal keep-alive sockets ({@link LoopbackClient}), so the times are the server's.
 */
final class BenchHttpCommand {

    private BenchHttpCommand() {
    }

    static Flags flags() {
        return new Flags("bench-http", "[flags]")
                .option("data", null, "data directory (default: a temporary one with the generated demo model)")
                .option("concurrency", "1,16,64", "concurrent streaming clients, comma-separated")
                .option("requests", "200", "requests per concurrency level")
                .option("max-tokens", "16", "tokens per response")
                .option("threads", "2", "CPU backend threads")
                .option("overhead-warmup", "3000", "sequential requests on both paths before the overhead is measured");
    }

    record Sample(long ttftNanos, long totalNanos) {
    }

    static int run(Flags f, PrintStream out, PrintStream err) throws Exception {
        try (WorkDir work = WorkDir.of(f.has("data") ? Path.of(f.required("data")) : null, "loraplex-bench-http")) {
            return run(f, work.path(), out, err);
        }
    }

    private static int run(Flags f, Path data, PrintStream out, PrintStream err) throws Exception {
        EmbeddedServer server = EmbeddedServer.start(data, null, ConfigFactory.parseMap(Map.of("loraplex.router.port", 0,
                "loraplex.threads", f.integer("threads"), "pekko.coordinated-shutdown.exit-jvm", "off")), true, err);
        try {
            DemoTenants.Demo demo = server.demos().getFirst();
            // the benchmark measures the server, not the demo tenant's rate limits
            server.setLimits(demo.tenant(), demo.displayName(),
                    new io.loraplex.cluster.tenant.TenantProtocol.Limits(1e6, 1_000_000, 1_000_000_000L, 10_000, 4096));
            int maxTokens = f.integer("max-tokens");
            int requests = f.integer("requests");
            URI base = URI.create(server.url());
            String body = "{\"model\": \"" + demo.adapter().name() + "\", \"stream\": true, \"max_tokens\": " + maxTokens
                    + ", \"ignore_eos\": true, \"temperature\": 0, \"messages\": [{\"role\": \"user\", \"content\": \"What are your opening hours?\"}]}";
            byte[] request = LoopbackClient.post("/v1/chat/completions", base.getAuthority(), demo.apiKey(), body);

            out.printf("model %s, adapter %s, %d tokens per response, %d requests per level; %s%n", server.model().id(),
                    demo.adapter().name(), maxTokens, requests, Runtime.version());
            out.printf("%-12s %12s %14s %14s %14s%n", "concurrency", "requests/s", "TTFT p50 ms", "TTFT p99 ms", "total p50 ms");
            // warm-up: the HTTP and actor paths take thousands of requests to be fully compiled
            measure(base, request, 16, Math.max(2000, requests));
            for (String level : f.required("concurrency").split(",")) {
                int c = Integer.parseInt(level.trim());
                long t0 = System.nanoTime();
                List<Sample> samples = measure(base, request, c, requests);
                double seconds = (System.nanoTime() - t0) / 1e9;
                out.printf("%-12d %12.1f %14.2f %14.2f %14.2f%n", c, samples.size() / seconds,
                        percentile(samples, true, 50), percentile(samples, true, 99), percentile(samples, false, 50));
            }

            // overhead: the same request, one at a time, straight to the engine vs through HTTP and the actors
            // prepared once, as the GPU node prepares the HTTP request: the direct side times the engine alone
            ChatMessage question = new ChatMessage("user", "What are your opening hours?");
            PreparedRequest prepared = RequestPreparation.of(server.model(), RequestPreparation.DEFAULT_MAX_TOKENS).prepare(
                    new Prompt.Chat(List.of(question)), new RequestParams(0.0, null, null, null, null, null, null, null, null, 1,
                            null, null, true, false, 0));
            int[] prompt = prepared.prompt();
            var spec = new io.loraplex.engine.batch.AdapterSpec(demo.adapter().contentHash(), "bench", loader -> loader.load("bench",
                    new AdapterDirectory(server.adapterRoot()).version(demo.adapter())));
            SamplingParams params = prepared.params();
            List<Long> direct = new ArrayList<>();
            List<Long> viaHttp = new ArrayList<>();
            byte[] one = LoopbackClient.post("/v1/chat/completions", base.getAuthority(), demo.apiKey(),
                    body.replace("\"max_tokens\": " + maxTokens, "\"max_tokens\": 1").replace("\"stream\": true, ", ""));
            int warm = f.integer("overhead-warmup");
            try (LoopbackClient client = new LoopbackClient(base)) { // one keep-alive connection, as a real client holds
                for (int i = 0; i < warm + 1000; i++) { // interleaved, so both see the same machine
                    long d = direct(server, demo.tenant(), spec, prompt, params);
                    long h = client.exchange(one, System.nanoTime()).endNanos();
                    if (i >= warm) {
                        direct.add(d);
                        viaHttp.add(h);
                    }
                }
            }
            Collections.sort(direct);
            Collections.sort(viaHttp);
            double directP50 = direct.get(direct.size() / 2) / 1e6;
            double httpP50 = viaHttp.get(viaHttp.size() / 2) / 1e6;
            out.printf("%none-token request, sequential, p50: engine directly %.3f ms, through HTTP + actors %.3f ms: "
                    + "overhead %.3f ms per request%n", directP50, httpP50, httpP50 - directP50);
        } finally {
            server.stop();
        }
        return 0;
    }

    private static long direct(EmbeddedServer server, TenantId tenant, io.loraplex.engine.batch.AdapterSpec spec, int[] prompt,
            SamplingParams params) throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        long t0 = System.nanoTime();
        AtomicLong end = new AtomicLong();
        server.engine().submit(EngineRequest.generate("direct", tenant, spec, prompt, params), new GenerationListener() {
            @Override
            public void onToken(Token token) {
            }

            @Override
            public void onFinish(Completion completion) {
                end.set(System.nanoTime());
                done.countDown();
            }
        });
        done.await(60, TimeUnit.SECONDS);
        return end.get() - t0;
    }

    /** {@code total} requests from {@code concurrency} keep-alive clients; each sample is its TTFT and total time. */
    static List<Sample> measure(URI base, byte[] request, int concurrency, int total) throws Exception {
        List<Sample> samples = Collections.synchronizedList(new ArrayList<>());
        AtomicLong remaining = new AtomicLong(total);
        List<CompletableFuture<Void>> clients = new ArrayList<>();
        try (var executor = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            for (int c = 0; c < concurrency; c++) {
                clients.add(CompletableFuture.runAsync(() -> {
                    try (LoopbackClient client = new LoopbackClient(base)) {
                        while (remaining.getAndDecrement() > 0) {
                            LoopbackClient.Timing t = client.exchange(request, System.nanoTime());
                            if (t.status() != 200) {
                                throw new IllegalStateException("HTTP " + t.status());
                            }
                            samples.add(new Sample(t.firstTextNanos(), t.endNanos()));
                        }
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }, executor));
            }
            CompletableFuture.allOf(clients.toArray(CompletableFuture[]::new)).get(600, TimeUnit.SECONDS);
        }
        return new ArrayList<>(samples);
    }

    static double percentile(List<Sample> samples, boolean ttft, int p) {
        long[] v = samples.stream().mapToLong(s -> ttft ? s.ttftNanos() : s.totalNanos()).toArray();
        Arrays.sort(v);
        int i = Math.min(v.length - 1, (int) Math.ceil(p / 100.0 * v.length) - 1);
        return v[Math.max(0, i)] / 1e6;
    }
}
