package io.loraplex.router.testkit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.persistence.blob.BlobStore;
import io.loraplex.persistence.blob.BlobStoreActor;
import io.loraplex.persistence.blob.BlobStoreSettings;
import io.loraplex.router.RouterSettings;
import io.loraplex.router.http.GuardedServer;
import io.loraplex.router.http.RouterServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;

/**
 * A router on a real one-node cluster (joined to itself, Kryo on every message, serialize-messages
 * on), with the tenant entity double in sharding, optionally a GPU node double, and an HTTP client
 * on 127.0.0.1. Tenants: {@code acme} (key {@value #KEY}, adapter {@code cafe}), {@code globex}
 * (key {@value #OTHER_KEY}, adapter {@code secret}), {@code limited} (key {@value #LIMITED_KEY},
 * always rate limited). Keys {@value #MANAGE_KEY} (acme) and {@value #OTHER_MANAGE_KEY} (globex) have the
 * {@code manage} scope; the Adapter entity double is in sharding; with a blob root, the real blob
 * store runs there.
 */
public final class TestRouter implements AutoCloseable {

    public static final String KEY = "sk-acme-0123456789abcdef";
    public static final String OTHER_KEY = "sk-globex-0123456789abcdef";
    public static final String LIMITED_KEY = "sk-limited-0123456789abcdef";
    public static final String MANAGE_KEY = "sk-acme-manage-0123456789abcdef";
    public static final String OTHER_MANAGE_KEY = "sk-globex-manage-0123456789abcdef";
    public static final ObjectMapper JSON = new ObjectMapper();

    public final ActorTestKit kit;
    public final ActorSystem<Void> system;
    public final FakeTenants tenants = new FakeTenants();
    public final FakeAdapters adapters = new FakeAdapters(tenants);
    public final FakeGpuNode node; // null without a node
    public final AtomicBoolean warmedUp = new AtomicBoolean(true);
    public final GuardedServer.Binding binding;
    public final URI base;
    public final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5)).build();

    public TestRouter(String name, boolean withNode, String extraConfig) {
        this(name, withNode, extraConfig, null);
    }

    /** @param blobRoot where the real blob store keeps its files; null: no blob store */
    public TestRouter(String name, boolean withNode, String extraConfig, Path blobRoot) {
        Config config = ConfigFactory.parseString(extraConfig).withFallback(ConfigFactory.load("application-test.conf"));
        kit = ActorTestKit.create(name, config);
        system = kit.system();
        Cluster cluster = Cluster.get(system);
        cluster.manager().tell(Join.create(cluster.selfMember().address()));
        ClusterSharding.get(system).init(Entity.of(TenantProtocol.TYPE_KEY, ctx -> tenants.entity(ctx.getEntityId())));
        ClusterSharding.get(system).init(Entity.of(AdapterProtocol.TYPE_KEY, ctx -> adapters.entity(ctx.getEntityId())));
        if (blobRoot != null) {
            kit.spawn(BlobStoreActor.create(new BlobStore(blobRoot), new BlobStoreSettings(blobRoot, Duration.ofMinutes(5))),
                    "blob-store");
        }
        node = withNode ? new FakeGpuNode("node-1") : null;
        if (node != null) {
            kit.spawn(node.behavior(), "fake-gpu-node");
        }
        tenants.addAdapter("acme", "cafe");
        tenants.addAdapter("acme", "bistro");
        tenants.addAdapter("globex", "secret");
        tenants.rateLimited.add("limited");
        try {
            RouterSettings settings = RouterSettings.create(system.settings().config());
            binding = RouterServer.start(system, settings, warmedUp::get).toCompletableFuture().get(20, TimeUnit.SECONDS);
            base = URI.create("http://127.0.0.1:" + binding.localAddress().getPort());
            addKey("acme", KEY);
            addKey("globex", OTHER_KEY);
            addKey("limited", LIMITED_KEY);
            addKey("acme", MANAGE_KEY, TenantProtocol.Scope.CHAT, TenantProtocol.Scope.MANAGE);
            addKey("globex", OTHER_MANAGE_KEY, TenantProtocol.Scope.MANAGE);
            // the key index reaches the router through Distributed Data: wait until each key is known
            for (String key : Set.of(KEY, OTHER_KEY, LIMITED_KEY, MANAGE_KEY, OTHER_MANAGE_KEY)) {
                await(() -> send("GET", "/v1/models", key, null).statusCode() != 401, Duration.ofSeconds(20),
                        "key index to know " + key);
            }
            if (node != null) {
                await(() -> send("GET", "/ready", null, null).statusCode() == 200, Duration.ofSeconds(20), "the node to be ready");
            }
        } catch (Exception e) {
            kit.shutdownTestKit();
            throw new IllegalStateException("the test router did not start", e);
        }
    }

    private void addKey(String tenant, String key, TenantProtocol.Scope... scopes) throws Exception {
        Set<TenantProtocol.Scope> granted = scopes.length == 0 ? Set.of(TenantProtocol.Scope.CHAT) : Set.of(scopes);
        AskPattern.<TenantProtocol.Command, TenantProtocol.Ack>ask(
                        ClusterSharding.get(system).entityRefFor(TenantProtocol.TYPE_KEY, tenant),
                        replyTo -> new TenantProtocol.AddApiKey(TenantProtocol.hashKey(key), granted, replyTo),
                        Duration.ofSeconds(20), system.scheduler())
                .toCompletableFuture().get(25, TimeUnit.SECONDS);
    }

    public HttpRequest.Builder request(String method, String path, String key, String body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(30));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        return b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    }

    public HttpResponse<String> send(String method, String path, String key, String body) {
        try {
            return http.send(request(method, path, key, body).build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public HttpResponse<String> post(String path, String body) {
        return send("POST", path, KEY, body);
    }

    /** A streaming POST: the body as lines, read as they arrive. */
    public HttpResponse<Stream<String>> stream(String path, String body) {
        try {
            return http.send(request("POST", path, KEY, body).build(), HttpResponse.BodyHandlers.ofLines());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    public static JsonNode json(String body) {
        try {
            return JSON.readTree(body);
        } catch (IOException e) {
            throw new UncheckedIOException("not JSON: " + body, e);
        }
    }

    public static void await(BooleanSupplier condition, Duration timeout, String what) {
        long end = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("timed out waiting for " + what);
            }
            try {
                Thread.sleep(25);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    @Override
    public void close() {
        kit.shutdownTestKit();
    }
}
