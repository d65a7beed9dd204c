package io.loraplex.node;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.Roles;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.Command;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import io.loraplex.cluster.node.GpuNodeProtocol.RejectReason;
import io.loraplex.engine.ServedModel;
import io.loraplex.engine.batch.AdapterSpec;
import io.loraplex.engine.batch.Engine;
import io.loraplex.engine.batch.EngineRequest;
import io.loraplex.engine.batch.EngineStats;
import io.loraplex.engine.batch.RequestHandle;
import io.loraplex.engine.lora.AdapterException;
import io.loraplex.engine.lora.AdapterLoader;
import io.loraplex.engine.lora.LoraAdapter;
import io.loraplex.engine.request.OutputFormat;
import io.loraplex.engine.request.PreparedRequest;
import io.loraplex.engine.request.Prompt;
import io.loraplex.engine.request.RequestParams;
import io.loraplex.engine.request.RequestPreparation;
import io.loraplex.engine.request.RequestRefusal;
import io.loraplex.engine.sample.SamplingParams;
import io.loraplex.engine.tokenizer.ChatMessage;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Leave;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.SourceRef;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.StreamRefs;

/**
 * The GPU node: a thin actor around one {@link Engine}. It turns a {@code Generate} into an engine
 * request (through the engine's {@link RequestPreparation}, as the CLI does) and answers with a
 * {@code SourceRef} of token events, so the caller may be in this JVM or another. Cancelling that
 * stream cancels the generation; a slow reader pauses it. An adapter whose files this node lacks is
 * fetched from the cluster's blob stores ({@link AdapterFetcher}) by the engine's loader threads.
 * Operators drain it (new requests refused, running ones finish), then make it leave the cluster.
 */
public final class GpuNode extends AbstractBehavior<Command> {

    /** How many adapter versions {@link #known} remembers, well above what a node's tiers hold. */
    private static final int MAX_KNOWN = 4096;
    /** How often a drop retries the eviction of an adapter still in use, and for how long. */
    private static final Duration DROP_RETRY = Duration.ofMillis(250);
    private static final Duration DROP_PATIENCE = Duration.ofMinutes(10);

    private final NodeId id;
    private final ServedModel model;
    private final Engine engine;
    private final AdapterStore adapters;
    private final NodeSettings settings;
    private final RequestPreparation preparation;
    private final NodeTraining training;
    private final AdapterFetcher fetcher;
    /** The adapter version the node last learnt for each content hash, so stats can name what the engine holds. */
    private final Map<ContentHash, AdapterRef> known = java.util.Collections.synchronizedMap(
            new LinkedHashMap<>(64, 0.75f, true) {
                @Override
                protected boolean removeEldestEntry(Map.Entry<ContentHash, AdapterRef> eldest) {
                    return size() > MAX_KNOWN;
                }
            }); // synchronized: the engine's quarantine listener reads it from the step thread
    private boolean draining;
    private volatile String identity = "";

    public static Behavior<Command> create(NodeId id, ServedModel model, Engine engine, AdapterStore adapters, NodeSettings settings) {
        return Behaviors.setup(ctx -> new GpuNode(ctx, id, model, engine, adapters, settings));
    }

