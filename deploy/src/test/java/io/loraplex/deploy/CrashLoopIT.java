package io.loraplex.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.loraplex.cluster.ContentHash;
import io.loraplex.engine.lora.AdapterWriter;
import io.loraplex.engine.lora.TargetModule;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.model.ModelConfig;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The crash loop: every acknowledged write survives a SIGKILL at any moment, on a busy server.
 *
 * <p>Writers issue acknowledged writes of every kind at once — tenants and their limits, API keys
 * and their revocation, adapter uploads, promotes, canaries, rollbacks and deletes, training files
 * and their deletion, fine-tuning jobs — while streaming chats run beside them (and so usage
 * flushes). The packaged {@code serve} is SIGKILLed 0-15 s after an acknowledgement (a quarter of
 * the kills at once), restarted on the same data directory, and every acknowledged write is checked
 * against what the server then answers. Each writer is sequential, so at most one of its writes is
 * unacknowledged when the kill lands: that one may or may not have happened, and either outcome is
 * accepted; anything else that differs is a lost write.
 *
 * <p>It runs on the embedded journal ({@value #KILLS} kills) and on Cassandra ({@value #CASSANDRA_KILLS}
 * kills; the one on 127.0.0.1:9042, or one started with {@code deploy/cassandra/cassandra.sh}). Its own
 * profile: {@code ./mvnw -B -Pcrash-loop -pl deploy -am verify -Dtest=NONE
 * -Dsurefire.failIfNoSpecifiedTests=false} ({@code -Dloraplex.crash-loop.kills=N} for another count
 * on both). It writes its figures to {@code target/crash-loop-<journal>.txt}.
 */
@Tag("crash-loop")
class CrashLoopIT {

    static final String ADMIN_KEY = "lp-admin-crash-loop";
    static final int KILLS = 50;
    static final int CASSANDRA_KILLS = 50;
    static final int MIN_ACKNOWLEDGED = 500;
    static final long MAX_KILL_DELAY_MS = 15_000;
    static final ObjectMapper json = new ObjectMapper();

    @TempDir
    Path work;

    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    final AtomicLong acknowledged = new AtomicLong();
    final Object ackMonitor = new Object();
    final List<String> lost = new ArrayList<>();
    final List<String> refusals = java.util.Collections.synchronizedList(new ArrayList<>());
    String url;
    ModelConfig model;

    @Test
    void everyAcknowledgedWriteSurvivesRepeatedSigkillsUnderLoadOnTheEmbeddedJournal() throws Exception {
        crashLoop("embedded", Integer.getInteger("loraplex.crash-loop.kills", KILLS));
    }

    @Test
    void everyAcknowledgedWriteSurvivesRepeatedSigkillsUnderLoadOnCassandra() throws Exception {
        ClusterLimitsIT.ensureCassandra();
        Path config = work.resolve("cassandra.conf");
        Files.writeString(config, "loraplex.cassandra.keyspace = \"crashloop_" + System.currentTimeMillis() + "\"\n");
        crashLoop("cassandra", Integer.getInteger("loraplex.crash-loop.kills", CASSANDRA_KILLS),
                "--journal", "cassandra", "--cassandra", "127.0.0.1:9042", "--config", config.toString());
    }

    void crashLoop(String journal, int kills, String... journalArgs) throws Exception {
        Path data = work.resolve("data");
        Map<String, String> env = Map.of("LORAPLEX_ADMIN_KEY", ADMIN_KEY);
        long seed = Long.getLong("loraplex.crash-loop.seed", System.nanoTime());
        Random random = new Random(seed);
        List<String> args = new ArrayList<>(List.of("--no-demo", "--threads", "1"));
        args.addAll(List.of(journalArgs));
        String[] serveArgs = args.toArray(String[]::new);
        ServeProcess server = ServeProcess.start(work, data, env, serveArgs);
        url = server.url();
        model = ModelConfig.load(data.resolve("model"));

        ok(send("POST", "/v1/admin/tenants", ADMIN_KEY, "{\"id\": \"acme\"}"));
        String manage = json.readTree(ok(send("POST", "/v1/admin/tenants/acme/keys", ADMIN_KEY,
                "{\"scopes\": [\"chat\", \"manage\"]}")).body()).get("key").asText();
        Path chatAdapter = adapter("chat-adapter", 1);
        ok(upload(manage, "chat", chatAdapter));
        ok(send("POST", "/v1/adapters/chat/promote", manage, "{}"));

        List<Writer> writers = List.of(new TenantWriter(), new KeyWriter(), new VersionWriter(manage, "alpha"),
                new VersionWriter(manage, "beta"), new FileWriter(manage));
        int killed = 0;
        long chatTokens = 0;
        long startedAt = System.nanoTime();
        try {
            for (int cycle = 1; cycle <= kills; cycle++) {
                AtomicBoolean stop = new AtomicBoolean();
                AtomicLong tokens = new AtomicLong();
                List<Thread> threads = new ArrayList<>();
                for (Writer w : writers) {
                    threads.add(Thread.ofVirtual().name(w.getClass().getSimpleName()).start(() -> w.run(stop, random.nextLong())));
                }
                for (int c = 0; c < 6; c++) {
                    threads.add(Thread.ofVirtual().start(() -> chatUntil(stop, manage, tokens)));
                }
                // the kill lands 0-15 s after an acknowledgement; a quarter of them at once
                long before = acknowledged.get();
                awaitAcknowledgements(before + 5);
                long delay = random.nextInt(4) == 0 ? 0 : (long) (random.nextDouble() * MAX_KILL_DELAY_MS);
                awaitAcknowledgements(acknowledged.get() + 1);
                Thread.sleep(delay);
                server.kill();
                killed++;
                stop.set(true);
                for (Thread t : threads) {
                    t.join(Duration.ofSeconds(60));
                }
                chatTokens += tokens.get();

                server = ServeProcess.start(work, data, env, serveArgs);
                url = server.url();
                for (Writer w : writers) {
                    w.checkAndResync(cycle);
                }
                System.out.printf("crash loop (%s): kill %d after %d ms, %d acknowledged writes so far, %d lost%n",
                        journal, killed, delay, acknowledged.get(), lost.size());
            }
            // the deletes' clean-ups finished, whenever the kills fell: every stored blob belongs to a live version
            awaitBlobsMatchVersions(data, manage);
        } finally {
            server.kill();
        }
        long seconds = (System.nanoTime() - startedAt) / 1_000_000_000L;
        String figures = "journal=%s kills=%d acknowledged_writes=%d lost=%d refused=%d chat_tokens=%d seconds=%d seed=%d%n".formatted(
                journal, killed, acknowledged.get(), lost.size(), refusals.size(), chatTokens, seconds, seed);
        Files.writeString(Path.of("target", "crash-loop-" + journal + ".txt"), figures + String.join("\n", lost) + "\n"
                + String.join("\n", refusals));
        System.out.print("crash loop: " + figures);
        assertEquals(List.of(), lost, "acknowledged writes lost");
        // a refusal writes nothing, but a server error under the loop is a failure of its own
        assertEquals(List.of(), refusals.stream().filter(r -> r.matches(".*: 5\\d\\d .*")).toList(), "server errors");
        assertEquals(kills, killed);
        assertTrue(acknowledged.get() >= MIN_ACKNOWLEDGED, "only " + acknowledged.get() + " acknowledged writes");
    }

    // ---- the writers ----

    /**
     * One sequential stream of writes of one kind with the state they acknowledged. {@code step} does
     * one write and returns whether it was acknowledged; {@link #pending} names a write whose answer
     * never came (the kill), which {@link #checkAndResync} accepts either way.
     */
    abstract class Writer {
        Object pending;

        void run(AtomicBoolean stop, long seed) {
            Random random = new Random(seed);
            while (!stop.get()) {
                try {
                    boolean written = step(random);
                    pending = null;
                    if (written) {
                        acknowledged();
                    }
                } catch (Refused e) {
                    // answered, and not with a 2xx: nothing acknowledged; a 5xx is a failure of its own
                    pending = null;
                    refusals.add(getClass().getSimpleName() + ": " + e.getMessage());
                    try {
                        resync();
                    } catch (IOException | InterruptedException gone) {
                        return;
                    }
                } catch (IOException | RuntimeException e) {
                    if (stop.get() || isDead(e)) {
                        return; // the write in flight stays pending
                    }
                    throw e instanceof RuntimeException r ? r : new IllegalStateException(e);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        abstract boolean step(Random random) throws IOException, InterruptedException;

        abstract void checkAndResync(int cycle) throws IOException, InterruptedException;

        /** After a refusal: take the server's state as the acknowledged one (nothing was acknowledged). */
        void resync() throws IOException, InterruptedException {
        }

        void lose(int cycle, String what) {
            synchronized (lost) {
                lost.add("after kill " + cycle + ": " + what);
            }
        }
    }

    /**
     * Creates tenants (up to {@value #TENANTS}, so that each start wakes a bounded number), and sets
     * a new tokens-per-minute limit on existing ones.
     */
    final class TenantWriter extends Writer {
        static final int TENANTS = 40;
        final Map<String, Long> tokensPerMinute = new TreeMap<>();
        int created;
        long nextLimit = 1_000_000;

        record SetLimit(String tenant, long limit) {
        }

        @Override
        boolean step(Random random) throws IOException, InterruptedException {
            String id = tokensPerMinute.size() < TENANTS && random.nextInt(3) == 0 || tokensPerMinute.isEmpty() ? "t" + (++created)
                    : List.copyOf(tokensPerMinute.keySet()).get(random.nextInt(tokensPerMinute.size()));
            long limit = ++nextLimit;
            pending = new SetLimit(id, limit);
            ok(send("POST", "/v1/admin/tenants", ADMIN_KEY, "{\"id\": \"" + id + "\", \"limits\": {\"tokens_per_minute\": " + limit + "}}"));
            tokensPerMinute.put(id, limit);
            return true;
        }

        /** One listing of every tenant with its limits (each tenant entity answers for itself). */
        @Override
        void checkAndResync(int cycle) throws IOException, InterruptedException {
            JsonNode list = json.readTree(ok(send("GET", "/v1/admin/tenants", ADMIN_KEY, null)).body());
            Map<String, Long> listed = new HashMap<>();
            for (JsonNode t : list.get("data")) {
                listed.put(t.get("id").asText(), t.at("/limits/tokens_per_minute").asLong());
            }
            SetLimit inFlight = (SetLimit) pending;
            for (var e : tokensPerMinute.entrySet()) {
                Long now = listed.get(e.getKey());
                boolean either = inFlight != null && inFlight.tenant().equals(e.getKey()) && Objects.equals(now, inFlight.limit());
                if (!Objects.equals(now, e.getValue()) && !either) {
                    lose(cycle, "tenant " + e.getKey() + ": tokens_per_minute " + e.getValue() + " acknowledged, the server lists "
                            + (now == null ? "no such tenant" : now));
                }
                if (now != null) {
                    e.setValue(now);
                }
            }
            if (inFlight != null && !tokensPerMinute.containsKey(inFlight.tenant()) && listed.containsKey(inFlight.tenant())) {
                tokensPerMinute.put(inFlight.tenant(), listed.get(inFlight.tenant()));
            }
            pending = null;
        }
    }

    /**
     * Creates chat keys for one tenant and revokes some (at most {@value #LIVE} live at once): every
     * key created is listed and every key revoked is not; those of the last cycle also authenticate,
     * or no longer do.
     */
    final class KeyWriter extends Writer {
        static final int LIVE = 10;
        final Map<String, String> live = new LinkedHashMap<>(); // key id -> key
        final Map<String, String> revoked = new LinkedHashMap<>();
        final Map<String, String> recent = new LinkedHashMap<>(); // written since the last check

        record Revoke(String keyId) {
        }

        @Override
        boolean step(Random random) throws IOException, InterruptedException {
            if (live.size() >= LIVE || live.size() >= 3 && random.nextInt(3) == 0) {
                String keyId = List.copyOf(live.keySet()).get(random.nextInt(live.size()));
                pending = new Revoke(keyId);
                ok(send("DELETE", "/v1/admin/tenants/acme/keys/" + keyId, ADMIN_KEY, null));
                revoked.put(keyId, live.remove(keyId));
                recent.put(keyId, revoked.get(keyId));
            } else {
                pending = "create";
                JsonNode key = json.readTree(ok(send("POST", "/v1/admin/tenants/acme/keys", ADMIN_KEY,
                        "{\"scopes\": [\"chat\"]}")).body());
                live.put(key.get("id").asText(), key.get("key").asText());
                recent.put(key.get("id").asText(), key.get("key").asText());
            }
            return true;
        }

        @Override
        void checkAndResync(int cycle) throws IOException, InterruptedException {
            Revoke inFlight = pending instanceof Revoke r ? r : null;
            java.util.Set<String> listed = new java.util.HashSet<>();
            for (JsonNode k : json.readTree(ok(send("GET", "/v1/admin/tenants/acme/keys", ADMIN_KEY, null)).body()).get("data")) {
                listed.add(k.get("id").asText());
            }
            for (String keyId : List.copyOf(live.keySet())) {
                if (!listed.contains(keyId) && inFlight != null && inFlight.keyId().equals(keyId)) {
                    revoked.put(keyId, live.remove(keyId)); // the unanswered revocation happened
                } else if (!listed.contains(keyId)) {
                    lose(cycle, "key " + keyId + " was created, the server does not list it");
                }
            }
            for (String keyId : revoked.keySet()) {
                if (listed.contains(keyId)) {
                    lose(cycle, "key " + keyId + " was revoked, the server lists it");
                }
            }
            // the index that authenticates is rebuilt from the tenants at each start: the keys written last must hold there too
            for (var e : recent.entrySet()) {
                int status = send("GET", "/v1/models", e.getValue(), null).statusCode();
                int expected = live.containsKey(e.getKey()) ? 200 : 401;
                if (status != expected) {
                    lose(cycle, "key " + e.getKey() + " should answer " + expected + ", the server answers " + status);
                }
            }
            recent.clear();
            pending = null;
        }
    }

    /** Uploads versions of one adapter, promotes, starts and stops canaries, rolls back and deletes it. */
    final class VersionWriter extends Writer {
        final String key;
        final String name;
        View acked = View.ABSENT;
        int seed;

        /** What the writes decide about an adapter: its versions' hashes, the promoted and canary version. */
        record View(Map<Integer, String> hashes, Integer promoted, Integer canary) {
            static final View ABSENT = new View(Map.of(), null, null);

            static View of(JsonNode adapter) {
                Map<Integer, String> hashes = new TreeMap<>();
                for (JsonNode v : adapter.get("versions")) {
                    hashes.put(v.get("version").asInt(), v.get("hash").asText());
                }
                return new View(hashes, number(adapter.get("promoted_version")), number(adapter.get("canary_version")));
            }

            static Integer number(JsonNode n) {
                return n == null || n.isNull() ? null : n.asInt();
            }
        }

        /** A write in flight and the views it may leave behind besides the acknowledged one. */
        record Write(String what, java.util.function.Predicate<View> outcome) {
        }

        VersionWriter(String key, String name) {
            this.key = key;
            this.name = name;
        }

        @Override
        boolean step(Random random) throws IOException, InterruptedException {
            View before = acked;
            List<Integer> versions = List.copyOf(before.hashes().keySet());
            int choice = versions.size() < 3 ? 0 : 1 + random.nextInt(8);
            if (choice == 0) {
                Path dir = adapter(name + "-" + (++seed), seed * 31 + name.hashCode());
                String hash = ContentHash.ofDirectory(dir).hex();
                pending = new Write("upload " + hash, v -> v.hashes().size() == before.hashes().size() + 1
                        && v.hashes().entrySet().containsAll(before.hashes().entrySet()) && v.hashes().containsValue(hash));
                HttpResponse<String> r = upload(key, name, dir);
                if (r.statusCode() != 201 && r.statusCode() != 202) {
                    throw new Refused(r);
                }
                Map<Integer, String> hashes = new TreeMap<>(before.hashes());
                JsonNode version = json.readTree(r.body());
                hashes.put(version.get("version").asInt(), version.get("hash").asText());
                acked = new View(hashes, before.promoted(), before.canary());
            } else if (choice <= 3) {
                int version = versions.get(random.nextInt(versions.size()));
                pending = new Write("promote " + version, v -> v.hashes().equals(before.hashes()) && Objects.equals(v.promoted(), version));
                acked = View.of(json.readTree(ok(send("POST", "/v1/adapters/" + name + "/promote", key, "{\"version\": " + version + "}")).body()));
            } else if (choice <= 5) {
                if (before.promoted() == null) {
                    return false; // a canary needs a promoted version beside it
                }
                if (before.canary() != null) {
                    // one canary at a time: stop this one
                    pending = new Write("stop canary", v -> v.hashes().equals(before.hashes()) && v.canary() == null);
                    acked = View.of(json.readTree(ok(send("POST", "/v1/adapters/" + name + "/canary", key, "{\"share\": 0}")).body()));
                    return true;
                }
                List<Integer> others = versions.stream().filter(v -> !v.equals(before.promoted()) && !v.equals(before.canary())).toList();
                if (others.isEmpty()) {
                    return false;
                }
                int version = others.get(random.nextInt(others.size()));
                pending = new Write("canary " + version, v -> v.hashes().equals(before.hashes()) && Objects.equals(v.canary(), version));
                acked = View.of(json.readTree(ok(send("POST", "/v1/adapters/" + name + "/canary", key,
                        "{\"version\": " + version + ", \"share\": 0.25}")).body()));
            } else if (choice <= 7) {
                if (before.promoted() == null) {
                    return false;
                }
                pending = new Write("rollback", v -> v.hashes().equals(before.hashes()));
                HttpResponse<String> r = send("POST", "/v1/adapters/" + name + "/rollback", key, "{}");
                if (r.statusCode() == 409) {
                    return false; // nothing to roll back to: refused, nothing written
                }
                acked = View.of(json.readTree(ok(r).body()));
            } else {
                pending = new Write("delete", v -> v.equals(View.ABSENT));
                ok(send("DELETE", "/v1/adapters/" + name, key, null));
                acked = View.ABSENT;
            }
            return true;
        }

        @Override
        void resync() throws IOException, InterruptedException {
            acked = read();
        }

        View read() throws IOException, InterruptedException {
            HttpResponse<String> r = send("GET", "/v1/adapters/" + name, key, null);
            if (r.statusCode() == 404) {
                return View.ABSENT;
            }
            return View.of(json.readTree(ok(r).body()));
        }

        @Override
        void checkAndResync(int cycle) throws IOException, InterruptedException {
            View now = read();
            Write inFlight = (Write) pending;
            if (!now.equals(acked) && (inFlight == null || !inFlight.outcome().test(now))) {
                lose(cycle, "adapter " + name + ": acknowledged " + acked + (inFlight == null ? "" : " (then " + inFlight.what()
                        + " unanswered)") + ", the server has " + now);
            }
            acked = now;
            pending = null;
        }
    }

    /** Uploads training files, deletes some, and now and then starts a fine-tuning job on one. */
    final class FileWriter extends Writer {
        final String key;
        final List<String> files = new ArrayList<>();
        final List<String> deleted = new ArrayList<>();
        final List<String> jobs = new ArrayList<>();
        int writes;

        FileWriter(String key) {
            this.key = key;
        }

        record Delete(String file) {
        }

        @Override
        boolean step(Random random) throws IOException, InterruptedException {
            writes++;
            if (files.size() >= 3 && writes % 25 == 0 && jobs.size() < 12) {
                pending = "job";
                String body = "{\"training_file\": \"" + files.getLast() + "\", \"model\": \"" + EmbeddedServer.DEMO_MODEL_ID
                        + "\", \"suffix\": \"job" + jobs.size() + "\", \"hyperparameters\": {\"n_epochs\": 1}}";
                jobs.add(json.readTree(ok(send("POST", "/v1/fine_tuning/jobs", key, body)).body()).get("id").asText());
            } else if (files.size() >= 4 && random.nextInt(3) == 0) {
                String id = files.removeFirst();
                pending = new Delete(id);
                ok(send("DELETE", "/v1/files/" + id, key, null));
                deleted.add(id);
            } else {
                pending = "upload";
                byte[] pairs;
                try (var in = CrashLoopIT.class.getResourceAsStream("/demo/cafe.jsonl")) {
                    pairs = in.readAllBytes();
                }
                Multipart form = new Multipart().field("purpose", "fine-tune").file("file", "pairs-" + writes + ".jsonl", pairs);
                files.add(json.readTree(ok(http.send(HttpRequest.newBuilder(URI.create(url + "/v1/files"))
                        .header("Authorization", "Bearer " + key).header("Content-Type", form.contentType())
                        .timeout(Duration.ofSeconds(30)).POST(form.publisher()).build(), HttpResponse.BodyHandlers.ofString())).body())
                        .get("id").asText());
            }
            return true;
        }

        /** One listing of the tenant's files; each job on its own (a dozen at most). */
        @Override
        void checkAndResync(int cycle) throws IOException, InterruptedException {
            java.util.Set<String> listed = new java.util.HashSet<>();
            for (JsonNode f : json.readTree(ok(send("GET", "/v1/files", key, null)).body()).get("data")) {
                listed.add(f.get("id").asText());
            }
            for (String id : files) {
                if (!listed.contains(id)) {
                    lose(cycle, "file " + id + " was stored, the server does not list it");
                }
            }
            for (String id : deleted) {
                if (listed.contains(id)) {
                    lose(cycle, "file " + id + " was deleted, the server lists it");
                }
            }
            String unanswered = pending instanceof Delete d ? d.file() : null;
            if (unanswered != null) {
                (listed.contains(unanswered) ? files : deleted).add(unanswered);
            }
            for (String id : jobs) {
                int status = send("GET", "/v1/fine_tuning/jobs/" + id, key, null).statusCode();
                if (status != 200) {
                    lose(cycle, "fine-tuning job " + id + " was created, the server answers " + status);
                }
            }
            pending = null;
        }
    }

    /** Waits up to 60 s until the tenant's blob directories are exactly the hashes its adapters' versions hold. */
    void awaitBlobsMatchVersions(Path data, String key) throws Exception {
        Path blobs = data.resolve("blobs").resolve("acme");
        java.util.Set<String> held = new java.util.TreeSet<>();
        java.util.Set<String> stored = new java.util.TreeSet<>();
        long until = System.nanoTime() + 60_000_000_000L;
        do {
            held.clear();
            stored.clear();
            for (JsonNode a : json.readTree(ok(send("GET", "/v1/adapters", key, null)).body()).get("data")) {
                JsonNode full = json.readTree(ok(send("GET", "/v1/adapters/" + a.get("name").asText(), key, null)).body());
                for (JsonNode v : full.get("versions")) {
                    if (!java.util.Set.of("rejected", "deleted").contains(v.get("state").asText())) {
                        held.add(v.get("hash").asText());
                    }
                }
            }
            try (Stream<Path> dirs = Files.list(blobs)) {
                dirs.forEach(d -> stored.add(d.getFileName().toString()));
            }
            if (held.equals(stored)) {
                return;
            }
            Thread.sleep(500);
        } while (System.nanoTime() < until);
        lost.add("blobs of acme: stored " + stored + ", held by versions " + held);
    }

    // ---- traffic and plumbing ----

    void chatUntil(AtomicBoolean stop, String key, AtomicLong tokens) {
        String body = "{\"model\": \"chat\", \"stream\": true, \"max_tokens\": 64, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}";
        while (!stop.get()) {
            try {
                HttpResponse<Stream<String>> r = http.send(HttpRequest.newBuilder(URI.create(url + "/v1/chat/completions"))
                        .header("Authorization", "Bearer " + key).header("Content-Type", "application/json")
                        .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                        HttpResponse.BodyHandlers.ofLines());
                try (Stream<String> lines = r.body()) {
                    tokens.addAndGet(lines.filter(l -> l.startsWith("data: {")).count());
                }
            } catch (IOException | RuntimeException e) {
                if (!stop.get()) {
                    sleepQuietly(100); // the server is being killed or restarted
                }
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    void acknowledged() {
        acknowledged.incrementAndGet();
        synchronized (ackMonitor) {
            ackMonitor.notifyAll();
        }
    }

    void awaitAcknowledgements(long count) throws InterruptedException {
        long until = System.nanoTime() + 120_000_000_000L;
        synchronized (ackMonitor) {
            while (acknowledged.get() < count) {
                long left = (until - System.nanoTime()) / 1_000_000;
                assertTrue(left > 0, "no acknowledged write for 120 s (" + acknowledged.get() + " so far)");
                ackMonitor.wait(left);
            }
        }
    }

    Path adapter(String dirName, int seed) throws IOException {
        Path dir = work.resolve("adapters").resolve(dirName);
        AdapterWriter.writeRandom(dir, model, EnumSet.of(TargetModule.Q_PROJ), 4, 8, false, DType.F32, seed);
        return dir;
    }

    HttpResponse<String> upload(String key, String name, Path dir) throws IOException, InterruptedException {
        Multipart form = new Multipart().field("name", name)
                .file(ContentHash.CONFIG_FILE, dir.resolve(ContentHash.CONFIG_FILE))
                .file(ContentHash.WEIGHTS_FILE, dir.resolve(ContentHash.WEIGHTS_FILE));
        return http.send(HttpRequest.newBuilder(URI.create(url + "/v1/adapters")).header("Authorization", "Bearer " + key)
                .header("Content-Type", form.contentType()).timeout(Duration.ofSeconds(60)).POST(form.publisher()).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> send(String method, String path, String key, String body) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path)).header("Authorization", "Bearer " + key)
                .timeout(Duration.ofSeconds(60));
        if (body != null) {
            b.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body));
        } else {
            b.method(method, HttpRequest.BodyPublishers.noBody());
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> ok(HttpResponse<String> r) {
        if (r.statusCode() / 100 != 2) {
            throw new Refused(r);
        }
        return r;
    }

    /** A write answered with another status than 2xx. */
    static final class Refused extends RuntimeException {
        final int status;

        Refused(HttpResponse<String> r) {
            super(r.request().method() + " " + r.request().uri().getPath() + ": " + r.statusCode() + " " + r.body());
            this.status = r.statusCode();
        }
    }

    static boolean isDead(Exception e) {
        return e instanceof IOException;
    }

    static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
