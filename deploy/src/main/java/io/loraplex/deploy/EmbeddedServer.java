package io.loraplex.deploy;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValue;
import io.loraplex.cluster.AdapterDirectory;
import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.Roles;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.cluster.files.FileStoreProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.placement.PlacementProtocol;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.backend.Backend;
import io.loraplex.engine.backend.Backends;
import io.loraplex.engine.batch.Engine;
import io.loraplex.engine.batch.EngineSettings;
import io.loraplex.engine.model.TinyModel;
import io.loraplex.engine.model.WeightFormat;
import io.loraplex.node.AdapterStore;
import io.loraplex.node.GpuNode;
import io.loraplex.node.NodeSettings;
import io.loraplex.persistence.H2Import;
import io.loraplex.persistence.Journals;
import io.loraplex.persistence.adapter.AdapterIndex;
import io.loraplex.persistence.adapter.AdapterSharding;
import io.loraplex.persistence.blob.BlobStore;
import io.loraplex.persistence.blob.BlobStoreActor;
import io.loraplex.persistence.blob.BlobStoreSettings;
import io.loraplex.persistence.blob.UploadQuota;
import io.loraplex.persistence.files.FileStoreActor;
import io.loraplex.persistence.files.FileStoreSettings;
import io.loraplex.persistence.finetune.FineTuneSharding;
import io.loraplex.persistence.tenant.TenantRecovery;
import io.loraplex.persistence.tenant.TenantSharding;
import io.loraplex.router.RouterSettings;
import io.loraplex.router.http.GuardedServer;
import io.loraplex.router.http.RouterServer;
import io.loraplex.router.placement.Placement;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.Done;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;

/**
 * The embedded default, started in this JVM: a generated model (or a given one), one engine behind
 * a GPU node actor, the tenants' shards, the HTTP API, and optionally the demo tenants. What
 * {@code loraplex serve} runs, and what end-to-end tests start.
 */
public final class EmbeddedServer {

    /** The name clients use for the generated demo model. */
    public static final String DEMO_MODEL_ID = "loraplex-tiny";

    private final ActorSystem<Void> system;
    private final ServedModel model;
    private final Backend backend;
    private final Engine engine;
    private final InetSocketAddress address;
    private final List<DemoTenants.Demo> demos;
    private final Path adapterRoot;
    private final Path dataDir;

    private EmbeddedServer(ActorSystem<Void> system, ServedModel model, Backend backend, Engine engine, InetSocketAddress address,
            List<DemoTenants.Demo> demos, Path adapterRoot, Path dataDir) {
        this.system = system;
        this.model = model;
        this.backend = backend;
        this.engine = engine;
        this.address = address;
        this.demos = demos;
        this.adapterRoot = adapterRoot;
        this.dataDir = dataDir;
    }