    private GpuNode(ActorContext<Command> ctx, NodeId id, ServedModel model, Engine engine, AdapterStore adapters,
            NodeSettings settings) {
        super(ctx);
        this.id = id;
        this.model = model;
        this.engine = engine;
        this.adapters = adapters;
        this.settings = settings;
        this.preparation = RequestPreparation.of(model, settings.defaultMaxTokens());
        engine.computeGate().limitTraining(settings.trainingShare());
        this.training = new NodeTraining(ctx.getSystem(), id, model, engine.computeGate(), settings.trainingThreads());
        this.fetcher = new AdapterFetcher(ctx.getSystem(), adapters, settings.fetchTimeout());
        ctx.spawn(fetcher.sourceWatcher(), "blob-sources");
        ctx.getSystem().receptionist().tell(Receptionist.register(GpuNodeProtocol.SERVICE_KEY, ctx.getSelf()));
        engine.onQuarantine(this::reportQuarantine);
        // the identity reads every weight byte: off the actor, once
        Thread.ofVirtual().name("loraplex-identity").start(() -> {
            try {
                identity = model.model().identity().id();
            } catch (java.io.IOException e) {
                ctx.getLog().warn("could not hash the base model's files: {}", e.getMessage());
            }
        });
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(GpuNodeProtocol.Generate.class, this::onGenerate)
                .onMessage(GpuNodeProtocol.LoadAdapter.class, this::onLoad)
                .onMessage(GpuNodeProtocol.EvictAdapter.class, this::onEvict)
                .onMessage(GpuNodeProtocol.ValidateAdapter.class, this::onValidate)
                .onMessage(GpuNodeProtocol.GetStats.class, this::onStats)
                .onMessage(GpuNodeProtocol.PinAdapter.class, this::onPin)
                .onMessage(GpuNodeProtocol.DropAdapter.class, this::onDrop)
                .onMessage(GpuNodeProtocol.SetDraining.class, this::onSetDraining)
                .onMessage(GpuNodeProtocol.Leave.class, this::onLeave)
                .onMessage(GpuNodeProtocol.ValidateTrainingFile.class, v -> {
                    training.validate(v);
                    return this;
                })
                .onMessage(GpuNodeProtocol.TrainAdapter.class, t -> {
                    training.train(t);
                    return this;
                })
                .onMessage(GpuNodeProtocol.CancelTraining.class, c -> {
                    training.cancel(c.jobId());
                    return this;
                })
                .onSignal(org.apache.pekko.actor.typed.PostStop.class, stop -> {
                    training.close();
                    return this;
                })
                .build();
    }

    private Behavior<Command> onGenerate(GpuNodeProtocol.Generate g) {
        GpuNodeProtocol.GenerateReply reply;
        try {
            reply = start(g);
        } catch (Rejection r) {
            reply = new GpuNodeProtocol.Rejected(g.requestId(), r.reason, r.param, r.getMessage());
        } catch (RuntimeException e) {
            getContext().getLog().error("generation {} failed to start", g.requestId(), e);
            reply = new GpuNodeProtocol.Rejected(g.requestId(), RejectReason.INTERNAL, null, "internal error: " + e);
        }
        g.replyTo().tell(reply);
        return this;
    }

    /** A refusal with the reason and the parameter at fault. */
    private static final class Rejection extends RuntimeException {
        final RejectReason reason;
        final String param;

        Rejection(RejectReason reason, String param, String message) {
            super(message);
            this.reason = reason;
            this.param = param;
        }
    }

    private GpuNodeProtocol.Started start(GpuNodeProtocol.Generate g) {
        if (draining) {
            throw new Rejection(RejectReason.OVERLOADED, null, "node " + id + " is draining and takes no new requests");
        }
        if (!engine.accepting()) {
            throw new Rejection(RejectReason.OVERLOADED, null, "the node is draining and takes no new requests");
        }
        EngineStats stats = engine.stats();
        if (stats.waiting() >= settings.maxQueued()) {
            throw new Rejection(RejectReason.OVERLOADED, null, "the node's queue is full (" + stats.waiting() + " waiting)");
        }
        PreparedRequest prepared = prepare(g.prompt(), g.params());
        int[] prompt = prepared.prompt();
        SamplingParams params = prepared.params();
        AdapterSpec spec = adapterSpec(g.adapter());
        AdapterTier tier = spec == null ? null : AdapterTier.ofApiName(engine.tierOf(spec.hash()));

        int capacity = settings.streamBuffer() * 2 + 8;
        TokenStream[] holder = new TokenStream[1];
        RequestHandle[] handleHolder = new RequestHandle[1];
        // one materialization: the queue the engine feeds, its reader's progress, the cancel hook, the stream ref
        Pair<BoundedSourceQueue<GpuNodeProtocol.TokenEvent>, SourceRef<GpuNodeProtocol.TokenEvent>> stream =
                Source.<GpuNodeProtocol.TokenEvent>queue(capacity)
                        .map(event -> {
                            holder[0].drained();
                            return event;
                        })
                        .watchTermination((queue, done) -> {
                            done.whenComplete((ok, failure) -> {
                                RequestHandle h = handleHolder[0];
                                if (h != null && !holder[0].finished()) {
                                    h.cancel(); // the reader went away: free the request's memory
                                }
                            });
                            return queue;
                        })
                        .toMat(StreamRefs.sourceRef(), Keep.both())
                        .run(getContext().getSystem());
        TokenStream tokens = new TokenStream(stream.first(), model.tokenizer(), g.params().logprobs(), settings.streamBuffer());
        holder[0] = tokens;
        long deadline = 0;
        if (g.params().deadlineEpochMillis() > 0) {
            deadline = System.nanoTime() + (g.params().deadlineEpochMillis() - System.currentTimeMillis()) * 1_000_000L;
            deadline = deadline == 0 ? 1 : deadline;
        }
        EngineRequest request = new EngineRequest(g.requestId(), g.tenant(), spec, prompt, params, g.params().priority(), deadline,
                g.params().weight() > 0 ? g.params().weight() : 1.0, EngineRequest.Kind.GENERATE);
        RequestHandle handle;
        try {
            handle = engine.submit(request, tokens);
        } catch (IllegalArgumentException e) {
            stream.first().complete();
            throw new Rejection(RejectReason.INVALID_REQUEST, null, e.getMessage());
        } catch (IllegalStateException e) {
            stream.first().complete();
            throw new Rejection(RejectReason.OVERLOADED, null, e.getMessage());
        }
        tokens.attach(handle);
        handleHolder[0] = handle;
        SourceRef<GpuNodeProtocol.TokenEvent> ref = stream.second();
        return new GpuNodeProtocol.Started(g.requestId(), id, prompt.length, tier, ref);
    }

    /**
     * The protocol's prompt and parameters as the engine's preparation takes them: the one place this
     * node maps them. A refusal keeps its typed parameter and code.
     */
    private PreparedRequest prepare(GpuNodeProtocol.Prompt prompt, GpuNodeProtocol.GenerationParams p) {
        Prompt enginePrompt = switch (prompt) {
            case GpuNodeProtocol.TextPrompt text -> new Prompt.Text(text.text());
            case GpuNodeProtocol.ChatPrompt chat -> new Prompt.Chat(chat.messages().stream()
                    .map(m -> new ChatMessage(m.role(), m.content(), m.toolCalls().stream()
                            .map(c -> new ChatMessage.ToolCall(c.id(), c.name(), c.argumentsJson())).toList(), m.toolCallId(), m.name()))
                    .toList(), chat.toolsJson());
            case GpuNodeProtocol.TokenPrompt ids -> new Prompt.Tokens(ids.ids());
        };
        RequestParams params = new RequestParams(p.temperature(), p.topK(), p.topP(), p.minP(), p.repetitionPenalty(),
                p.presencePenalty(), p.frequencyPenalty(), p.logitBias(), p.seed(), p.maxTokens(), p.stop(), List.of(),
                p.ignoreEos(), p.logprobs(), p.topLogprobs());
        try {
            return preparation.prepare(enginePrompt, params, outputFormat(p.constraint()));
        } catch (RequestRefusal r) {
            RejectReason reason = switch (r.code()) {
                case INVALID_VALUE -> RejectReason.INVALID_REQUEST;
                case CONTEXT_LENGTH_EXCEEDED -> RejectReason.CONTEXT_LENGTH_EXCEEDED;
            };
            throw new Rejection(reason, r.param(), r.getMessage());
        }
    }

    /** The protocol's output constraint as the engine's preparation takes it; null: free text. */
    private static OutputFormat outputFormat(GpuNodeProtocol.OutputConstraint c) {
        if (c == null) {
            return null;
        }
        return switch (c.kind()) {
            case JSON_OBJECT -> new OutputFormat.JsonObject();
            case JSON_SCHEMA -> new OutputFormat.JsonSchema(c.jsonSchema());
        };
    }

    private AdapterSpec adapterSpec(AdapterRef ref) {
        if (ref == null) {
            return null;
        }
        if (ref.baseIdentity() != null && !ref.baseIdentity().equals(baseIdentity())) {
            throw new Rejection(RejectReason.ADAPTER_NOT_FOUND, "model", "adapter " + ref.name() + " (version " + ref.version()
                    + ") was validated against another base model than the one node " + id + " serves");
        }
        known.put(ref.contentHash(), ref);
        if (adapters.locate(ref).isEmpty() && !fetcher.hasSources()) {
            throw new Rejection(RejectReason.ADAPTER_NOT_FOUND, "model", "adapter " + ref.name() + " (version " + ref.version()
                    + ") is not available on node " + id + " and no blob store is known to fetch it from");
        }
        String name = ref.tenant() + "/" + ref.name() + "@" + ref.version();
        // the engine runs this on its adapter-load threads: a fetch blocks one of them, never the actor or the step loop
        return new AdapterSpec(ref.contentHash(), name, loader -> verified(ref, loader.load(name, fetcher.ensure(ref))));
    }