    /**
     * Starts what this JVM's roles ask for ({@code pekko.cluster.roles}: {@code router},
     * {@code gpu-node}, or both — the embedded default) and returns once it is ready: with the router
     * role, once the HTTP API answers and the demo tenants are registered.
     *
     * @param modelDir  a model directory; null generates (once) the demo model under {@code data}
     * @param overrides configuration over the embedded defaults ({@code embedded.conf})
     * @param demo      create the demo tenants (only where one JVM holds both roles: they are trained here)
     */
    public static EmbeddedServer start(Path data, Path modelDir, Config overrides, boolean demo, PrintStream log) throws Exception {
        Config config = config(data, overrides);
        List<String> roles = config.getStringList("pekko.cluster.roles");
        boolean router = roles.contains(Roles.ROUTER);
        boolean gpuNode = roles.contains(Roles.GPU_NODE);
        if (!router && !gpuNode) {
            throw new IllegalArgumentException("pekko.cluster.roles must hold router, gpu-node or both; got " + roles);
        }
        // before the first start's model and personas: a taken port fails in a second, not after them
        Listeners.checkFree(config, router);
        PrivateFiles.secureDataDir(data, secretFiles(data), log);
        if (router && config.getString("loraplex.router.admin-key-sha256").isEmpty()) {
            String adminHash = DrawnKey.ADMIN.hash(data, config.getString("loraplex.admin-key"), log);
            config = ConfigFactory.parseMap(Map.of("loraplex.router.admin-key-sha256", adminHash)).withFallback(config);
        }
        if (router && config.getString("loraplex.router.metrics.key-sha256").isEmpty()) {
            String metricsHash = DrawnKey.METRICS.hash(data, config.getString("loraplex.metrics-key"), log);
            config = ConfigFactory.parseMap(Map.of("loraplex.router.metrics.key-sha256", metricsHash)).withFallback(config);
        }
        NodeSettings nodeSettings = NodeSettings.create(config);
        ServedModel served = null;
        Backend backend = null;
        Engine engine = null;
        List<DemoTenants.Demo> demos = List.of();
        if (gpuNode) {
            String modelId = config.getString("loraplex.node.base-model-id");
            if (modelDir == null) {
                modelDir = data.resolve("model");
                if (!Files.exists(modelDir.resolve("config.json"))) {
                    log.println("loraplex: generating the demo model in " + modelDir);
                    TinyModel.write(modelDir, TinyModel.Spec.defaults(0));
                }
                modelId = modelId.isEmpty() ? DEMO_MODEL_ID : modelId;
            }
            int threads = config.getInt("loraplex.threads") > 0 ? config.getInt("loraplex.threads") : Backends.defaultThreads();
            served = ServedModel.load(modelDir, modelId.isEmpty() ? null : modelId, weights(config));
            backend = Backends.create(config.getString("loraplex.backend"), served.model(), threads);
            engine = new Engine(backend, served.tokenizer(), served.eosIds(), engineSettings(config));
            if (demo && router) {
                demos = DemoTenants.prepare(data, nodeSettings.adapterRoot(), served, threads, log);
            }
        }

        if (router && config.getString("loraplex.journal").equals("embedded")) {
            int imported = H2Import.importIfPresent(data);
            if (imported > 0) {
                log.println("loraplex: moved " + imported + " events of the H2 journal (journal.mv.db, now journal.mv.db.imported)"
                        + " into the embedded journal (journal/)");
            }
        }
        ActorSystem<Void> system = ActorSystem.create(guardian(served, engine, nodeSettings), "loraplex", config);
        Management.start(system, log);
        if (router) {
            Journals.prepare(system, Duration.ofSeconds(60));
            // after the journal's tables exist: remembered fine-tuning entities start at once
            TenantSharding.init(system);
            AdapterSharding.init(system);
            FineTuneSharding.init(system);
            // registrations are asynchronous: the demo's validation and the API's routes look these up
            awaitService(system, BlobProtocol.SERVICE_KEY);
            awaitService(system, FileStoreProtocol.SERVICE_KEY);
        }
        CoordinatedShutdown shutdown = CoordinatedShutdown.get(system);
        if (gpuNode) {
            awaitService(system, GpuNodeProtocol.SERVICE_KEY);
            Engine running = engine;
            Backend usedBackend = backend;
            ServedModel model = served;
            shutdown.addTask(CoordinatedShutdown.PhaseServiceRequestsDone(), "drain-engine",
                    () -> running.drain().thenApply(x -> Done.getInstance()));
            shutdown.addTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate(), "close-engine", () -> {
                running.close();
                usedBackend.close();
                model.close();
                return CompletableFuture.completedFuture(Done.getInstance());
            });
        }
        InetSocketAddress address = null;
        if (router) {
            // tenants (and with them the replicated key index) recover before the first request
            TenantRecovery.wakeAll(system, 8, Duration.ofSeconds(30)).toCompletableFuture().get(10, TimeUnit.MINUTES);
            RouterSettings routerSettings = RouterSettings.create(config);
            // the demo adapters are validated through placement (the one node-choice policy): it runs first
            Placement placement = Placement.start(system, routerSettings);
            if (!demos.isEmpty()) {
                awaitPlacement(system, placement);
            }
            for (DemoTenants.Demo d : demos) {
                registerTenant(system, d.tenant(), d.displayName(), d.apiKey(), List.of(d.adapter()), "training");
            }
            sweepBlobs(system, log);
            AtomicBoolean warmedUp = new AtomicBoolean(false);
            GuardedServer.Binding binding;
            try {
                binding = RouterServer.start(system, routerSettings, placement, warmedUp::get).toCompletableFuture()
                        .get(60, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!Listeners.isBindFailure(e)) {
                    throw e;
                }
                // taken since Listeners.checkFree looked: one line, as there
                system.terminate();
                throw Listeners.cannotListen(new Listeners.Listener("the HTTP API", "--port", routerSettings.host(),
                        routerSettings.port()), e.getCause());
            }
            address = binding.localAddress();
            warmedUp.set(true);
            ApiState.get(system).opened();
        }
        return new EmbeddedServer(system, served, backend, engine, address, demos, nodeSettings.adapterRoot(), data);
    }

    /**
     * The files of keys under the data directory, kept {@code rw-------}: the demo tenants' keys (in
     * plain text) and the admin and metrics keys' hashes. What else is there (the H2 journal with the
     * tenants' key hashes, their adapters and training files) is the owner's through the directory's
     * {@code rwx------}, which exists before any of it is written.
     */
    static List<Path> secretFiles(Path data) {
        return List.of(data.resolve(DemoTenants.KEYS_FILE), DrawnKey.ADMIN.file(data), DrawnKey.METRICS.file(data));
    }

    /** Waits until the receptionist lists an instance of {@code key} (registration is asynchronous). */
    private static void awaitService(ActorSystem<Void> system, ServiceKey<?> key) throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            Receptionist.Listing listing = AskPattern.<Receptionist.Command, Receptionist.Listing>ask(system.receptionist(),
                    r -> Receptionist.find(key, r), Duration.ofSeconds(5), system.scheduler()).toCompletableFuture().get(10, TimeUnit.SECONDS);
            if (!listing.getAllServiceInstances(key).isEmpty()) {
                return;
            }
            if (System.nanoTime() > until) {
                throw new IllegalStateException("no " + key.id() + " registered within 60 s");
            }
            Thread.sleep(20);
        }
    }

    /**
     * Before the API opens: removes what a crash left in the blob store — unfinished uploads, and
     * blobs no adapter version references (stored but never registered, or whose deletion was cut).
     */
    private static void sweepBlobs(ActorSystem<Void> system, PrintStream log) throws Exception {
        AdapterIndex.ReferencedBlobs referenced = AdapterIndex.referencedBlobs(system).toCompletableFuture().get(10, TimeUnit.MINUTES);
        BlobStore store = new BlobStore(Path.of(system.settings().config().getString("loraplex.blob-store.root")));
        BlobStore.SweepReport report = store.sweep(referenced);
        if (report.temporaryEntries() > 0 || !report.unreferencedBlobs().isEmpty()) {
            log.printf("loraplex: removed %d unfinished upload(s) and %d unreferenced blob(s) from the blob store%n",
                    report.temporaryEntries(), report.unreferencedBlobs().size());
        }
    }

    private static Behavior<Void> guardian(ServedModel served, Engine engine, NodeSettings nodeSettings) {
        return Behaviors.setup(ctx -> {
            ActorSystem<Void> system = ctx.getSystem();
            Cluster cluster = Cluster.get(system);
            Config config = system.settings().config();
            if (config.getStringList("pekko.cluster.seed-nodes").isEmpty() && !Management.bootstraps(config)) {
                cluster.manager().tell(Join.create(cluster.selfMember().address()));
            }
            boolean router = cluster.selfMember().hasRole(Roles.ROUTER);
            if (router) {
                BlobStoreSettings blobSettings = BlobStoreSettings.create(config);
                // uploads (adapters and training files) are charged to their tenant's storage quota before their bytes are written
                UploadQuota quota = UploadQuota.tenants(ctx.getSystem(), blobSettings.quotaTimeout());
                ctx.spawn(BlobStoreActor.create(new BlobStore(Path.of(config.getString("loraplex.blob-store.root"))), blobSettings,
                        quota), "blob-store");
                ctx.spawn(FileStoreActor.create(FileStoreSettings.create(config), quota), "file-store", DispatcherSelector.blocking());
            }
            if (cluster.selfMember().hasRole(Roles.GPU_NODE)) {
                if (!router) {
                    // the node's own copies, which other nodes may stream from; uploads go to the routers' stores
                    ctx.spawn(BlobStoreActor.create(new BlobStore(nodeSettings.adapterRoot()), BlobStoreSettings.create(config), false),
                            "blob-store");
                }
                String id = nodeId(nodeSettings.id(), cluster.selfMember().address());
                ctx.spawn(GpuNode.create(new NodeId(id), served, engine, new AdapterStore(nodeSettings.adapterRoot()), nodeSettings),
                        "gpu-node");
            }
            return Behaviors.empty();
        });
    }

    /** The GPU node's id: the configured one, else host:port of its cluster address (it fits in an admin route's path). */
    static String nodeId(String configured, Address self) {
        return !configured.isEmpty() ? configured : hostPort(self);
    }

    /** {@code host:port} of a cluster address, as {@code --seed-nodes} takes it. */
    static String hostPort(Address address) {
        return address.getHost().orElse("127.0.0.1") + ":" + address.getPort().map(String::valueOf).orElse("0");
    }

    /** The overrides, over {@code embedded.conf}, over the modules' reference configuration. */
    static Config config(Path data, Config overrides) {
        Map<String, Object> paths = new HashMap<>();
        paths.put("loraplex.data-dir", data.toString());
        paths.put("loraplex.node.adapter-root", data.resolve("blobs").toString());
        // the blob store writes where the GPU node reads
        paths.put("loraplex.blob-store.root", data.resolve("blobs").toString());
        paths.put("loraplex.file-store.root", data.resolve("files").toString());
        // --fast-failure's timings win over embedded.conf's production ones; the operator's own overrides win over both
        boolean fastFailure = overrides.hasPath("loraplex.cluster.fast-failure") && overrides.getBoolean("loraplex.cluster.fast-failure");
        Config chosen = overrides
                .withFallback(fastFailure ? ConfigFactory.parseResources("fast-failure.conf") : ConfigFactory.empty())
                .withFallback(ConfigFactory.parseMap(paths))
                .withFallback(ConfigFactory.parseResources("embedded.conf"));
        return chosen
                .withFallback(journal(data, chosen))
                .withFallback(ConfigFactory.load())
                .resolve();
    }

    /**
     * {@code loraplex.journal}: {@code embedded} (the default: an append-only log under the data
     * directory), {@code cassandra} ({@code loraplex.cassandra.host/port/keyspace}), {@code h2} (the
     * former embedded journal, only to compare against: it is not crash-safe, see
     * docs/decisions.md), or {@code none} when the configuration names its own journal plugin.
     */
    static Config journal(Path data, Config config) {
        String kind = config.hasPath("loraplex.journal") ? config.getString("loraplex.journal") : "embedded";
        return switch (kind) {
            case "embedded" -> Journals.embedded(data);
            case "h2" -> Journals.h2(data);
            case "cassandra" -> Journals.cassandra(config.getString("loraplex.cassandra.host"),
                    config.getInt("loraplex.cassandra.port"), config.getString("loraplex.cassandra.keyspace"));
            case "none" -> ConfigFactory.empty();
            default -> throw new IllegalArgumentException("loraplex.journal must be embedded, cassandra, h2 or none; got: " + kind);
        };
    }

    /** {@code loraplex.weights}: the format the model's projections are converted to, or null for the checkpoint's own. */
    static WeightFormat weights(Config config) {
        String name = config.hasPath("loraplex.weights") ? config.getString("loraplex.weights") : "";
        try {
            return name.isEmpty() ? null : WeightFormat.parse(name);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("loraplex.weights: " + e.getMessage(), e);
        }
    }

    /** {@code loraplex.engine} (kebab case) as the engine's settings. */
    static EngineSettings engineSettings(Config config) {
        Map<String, String> values = new HashMap<>();
        for (Map.Entry<String, ConfigValue> e : config.getConfig("loraplex.engine").entrySet()) {
            if (!EngineSettings.KEYS.contains(camel(e.getKey()))) {
                // named as the operator wrote it, not as the engine spells it
                throw new IllegalArgumentException("unknown setting loraplex.engine." + e.getKey() + "; the engine's settings are "
                        + String.join(", ", EngineSettings.KEYS.stream().map(EmbeddedServer::kebab).toList()));
            }
            values.put(camel(e.getKey()), e.getValue().unwrapped().toString());
        }
        return EngineSettings.fromMap(values);
    }

    private static String kebab(String camel) {
        StringBuilder sb = new StringBuilder();
        for (char c : camel.toCharArray()) {
            if (Character.isUpperCase(c)) {
                sb.append('-').append(Character.toLowerCase(c));
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private static String camel(String kebab) {
        StringBuilder sb = new StringBuilder();
        boolean upper = false;
        for (char c : kebab.toCharArray()) {
            if (c == '-') {
                upper = true;
            } else {
                sb.append(upper ? Character.toUpperCase(c) : c);
                upper = false;
            }
        }
        return sb.toString();
    }

    /** Waits until placement sees this JVM's GPU node ready and the entities can find it to ask. */
    private static void awaitPlacement(ActorSystem<Void> system, Placement placement) throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            boolean listed = !AskPattern.<Receptionist.Command, Receptionist.Listing>ask(system.receptionist(),
                            r -> Receptionist.find(PlacementProtocol.SERVICE_KEY, r), Duration.ofSeconds(5), system.scheduler())
                    .toCompletableFuture().get(10, TimeUnit.SECONDS).getServiceInstances(PlacementProtocol.SERVICE_KEY).isEmpty();
            if (listed && placement.hasReadyNode()) {
                return;
            }
            if (System.nanoTime() > until) {
                throw new IllegalStateException("placement saw no ready GPU node within 60 s of the start, so the demo adapters "
                        + "cannot be validated");
            }
            Thread.sleep(50);
        }
    }

    /**
     * Creates (or updates) a tenant with one full-scope key, and registers and promotes the given
     * adapters (their files already in the blob store) through the adapter lifecycle: validated on
     * the GPU node like any upload.
     */
    public void registerTenant(TenantId tenant, String displayName, String apiKey, List<AdapterRef> adapters) throws Exception {
        registerTenant(system, tenant, displayName, apiKey, adapters, "upload");
    }

    private static void registerTenant(ActorSystem<Void> system, TenantId tenant, String displayName, String apiKey,
            List<AdapterRef> adapters, String source) throws Exception {
        EntityRef<TenantProtocol.Command> ref = ClusterSharding.get(system).entityRefFor(TenantProtocol.TYPE_KEY, tenant.value());
        Duration timeout = Duration.ofSeconds(30);
        check(ref.ask(r -> new TenantProtocol.Setup(displayName, "standard", 1.0, TenantProtocol.Limits.generous(), r), timeout),
                "set up " + tenant);
        check(ref.ask(r -> new TenantProtocol.AddApiKey(TenantProtocol.hashKey(apiKey), EnumSet.allOf(TenantProtocol.Scope.class), r),
                timeout), "add a key of " + tenant);
        Path root = Path.of(system.settings().config().getString("loraplex.blob-store.root"));
        for (AdapterRef a : adapters) {
            EntityRef<AdapterProtocol.Command> adapter = ClusterSharding.get(system).entityRefFor(AdapterProtocol.TYPE_KEY,
                    AdapterProtocol.entityId(tenant, a.name()));
            Path dir = new AdapterDirectory(root).version(tenant, a.contentHash());
            long bytes = Files.size(dir.resolve(ContentHash.CONFIG_FILE)) + Files.size(dir.resolve(ContentHash.WEIGHTS_FILE));
            AdapterProtocol.Reply registered = adapter.<AdapterProtocol.Reply>ask(r -> new AdapterProtocol.RegisterVersion(tenant,
                    a.name(), a.contentHash(), bytes, source, r), Duration.ofMinutes(2)).toCompletableFuture().get(3, TimeUnit.MINUTES);
            if (!registered.ok()) {
                throw new IllegalStateException("could not register adapter " + a.name() + " of " + tenant + ": " + registered.message());
            }
            int version = registered.view().versions().stream().filter(v -> v.hash().equals(a.contentHash()))
                    .mapToInt(AdapterProtocol.VersionView::version).max().orElseThrow();
            if (!Integer.valueOf(version).equals(registered.view().promotedVersion())) {
                AdapterProtocol.Reply promoted = adapter.<AdapterProtocol.Reply>ask(r -> new AdapterProtocol.Promote(version, r), timeout)
                        .toCompletableFuture().get(60, TimeUnit.SECONDS);
                if (!promoted.ok()) {
                    throw new IllegalStateException("could not promote adapter " + a.name() + " of " + tenant + ": " + promoted.message());
                }
            }
        }
    }

    /** Sets a tenant's limits (tests of 429). */
    public void setLimits(TenantId tenant, String displayName, TenantProtocol.Limits limits) throws Exception {
        EntityRef<TenantProtocol.Command> ref = ClusterSharding.get(system).entityRefFor(TenantProtocol.TYPE_KEY, tenant.value());
        check(ref.ask(r -> new TenantProtocol.Setup(displayName, "standard", 1.0, limits, r), Duration.ofSeconds(30)),
                "set limits of " + tenant);
    }

    private static void check(CompletionStage<TenantProtocol.Ack> ask, String what) throws Exception {
        TenantProtocol.Ack ack = ask.toCompletableFuture().get(60, TimeUnit.SECONDS);
        if (!ack.ok()) {
            throw new IllegalStateException("could not " + what + ": " + ack.message());
        }
    }

    /** The HTTP API's URL; null where this JVM holds no router. */
    public String url() {
        return address == null ? null : "http://" + address.getHostString() + ":" + address.getPort();
    }

    public ActorSystem<Void> system() {
        return system;
    }

    /** The served model; null where this JVM holds no GPU node (so are {@link #engine} and {@link #backendName}). */
    public ServedModel model() {
        return model;
    }

    public Engine engine() {
        return engine;
    }

    public String backendName() {
        return backend == null ? null : backend.name();
    }

    public Path adapterRoot() {
        return adapterRoot;
    }

    /** Where this server keeps its files (the key files among them: {@link #secretFiles}). */
    public Path dataDir() {
        return dataDir;
    }

    List<DemoTenants.Demo> demos() {
        return demos;
    }

    /** Runs the coordinated shutdown (requests finish first) and waits for it. */
    public void stop() throws Exception {
        CoordinatedShutdown.get(system).runAll(CoordinatedShutdown.unknownReason()).toCompletableFuture().get(120, TimeUnit.SECONDS);
    }
}