    /** Every read of a stored blob is checked against the hash it is stored under: a corrupt one is never served. */
    private static LoraAdapter verified(AdapterRef ref, LoraAdapter loaded)
            throws AdapterException {
        if (!loaded.contentHash().equals(ref.contentHash())) {
            throw new AdapterException(AdapterException.Reason.CONTENT_MISMATCH,
                    "adapter " + ref.name() + " (version " + ref.version() + "): its files hash to " + loaded.contentHash()
                            + ", not to the " + ref.contentHash() + " they are stored under");
        }
        return loaded;
    }

    /** This node's base identity, hashing the files now if the background hash has not finished. */
    private String baseIdentity() {
        if (identity.isEmpty()) {
            try {
                identity = model.model().identity().id();
            } catch (java.io.IOException e) {
                throw new Rejection(RejectReason.INTERNAL, null, "cannot hash the base model's files: " + e.getMessage());
            }
        }
        return identity;
    }

    private Behavior<Command> onLoad(GpuNodeProtocol.LoadAdapter load) {
        AdapterSpec spec;
        try {
            spec = adapterSpec(load.adapter());
        } catch (Rejection r) {
            load.replyTo().tell(GpuNodeProtocol.Ack.failed(r.getMessage()));
            return this;
        }
        engine.preload(spec, load.pin()).whenComplete((ok, failure) -> load.replyTo().tell(failure == null
                ? GpuNodeProtocol.Ack.done() : GpuNodeProtocol.Ack.failed(rootMessage(failure))));
        return this;
    }

    private Behavior<Command> onEvict(GpuNodeProtocol.EvictAdapter evict) {
        engine.evict(evict.hash(), evict.purge()).whenComplete((gone, failure) -> evict.replyTo().tell(
                failure != null ? GpuNodeProtocol.Ack.failed(rootMessage(failure))
                        : gone ? GpuNodeProtocol.Ack.done() : GpuNodeProtocol.Ack.failed("the adapter is in use; try again")));
        return this;
    }

    /** Loads and checks the adapter off the actor (it reads every weight) and answers the verdict. */
    private Behavior<Command> onValidate(GpuNodeProtocol.ValidateAdapter validate) {
        AdapterRef ref = validate.adapter();
        getContext().getLog().info("node {} validates adapter {} v{} ({}) on base model {}", id, ref.name(), ref.version(),
                ref.contentHash(), model.id());
        known.put(ref.contentHash(), ref);
        Optional<String> quarantined = engine.quarantineReason(ref.contentHash());
        if (quarantined.isPresent()) {
            // the same bytes registered again: this node has seen them poison a request
            validate.replyTo().tell(new GpuNodeProtocol.Validation(ref, false, quarantined.get(), identity, 0, 0));
            return this;
        }
        if (adapters.locate(ref).isEmpty() && !fetcher.hasSources()) {
            validate.replyTo().tell(new GpuNodeProtocol.Validation(ref, false, "adapter files not found on node " + id
                    + " and no blob store is known to fetch them from", identity, 0, 0));
            return this;
        }
        AdapterLoader loader = new AdapterLoader(model.model().config(),
                engine.settings().maxLoraRank(), engine.settings().adapterBounds());
        String base = baseIdentity();
        Thread.ofVirtual().name("loraplex-validate").start(() -> {
            GpuNodeProtocol.Validation verdict;
            java.nio.file.Path dir = null;
            try {
                dir = fetcher.ensure(ref);
                LoraAdapter a = verified(ref, loader.load(ref.name(), dir));
                verdict = new GpuNodeProtocol.Validation(ref, true, "", base, a.maxRank(), a.parameterCount());
            } catch (AdapterException e) {
                // the reason reaches the tenant: the adapter's files by their names, never this node's paths
                verdict = new GpuNodeProtocol.Validation(ref, false, withoutPaths(e.getMessage(), dir), base, 0, 0);
            }
            validate.replyTo().tell(verdict);
        });
        return this;
    }

    /**
     * Tells the version's {@code Adapter} entity that the engine quarantined it, so the catalog
     * stops sending it anywhere (this node already refuses it). Runs on the engine's step thread;
     * the ask never blocks it. A failed ask is tried again with back-off
     * ({@link NodeSettings.QuarantineReport}): other nodes go on serving the version until it lands.
     */
    private void reportQuarantine(Engine.Quarantine q) {
        AdapterRef ref = known.get(q.hash());
        var log = getContext().getSystem().log();
        if (ref == null) {
            log.warn("node {} quarantined adapter {} ({}) but no longer knows its version to report it", id, q.name(), q.hash());
            return;
        }
        log.warn("node {} quarantined {}: {}", id, q.name(), q.reason());
        reportQuarantine(getContext().getSystem(), ref, q.reason(), 1);
    }

    private void reportQuarantine(org.apache.pekko.actor.typed.ActorSystem<?> system, AdapterRef ref, String reason, int attempt) {
        NodeSettings.QuarantineReport report = settings.quarantineReport();
        var log = system.log();
        try {
            ClusterSharding.get(system)
                    .entityRefFor(AdapterProtocol.TYPE_KEY, AdapterProtocol.entityId(ref.tenant(), ref.name()))
                    .<AdapterProtocol.Reply>ask(r -> new AdapterProtocol.MarkFailed(ref.version(), ref.contentHash(), reason, r),
                            report.timeout())
                    .whenComplete((reply, failure) -> {
                        if (failure == null && reply.ok()) {
                            return;
                        }
                        // only silence or a busy entity may pass; a refusal (version gone, never served) stays one
                        boolean retry = failure != null || reply.error() == AdapterProtocol.Error.UNAVAILABLE;
                        String why = failure != null ? failure.getMessage() : reply.message();
                        if (retry && attempt < report.attempts()) {
                            Duration delay = report.delayBefore(attempt + 1);
                            log.warn("adapter {} v{} could not be marked failed ({}); node {} tries again in {} (attempt {} of {})",
                                    ref.name(), ref.version(), why, id, delay, attempt + 1, report.attempts());
                            system.scheduler().scheduleOnce(delay, () -> reportQuarantine(system, ref, reason, attempt + 1),
                                    system.executionContext());
                        } else {
                            log.error("adapter {} v{} could not be marked failed after {} attempt(s) ({}); node {} keeps refusing it, "
                                    + "other nodes may still serve it", ref.name(), ref.version(), attempt, why, id);
                        }
                    });
        } catch (RuntimeException e) {
            log.error("adapter {} v{} could not be reported as failed: {}", ref.name(), ref.version(), e.getMessage());
        }
    }

    /** {@code message} with the adapter's directory (and this node's adapter root) cut out: files keep their logical names. */
    static String withoutPaths(String message, java.nio.file.Path dir) {
        if (message == null || dir == null) {
            return message;
        }
        String text = message;
        for (String path : List.of(dir.toAbsolutePath().toString(), dir.toString())) {
            text = text.replace(path + java.io.File.separator, "").replace(path, "the adapter");
        }
        return text;
    }

    private static String rootMessage(Throwable t) {
        while (t.getCause() != null && t != t.getCause()) {
            t = t.getCause();
        }
        return t.getMessage();
    }

    private Behavior<Command> onStats(GpuNodeProtocol.GetStats get) {
        EngineStats s = engine.stats();
        List<String> hot = new ArrayList<>();
        List<GpuNodeProtocol.HeldAdapter> held = new ArrayList<>();
        for (Engine.AdapterInfo a : engine.adapters()) {
            // the engine names its tiers; they become the protocol's type here, once
            AdapterTier tier = AdapterTier.ofApiName(a.tier());
            if (tier == AdapterTier.HOT) {
                hot.add(a.hash().hex());
            }
            AdapterRef ref = known.get(a.hash());
            if (ref != null && (tier == AdapterTier.HOT || tier == AdapterTier.WARM)) {
                held.add(new GpuNodeProtocol.HeldAdapter(ref, tier, a.pinned(), a.runningRequests()));
            }
        }
        get.replyTo().tell(new GpuNodeProtocol.NodeStats(id, model.id(), identity, !draining && engine.accepting(), draining,
                s.running(), s.waiting(), engine.settings().maxRunning(), s.freePages() + s.idleCachedBlocks(), s.totalPages(),
                s.generatedTokens(), hot, held));
        return this;
    }

    /** Pinning loads the adapter (fetching it if need be) and keeps it hot; unpinning lets it be evicted again. */
    private Behavior<Command> onPin(GpuNodeProtocol.PinAdapter pin) {
        if (pin.pinned()) {
            return onLoad(new GpuNodeProtocol.LoadAdapter(pin.adapter(), true, pin.replyTo()));
        }
        known.put(pin.adapter().contentHash(), pin.adapter());
        engine.unpin(pin.adapter().contentHash()).whenComplete((ok, failure) -> pin.replyTo().tell(failure == null
                ? GpuNodeProtocol.Ack.done() : GpuNodeProtocol.Ack.failed(rootMessage(failure))));
        return this;
    }

    /**
     * A deleted version: evicted from every tier (retried while requests still use it), then this
     * node's copy of its files removed, off the actor.
     */
    private Behavior<Command> onDrop(GpuNodeProtocol.DropAdapter drop) {
        known.remove(drop.hash());
        long giveUp = System.nanoTime() + DROP_PATIENCE.toNanos();
        evictWhenFree(drop.hash(), giveUp).whenComplete((evicted, failure) -> {
            GpuNodeProtocol.Ack ack;
            try {
                adapters.delete(drop.tenant(), drop.hash());
                ack = failure != null ? GpuNodeProtocol.Ack.failed(rootMessage(failure))
                        : evicted ? GpuNodeProtocol.Ack.done()
                        : GpuNodeProtocol.Ack.failed("adapter " + drop.hash() + " was still in use on node " + id + " after "
                                + DROP_PATIENCE + "; its files are deleted, the engine keeps it until its requests end");
            } catch (java.io.IOException | RuntimeException e) {
                ack = GpuNodeProtocol.Ack.failed("node " + id + " could not delete its copy of " + drop.tenant() + "/" + drop.hash()
                        + ": " + e);
            }
            drop.replyTo().tell(ack);
        });
        return this;
    }

    /** Evicts from every tier, trying again every {@link #DROP_RETRY} while requests hold it; false when it never came free. */
    private CompletableFuture<Boolean> evictWhenFree(ContentHash hash, long giveUpNanos) {
        return engine.evict(hash, true).thenCompose(gone -> {
            if (gone || System.nanoTime() > giveUpNanos) {
                return CompletableFuture.completedFuture(gone);
            }
            return CompletableFuture.supplyAsync(() -> null, CompletableFuture.delayedExecutor(DROP_RETRY.toMillis(),
                    TimeUnit.MILLISECONDS)).thenCompose(ignored -> evictWhenFree(hash, giveUpNanos));
        });
    }

    private Behavior<Command> onSetDraining(GpuNodeProtocol.SetDraining set) {
        if (set.draining() != draining) {
            getContext().getLog().info("node {} {}", id, set.draining() ? "drains: no new requests" : "takes requests again");
        }
        draining = set.draining();
        set.replyTo().tell(GpuNodeProtocol.Ack.done());
        return this;
    }

    /** Leaves the cluster once drained and idle; a node sharing its JVM with a router stays (the router must go on). */
    private Behavior<Command> onLeave(GpuNodeProtocol.Leave leave) {
        Cluster cluster = Cluster.get(getContext().getSystem());
        EngineStats s = engine.stats();
        String refusal = !draining ? "node " + id + " is not draining; drain it before it leaves"
                : s.running() + s.waiting() > 0 ? "node " + id + " still has " + s.running() + " running and " + s.waiting()
                        + " waiting requests"
                : cluster.selfMember().hasRole(Roles.ROUTER) ? "node " + id + " shares its JVM with a router; it stays drained"
                : null;
        if (refusal != null) {
            leave.replyTo().tell(GpuNodeProtocol.Ack.failed(refusal));
            return this;
        }
        getContext().getLog().info("node {} is drained and leaves the cluster", id);
        leave.replyTo().tell(GpuNodeProtocol.Ack.done());
        cluster.manager().tell(Leave.create(cluster.selfMember().address()));
        return this;
    }
}
