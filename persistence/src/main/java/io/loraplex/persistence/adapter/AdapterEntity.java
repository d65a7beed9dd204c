package io.loraplex.persistence.adapter;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.adapter.AdapterProtocol.AdapterView;
import io.loraplex.cluster.adapter.AdapterProtocol.Command;
import io.loraplex.cluster.adapter.AdapterProtocol.Delete;
import io.loraplex.cluster.adapter.AdapterProtocol.Error;
import io.loraplex.cluster.adapter.AdapterProtocol.Get;
import io.loraplex.cluster.adapter.AdapterProtocol.MarkFailed;
import io.loraplex.cluster.adapter.AdapterProtocol.Promote;
import io.loraplex.cluster.adapter.AdapterProtocol.RegisterVersion;
import io.loraplex.cluster.adapter.AdapterProtocol.Reply;
import io.loraplex.cluster.adapter.AdapterProtocol.Retire;
import io.loraplex.cluster.adapter.AdapterProtocol.Rollback;
import io.loraplex.cluster.adapter.AdapterProtocol.StartCanary;
import io.loraplex.cluster.adapter.AdapterProtocol.StopCanary;
import io.loraplex.cluster.adapter.AdapterProtocol.VersionState;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol.DropAdapter;
import io.loraplex.cluster.node.GpuNodeProtocol.ValidateAdapter;
import io.loraplex.cluster.node.GpuNodeProtocol.Validation;
import io.loraplex.cluster.placement.PlacementProtocol;
import io.loraplex.cluster.placement.PlacementProtocol.ChooseNode;
import io.loraplex.cluster.placement.PlacementProtocol.Chosen;
import io.loraplex.cluster.placement.PlacementProtocol.NoNode;
import io.loraplex.cluster.placement.PlacementProtocol.NoNodeReason;
import io.loraplex.cluster.placement.PlacementProtocol.NodeChoice;
import io.loraplex.cluster.placement.PlacementProtocol.Work;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.Ack;
import io.loraplex.cluster.tenant.TenantProtocol.LetGoStorage;
import io.loraplex.cluster.tenant.TenantProtocol.ReserveStorage;
import io.loraplex.cluster.tenant.TenantProtocol.StorageLeft;
import io.loraplex.cluster.tenant.TenantProtocol.TrackAdapterName;
import io.loraplex.cluster.tenant.TenantProtocol.UpdateCatalog;
import io.loraplex.persistence.Placements;
import io.loraplex.persistence.adapter.AdapterEvent.AdapterDeleted;
import io.loraplex.persistence.adapter.AdapterEvent.CanaryStarted;
import io.loraplex.persistence.adapter.AdapterEvent.CanaryStopped;
import io.loraplex.persistence.adapter.AdapterEvent.CleanupCompleted;
import io.loraplex.persistence.adapter.AdapterEvent.RolledBack;
import io.loraplex.persistence.adapter.AdapterEvent.VersionFailed;
import io.loraplex.persistence.adapter.AdapterEvent.VersionPromoted;
import io.loraplex.persistence.adapter.AdapterEvent.VersionRejected;
import io.loraplex.persistence.adapter.AdapterEvent.VersionRetired;
import io.loraplex.persistence.adapter.AdapterEvent.VersionUploaded;
import io.loraplex.persistence.adapter.AdapterEvent.VersionValidated;
import io.loraplex.persistence.adapter.AdapterState.Version;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.javadsl.CommandHandlerWithReply;
import org.apache.pekko.persistence.typed.javadsl.EffectBuilder;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehaviorWithEnforcedReplies;
import org.apache.pekko.persistence.typed.javadsl.ReplyEffect;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;

/**
 * The sharded, event-sourced {@code Adapter} entity, one per (tenant, adapter name), on router
 * nodes: the source of truth for the adapter's immutable versions (each identified by its
 * {@link ContentHash}) and their lifecycle. Commands and replies are {@link AdapterProtocol}'s; what
 * it journals is {@link AdapterEvent}, what it recovers to (and snapshots) is {@link AdapterState}.
 *
 * <p>Every change that other roles must see waits for them before it is journaled:
 * <ul>
 *   <li>a new version reserves its bytes at the {@code Tenant} entity first (refused: its blob is
 *       deleted and nothing is journaled), is journaled UPLOADED with the base model it is for, then
 *       validated on the GPU node the router's placement chooses for that base (READY, or REJECTED
 *       with the node's reason, or because no node serves its base: its blob deleted and its bytes
 *       released);</li>
 *   <li>a delete is journaled with the versions it must clean up; the clean-up (this name letting go
 *       of each reservation at the tenant, then, where no other name of the tenant holds the same
 *       content, the blob and the engines' copies) is confirmed hash by hash ({@code CleanupCompleted})
 *       and resumed when the entity recovers, so a crash between the steps leaks nothing;</li>
 *   <li>a promote, canary, rollback, retire or delete sends the tenant's catalog its new entry and
 *       journals the change only once the tenant has acknowledged it; without an acknowledgement
 *       the command answers UNAVAILABLE and nothing changes. After every recovery the entity
 *       re-sends its entry, so a crash between the two writes heals.</li>
 * </ul>
 * One such operation runs at a time; other commands wait in the stash (bounded by
 * {@code command-stash}), except {@code Get}, which answers at once.
 */
public final class AdapterEntity extends EventSourcedBehaviorWithEnforcedReplies<AdapterEntity.Message, AdapterEvent, AdapterState> {

    /** What {@code RegisterVersion.source} may be. */
    static final Set<String> SOURCES = Set.of("upload", "training");

    // ---- what the entity handles: its protocol's commands and the messages it sends itself

    /**
     * Every message the entity handles, switched over without a {@code default}: a new command of
     * {@link AdapterProtocol} that no handler takes does not compile.
     */
    sealed interface Message permits Received, Internal {
    }

    /** A command of {@link AdapterProtocol}, wrapped as it arrives (see {@link #create}). */
    record Received(Command command) implements Message, NoSerializationVerificationNeeded {
    }

    /** Messages the entity sends itself: never leave this JVM. */
    private sealed interface Internal extends Message, NoSerializationVerificationNeeded
            permits Step, Ignored, CleanedUp, ResumeCleanup {
    }

    /** The clean-up of one deleted version's {@code hash} ended ({@code failure} null: done). */
    private record CleanedUp(ContentHash hash, Throwable failure) implements Internal {
    }

    /** Start the clean-ups the newest tombstone still has pending (after recovery, and after a failure's wait). */
    private enum ResumeCleanup implements Internal {
        INSTANCE
    }

    /** An answer to operation {@code op}, and what to do with it given the state then. */
    private record Step(long op, Function<AdapterState, ReplyEffect<AdapterEvent, AdapterState>> next) implements Internal {
    }

    /** An acknowledgement nothing waits for (clean-ups and re-syncs). */
    private enum Ignored implements Internal {
        INSTANCE
    }

    /** How soon a validation asks placement again while it has no node for it (see {@code placement-wait}). */
    private static final Duration PLACEMENT_RETRY = Duration.ofMillis(200);

    // ---- the entity

    private final ActorContext<Message> context;
    private final ActorSystem<?> system;
    private final TenantId tenant;
    private final String name;
    private final AdapterSettings settings;
    private final Clock clock;
    private final EntityRef<TenantProtocol.Command> tenantEntity;
    private final ActorRef<Ack> ignoreTenantAck;
    private final ActorRef<GpuNodeProtocol.Ack> ignoreNodeAck;
    private final ActorRef<BlobProtocol.Deleted> ignoreDeleted;
    /** Hashes whose clean-up is under way (its answer not yet back). */
    private final Set<ContentHash> cleaning = new HashSet<>();
    /** The operation in flight (its answers carry this number), and whether one is. */
    private long op;
    private boolean busy;
    private int stashed;

    private AdapterEntity(ActorContext<Message> context, TenantId tenant, String name, AdapterSettings settings, Clock clock) {
        super(persistenceId(tenant, name), settings.journalFailureBackoff());
        this.context = context;
        this.system = context.getSystem();
        this.tenant = tenant;
        this.name = name;
        this.settings = settings;
        this.clock = clock;
        this.tenantEntity = ClusterSharding.get(context.getSystem()).entityRefFor(TenantProtocol.TYPE_KEY, tenant.value());
        this.ignoreTenantAck = context.messageAdapter(Ack.class, a -> Ignored.INSTANCE);
        this.ignoreNodeAck = context.messageAdapter(GpuNodeProtocol.Ack.class, a -> Ignored.INSTANCE);
        this.ignoreDeleted = context.messageAdapter(BlobProtocol.Deleted.class, d -> Ignored.INSTANCE);
    }

    /** The journal's id of an adapter: {@code Adapter|<tenant>|<name>}. */
    public static PersistenceId persistenceId(TenantId tenant, String name) {
        return PersistenceId.ofUniqueId(AdapterProtocol.TYPE_KEY.name() + "|" + AdapterProtocol.entityId(tenant, name));
    }

    /**
     * The entity of {@code entityId} ({@code tenant|name}, {@link AdapterProtocol#entityId}). A
     * command that throws restarts it: it recovers from the journal.
     *
     * @throws IllegalArgumentException when the id is not a tenant id and an adapter name joined by '|'
     */
    public static Behavior<Command> create(String entityId, AdapterSettings settings, Clock clock) {
        int bar = entityId == null ? -1 : entityId.indexOf('|');
        if (bar < 0) {
            throw new IllegalArgumentException("an Adapter entity id is <tenant>|<adapter name>, got: " + entityId);
        }
        TenantId tenant = new TenantId(entityId.substring(0, bar));
        String name = AdapterProtocol.requireName(entityId.substring(bar + 1));
        Behavior<Message> entity = Behaviors.setup(context -> new AdapterEntity(context, tenant, name, settings, clock));
        // commands arrive wrapped, so one sealed type holds them and the entity's own messages
        // (which, being no Command, pass the transformation untouched)
        Behavior<Command> received = Behaviors.transformMessages(Command.class, entity, pf -> pf.match(Command.class, Received::new));
        return Behaviors.supervise(received).onFailure(RuntimeException.class, SupervisorStrategy.restart());
    }

    @Override
    public AdapterState emptyState() {
        return AdapterState.EMPTY;
    }

    @Override
    public EventHandler<AdapterState, AdapterEvent> eventHandler() {
        return AdapterState::apply;
    }

    @Override
    public RetentionCriteria retentionCriteria() {
        return RetentionCriteria.snapshotEvery(settings.snapshotEvery(), settings.keepSnapshots());
    }

    @Override
    public SignalHandler<AdapterState> signalHandler() {
        return newSignalHandlerBuilder().onSignal(RecoveryCompleted.instance(), this::onRecovered).build();
    }

    @Override
    public CommandHandlerWithReply<Message, AdapterEvent, AdapterState> commandHandler() {
        return (state, message) -> switch (message) {
            // one operation at a time; a Get answers at once
            case Received(Command c) when busy && !(c instanceof Get) -> stash(state, c);
            case Received(Command c) -> state.exists() ? existing(state, c) : missing(state, c);
            case Step s when busy && s.op() == op -> s.next().apply(state);
            // an answer that came after its operation timed out
            case Step _ -> Effect().noReply();
            case Ignored _ -> Effect().noReply();
            case CleanedUp c -> onCleanedUp(state, c);
            case ResumeCleanup _ -> {
                resumeCleanup(state);
                yield Effect().noReply();
            }
        };
    }

    /** No adapter by this name: never registered, or deleted. A new version starts one; the rest is not found. */
    private ReplyEffect<AdapterEvent, AdapterState> missing(AdapterState state, Command command) {
        return switch (command) {
            case RegisterVersion c -> onRegister(state, c);
            case Get c -> onGet(state, c);
            case MarkFailed c -> onMarkFailed(state, c);
            case StartCanary c -> badShare(c).isPresent() ? refuse(c.replyTo(), Error.INVALID, badShare(c).get(), state)
                    : refuseMissing(c.replyTo(), state);
            case Promote c -> refuseMissing(c.replyTo(), state);
            case StopCanary c -> refuseMissing(c.replyTo(), state);
            case Rollback c -> refuseMissing(c.replyTo(), state);
            case Retire c -> refuseMissing(c.replyTo(), state);
            case Delete c -> refuseMissing(c.replyTo(), state);
        };
    }

    /** The adapter has versions: every command applies. */
    private ReplyEffect<AdapterEvent, AdapterState> existing(AdapterState state, Command command) {
        return switch (command) {
            case RegisterVersion c -> onRegister(state, c);
            case Get c -> onGet(state, c);
            case MarkFailed c -> onMarkFailed(state, c);
            case Promote c -> onPromote(state, c);
            case StartCanary c -> onStartCanary(state, c);
            case StopCanary c -> onStopCanary(state, c);
            case Rollback c -> onRollback(state, c);
            case Retire c -> onRetire(state, c);
            case Delete c -> onDelete(state, c);
        };
    }

    // ---- recovery: the adapter is the source of truth of its catalog entry

    private void onRecovered(AdapterState state) {
        if (!state.exists() && state.tombstones().isEmpty()) {
            return;
        }
        tenantEntity.tell(updateCatalog(state, ignoreTenantAck));
        tenantEntity.tell(new TrackAdapterName(name, state.exists(), ignoreTenantAck));
        if (!state.pendingCleanup().isEmpty()) {
            // a crash came between the delete and its clean-up: finish it now
            context.getSelf().tell(ResumeCleanup.INSTANCE);
        }
    }

    // ---- reads

    private ReplyEffect<AdapterEvent, AdapterState> onGet(AdapterState state, Get get) {
        Optional<Version> waiting = state.oldestUploaded();
        if (!busy && waiting.isPresent()) {
            // a version left UPLOADED by a validation that got no answer: try again, answering nobody
            begin();
            validate(waiting.get(), null);
        }
        return Effect().reply(get.replyTo(), Reply.ok(view(state)));
    }

    // ---- new versions: reserve, journal, validate

    private ReplyEffect<AdapterEvent, AdapterState> onRegister(AdapterState state, RegisterVersion register) {
        ActorRef<Reply> replyTo = register.replyTo();
        if (!register.tenant().equals(tenant) || !register.name().equals(name)) {
            return refuse(replyTo, Error.INVALID, "RegisterVersion for " + register.tenant() + "/" + register.name()
                    + " reached the adapter " + tenant + "/" + name, state);
        }
        if (register.bytes() < 0) {
            return refuse(replyTo, Error.INVALID, "a version's size is 0 bytes or more, got " + register.bytes(), state);
        }
        if (!SOURCES.contains(register.source())) {
            return refuse(replyTo, Error.INVALID, "a version's source is one of " + SOURCES + ", got: " + register.source(), state);
        }
        Optional<Version> live = state.liveVersionOf(register.hash());
        if (live.isPresent()) {
            if (live.get().state() == VersionState.UPLOADED) {
                begin();
                validate(live.get(), replyTo);
                return Effect().noReply();
            }
            return Effect().reply(replyTo, Reply.ok(view(state)));
        }
        begin();
        ask(Ack.class, tenantEntity, settings.tenantTimeout(),
                r -> new ReserveStorage(register.hash().hex(), register.bytes(), name, register.uploadId(), r),
                (s, ack) -> ack.ok() ? onReserved(s, register) : onQuotaRefused(register, ack.message()),
                s -> finish(refuse(replyTo, Error.UNAVAILABLE, "tenant " + tenant + " did not answer the storage reservation "
                        + "within " + settings.tenantTimeout() + "; nothing was recorded, register again", s)));
        return Effect().noReply();
    }

    private ReplyEffect<AdapterEvent, AdapterState> onReserved(AdapterState state, RegisterVersion register) {
        boolean first = !state.exists();
        VersionUploaded uploaded = new VersionUploaded(state.lastVersion() + 1, register.hash(), register.bytes(),
                register.source(), clock.millis(), register.baseModel());
        return Effect().persist(uploaded).thenRun(s -> {
            if (first) {
                tenantEntity.tell(new TrackAdapterName(name, true, ignoreTenantAck));
            }
            validate(s.version(uploaded.version()).orElseThrow(), register.replyTo());
        }).thenNoReply();
    }

    private ReplyEffect<AdapterEvent, AdapterState> onQuotaRefused(RegisterVersion register, String message) {
        return withServices(BlobProtocol.SERVICE_KEY, stores -> {
            // nothing may stay stored that no version records
            stores.forEach(store -> store.tell(new BlobProtocol.DeleteBlob(tenant, register.hash(), ignoreDeleted)));
            return s -> finish(refuse(register.replyTo(), Error.QUOTA_EXCEEDED, message, s));
        });
    }

    /**
     * Asks placement (the one node-choice policy) for a ready node serving the version's base
     * model, and has that node validate {@code version}; answers {@code replyTo} (null: nobody)
     * once it is READY or REJECTED, or why it stays UPLOADED.
     */
    private void validate(Version version, ActorRef<Reply> replyTo) {
        validate(version, replyTo, System.nanoTime() + settings.placementWait().toNanos());
    }

    /** {@link #validate(Version, ActorRef)}, asking placement again until {@code waitUntil} (nano time) while it has no node. */
    private void validate(Version version, ActorRef<Reply> replyTo, long waitUntil) {
        AdapterRef ref = new AdapterRef(tenant, name, version.number(), version.hash());
        String stays = "; it stays UPLOADED until it is registered again or read";
        long current = op;
        // a router or node that just started: placement is listed, and hears from the nodes, moments later
        Function<AdapterState, ReplyEffect<AdapterEvent, AdapterState>> again = s -> {
            context.scheduleOnce(PLACEMENT_RETRY, context.getSelf(), new Step(current, later -> {
                validate(version, replyTo, waitUntil);
                return Effect().noReply();
            }));
            return Effect().noReply();
        };
        lookUp(PlacementProtocol.SERVICE_KEY, placements -> {
            Optional<ActorRef<PlacementProtocol.Command>> placement = Placements.nearest(placements, context.getSelf());
            if (placement.isEmpty()) {
                return System.nanoTime() < waitUntil ? again : s -> finish(refuse(replyTo, Error.UNAVAILABLE,
                        "no router's placement is up to choose a GPU node to validate version " + version.number() + stays, s));
            }
            return s -> {
                ask(NodeChoice.class, placement.get(), settings.receptionistTimeout(),
                        r -> new ChooseNode(Work.VALIDATION, version.baseModel(), ref, Set.of(), r),
                        (now, choice) -> switch (choice) {
                            case Chosen chosen -> validateOn(chosen, ref, replyTo);
                            // a base no node reports now may be one whose nodes are all down while this router
                            // restarted: the version waits for them rather than being rejected
                            case NoNode(NoNodeReason reason, String why) when reason != NoNodeReason.BASE_MODEL_REQUIRED ->
                                    System.nanoTime() < waitUntil ? again.apply(now)
                                            : finish(refuse(replyTo, Error.UNAVAILABLE, "no GPU node is up to validate version "
                                                    + version.number() + " (" + why + ")" + stays, now));
                            case NoNode(NoNodeReason reason, String why) -> reject(now, version.number(),
                                    noBaseModel(version, reason, why), Error.INVALID, replyTo);
                        },
                        now -> finish(refuse(replyTo, Error.UNAVAILABLE, "the router's placement did not choose a GPU node to "
                                + "validate version " + version.number() + " within " + settings.receptionistTimeout() + stays,
                                now)));
                return Effect().noReply();
            };
        });
    }

    /** Has the node placement chose validate the version. */
    private ReplyEffect<AdapterEvent, AdapterState> validateOn(Chosen chosen, AdapterRef ref, ActorRef<Reply> replyTo) {
        ask(Validation.class, chosen.ref(), settings.validationTimeout(), r -> new ValidateAdapter(ref, r),
                (now, validation) -> onValidation(now, ref.version(), validation, replyTo),
                now -> finish(refuse(replyTo, Error.UNAVAILABLE, "GPU node " + chosen.node() + " did not validate version "
                        + ref.version() + " within " + settings.validationTimeout()
                        + "; it stays UPLOADED until it is registered again or read", now)));
        return Effect().noReply();
    }

    /**
     * Why a version cannot be validated at all: it names no base model in a fleet of several.
     * Registering the same bytes again cannot help (the version keeps its base), so it is rejected
     * and must be registered naming the right base.
     */
    private String noBaseModel(Version version, NoNodeReason reason, String why) {
        return "version " + version.number() + " of adapter " + tenant + "/" + name + " names no base model and the fleet serves "
                + "several (" + why + "); register it again naming the base model it was trained for";
    }

    private ReplyEffect<AdapterEvent, AdapterState> onValidation(AdapterState state, int version, Validation validation,
            ActorRef<Reply> replyTo) {
        if (validation.valid()) {
            return finish(replyAfter(Effect().persist(new VersionValidated(version, validation.baseIdentity(),
                    validation.maxRank(), clock.millis())), replyTo, s -> Reply.ok(view(s))));
        }
        String reason = validation.reason() == null || validation.reason().isBlank()
                ? "the GPU node refused it without a reason" : validation.reason();
        return reject(state, version, reason, Error.REJECTED, replyTo);
    }

    /** Journals {@code version} REJECTED with {@code reason}, gives its bytes back, and answers {@code error}. */
    private ReplyEffect<AdapterEvent, AdapterState> reject(AdapterState state, int version, String reason, Error error,
            ActorRef<Reply> replyTo) {
        ContentHash hash = state.version(version).orElseThrow().hash();
        // this name lets go of the hash; the blob (wherever copies are) goes only when no other name holds it
        return finish(replyAfter(Effect().persist(new VersionRejected(version, reason, clock.millis()))
                        .thenRun(after -> cleanUp(hash).whenComplete((done, failure) -> {
                            if (failure != null) {
                                context.getLog().warn("adapter {}/{}: clean-up of rejected {} failed; the start sweep removes "
                                        + "its blob: {}", tenant, name, hash, failure.toString());
                            }
                        })),
                replyTo, after -> Reply.refused(error, reason, view(after))));
    }

    // ---- the catalog: promote, canary, rollback, retire

    private ReplyEffect<AdapterEvent, AdapterState> onPromote(AdapterState state, Promote promote) {
        ActorRef<Reply> replyTo = promote.replyTo();
        Version version;
        if (promote.version() == null) {
            Optional<Version> ready = state.newestReady();
            if (ready.isEmpty()) {
                return refuse(replyTo, Error.CONFLICT, "adapter " + tenant + "/" + name + " has no READY version to promote; "
                        + states(state), state);
            }
            version = ready.get();
        } else {
            Optional<Version> found = find(state, promote.version());
            if (found.isEmpty()) {
                return refuseVersion(replyTo, promote.version(), state);
            }
            version = found.get();
        }
        return switch (version.state()) {
            case PROMOTED -> Effect().reply(replyTo, Reply.ok(view(state)));
            case READY, CANARY, ROLLED_BACK -> changeCatalog(state, new VersionPromoted(version.number(), clock.millis()), replyTo);
            default -> refuseState(replyTo, version, "only a READY, CANARY or ROLLED_BACK version can be promoted", state);
        };
    }

    private ReplyEffect<AdapterEvent, AdapterState> onStartCanary(AdapterState state, StartCanary start) {
        ActorRef<Reply> replyTo = start.replyTo();
        Optional<String> badShare = badShare(start);
        if (badShare.isPresent()) {
            return refuse(replyTo, Error.INVALID, badShare.get(), state);
        }
        Optional<Version> found = find(state, start.version());
        if (found.isEmpty()) {
            return refuseVersion(replyTo, start.version(), state);
        }
        Version version = found.get();
        if (state.promoted() == null) {
            return refuse(replyTo, Error.CONFLICT, "adapter " + tenant + "/" + name
                    + " has no promoted version: promote one before starting a canary", state);
        }
        if (state.canary() != null && state.canary() != version.number()) {
            return refuse(replyTo, Error.CONFLICT, "version " + state.canary() + " of adapter " + tenant + "/" + name
                    + " is the canary already: stop it first", state);
        }
        return switch (version.state()) {
            case CANARY -> start.share() == state.canaryShare() ? Effect().reply(replyTo, Reply.ok(view(state)))
                    : changeCatalog(state, new CanaryStarted(version.number(), start.share(), clock.millis()), replyTo);
            case READY, ROLLED_BACK -> changeCatalog(state, new CanaryStarted(version.number(), start.share(), clock.millis()),
                    replyTo);
            default -> refuseState(replyTo, version, "only a READY or ROLLED_BACK version can become the canary", state);
        };
    }

    /** Why {@code start}'s share is no canary's share, if it is not. */
    private static Optional<String> badShare(StartCanary start) {
        return start.share() > 0 && start.share() < 1 ? Optional.empty()
                : Optional.of("a canary's share is between 0 and 1 (both excluded), got " + start.share());
    }

    private ReplyEffect<AdapterEvent, AdapterState> onStopCanary(AdapterState state, StopCanary stop) {
        if (state.canary() == null) {
            return refuse(stop.replyTo(), Error.CONFLICT, "adapter " + tenant + "/" + name + " has no canary to stop", state);
        }
        return changeCatalog(state, new CanaryStopped(state.canary(), clock.millis()), stop.replyTo());
    }

    private ReplyEffect<AdapterEvent, AdapterState> onRollback(AdapterState state, Rollback rollback) {
        if (state.promoted() == null) {
            return refuse(rollback.replyTo(), Error.CONFLICT, "adapter " + tenant + "/" + name
                    + " has no promoted version to roll back", state);
        }
        Optional<Version> target = state.rollbackTarget();
        if (target.isEmpty()) {
            return refuse(rollback.replyTo(), Error.CONFLICT, "adapter " + tenant + "/" + name
                    + " has no previously promoted version that is READY to roll back to; " + states(state), state);
        }
        return changeCatalog(state, new RolledBack(state.promoted(), target.get().number(), clock.millis()), rollback.replyTo());
    }

    private ReplyEffect<AdapterEvent, AdapterState> onRetire(AdapterState state, Retire retire) {
        ActorRef<Reply> replyTo = retire.replyTo();
        Optional<Version> found = find(state, retire.version());
        if (found.isEmpty()) {
            return refuseVersion(replyTo, retire.version(), state);
        }
        Version version = found.get();
        return switch (version.state()) {
            case RETIRED -> Effect().reply(replyTo, Reply.ok(view(state)));
            case READY, ROLLED_BACK -> changeCatalog(state, new VersionRetired(version.number(), clock.millis()), replyTo);
            case PROMOTED -> refuseState(replyTo, version, "promote another version or roll back before retiring it", state);
            case CANARY -> refuseState(replyTo, version, "stop the canary before retiring it", state);
            default -> refuseState(replyTo, version, "only a READY or ROLLED_BACK version can be retired", state);
        };
    }

    /**
     * A node quarantined a version. It leaves the catalog like any change of the catalog: the
     * tenant's entry first (a promoted or canary pointer to it cleared), then the journal.
     */
    private ReplyEffect<AdapterEvent, AdapterState> onMarkFailed(AdapterState state, MarkFailed failed) {
        ActorRef<Reply> replyTo = failed.replyTo();
        Optional<Version> found = state.version(failed.version());
        if (found.isEmpty() || !found.get().hash().equals(failed.hash())) {
            // a report about a version deleted meanwhile, or about other bytes than this version's
            return refuse(replyTo, Error.NOT_FOUND, "adapter " + tenant + "/" + name + " has no version " + failed.version()
                    + " stored as " + failed.hash(), state);
        }
        Version version = found.get();
        return switch (version.state()) {
            case FAILED -> Effect().reply(replyTo, Reply.ok(view(state)));
            case REJECTED, DELETED -> refuseState(replyTo, version, "only a version that can serve can be marked failed", state);
            case UPLOADED, READY, CANARY, PROMOTED, ROLLED_BACK, RETIRED -> changeCatalog(state,
                    new VersionFailed(version.number(), failed.reason(), clock.millis()), replyTo);
        };
    }

    /** Sends the catalog the entry {@code event} leads to, and journals {@code event} once the tenant has acknowledged it. */
    private ReplyEffect<AdapterEvent, AdapterState> changeCatalog(AdapterState state, AdapterEvent event, ActorRef<Reply> replyTo) {
        AdapterState next = state.apply(event);
        begin();
        askCatalog(next, s -> finish(Effect().persist(event).thenReply(replyTo, after -> Reply.ok(view(after)))), replyTo);
        return Effect().noReply();
    }

    // ---- delete: catalog first, then the tombstone, then blobs, engines and the quota

    private ReplyEffect<AdapterEvent, AdapterState> onDelete(AdapterState state, Delete delete) {
        // the delete is journaled with what it must clean up, so a crash before the clean-up ends resumes it
        AdapterDeleted deleted = new AdapterDeleted(state.versions().stream().map(Version::hash).toList(), clock.millis(),
                state.liveHashes());
        begin();
        askCatalog(state.apply(deleted), acked -> finish(Effect().persist(deleted).thenRun(after -> {
            resumeCleanup(after);
            tenantEntity.tell(new TrackAdapterName(name, false, ignoreTenantAck));
        }).thenReply(delete.replyTo(), after -> Reply.ok(view(after)))), delete.replyTo());
        return Effect().noReply();
    }

    // ---- a delete's clean-up: journaled as pending with the delete, confirmed hash by hash

    private void resumeCleanup(AdapterState state) {
        for (ContentHash hash : state.pendingCleanup()) {
            if (cleaning.add(hash)) {
                context.pipeToSelf(cleanUp(hash), (done, failure) -> new CleanedUp(hash, failure));
            }
        }
    }

    private ReplyEffect<AdapterEvent, AdapterState> onCleanedUp(AdapterState state, CleanedUp cleaned) {
        cleaning.remove(cleaned.hash());
        if (cleaned.failure() != null) {
            context.getLog().warn("adapter {}/{}: clean-up of {} failed, retrying in {}: {}", tenant, name, cleaned.hash(),
                    settings.cleanupRetry(), cleaned.failure().toString());
            context.scheduleOnce(settings.cleanupRetry(), context.getSelf(), ResumeCleanup.INSTANCE);
            return Effect().noReply();
        }
        if (!state.pendingCleanup().contains(cleaned.hash())) {
            return Effect().noReply();
        }
        return Effect().persist(new CleanupCompleted(List.of(cleaned.hash()), clock.millis())).thenNoReply();
    }

    /**
     * This name lets go of {@code hash} at the tenant; when no other name of the tenant holds it,
     * every copy goes: the blob in every store (the routers' stores must confirm: they hold the
     * durable copies) and the engines' tiers. Idempotent: run again after a crash, it finds the
     * name let go already and deletes what may remain.
     */
    private CompletionStage<Void> cleanUp(ContentHash hash) {
        Duration timeout = settings.tenantTimeout();
        return tenantEntity.<StorageLeft>ask(r -> new LetGoStorage(hash.hex(), name, r), timeout).thenCompose(left -> {
            if (!left.ok()) {
                throw new IllegalStateException("tenant " + tenant + " is not set up");
            }
            if (left.holdersLeft() > 0) {
                return CompletableFuture.completedFuture(null); // another name of the tenant uses the same content
            }
            CompletionStage<Set<ActorRef<BlobProtocol.Command>>> durable = find(BlobProtocol.SERVICE_KEY);
            return find(BlobProtocol.SOURCE_KEY).thenCombine(durable, (sources, routers) -> {
                find(GpuNodeProtocol.SERVICE_KEY).thenAccept(nodes ->
                        nodes.forEach(node -> node.tell(new DropAdapter(tenant, hash, ignoreNodeAck))));
                List<CompletableFuture<?>> confirmed = new ArrayList<>();
                for (ActorRef<BlobProtocol.Command> store : sources) {
                    if (routers.contains(store)) {
                        confirmed.add(AskPattern.<BlobProtocol.Command, BlobProtocol.Deleted>ask(store,
                                r -> new BlobProtocol.DeleteBlob(tenant, hash, r), timeout, system.scheduler()).toCompletableFuture());
                    } else {
                        store.tell(new BlobProtocol.DeleteBlob(tenant, hash, ignoreDeleted)); // a node's copy, never served again
                    }
                }
                return CompletableFuture.allOf(confirmed.toArray(CompletableFuture[]::new));
            }).thenCompose(all -> all).thenApply(all -> null);
        });
    }

    private <T> CompletionStage<Set<ActorRef<T>>> find(ServiceKey<T> key) {
        return AskPattern.<Receptionist.Command, Receptionist.Listing>ask(system.receptionist(), r -> Receptionist.find(key, r),
                settings.receptionistTimeout(), system.scheduler()).thenApply(listing -> listing.getServiceInstances(key));
    }

    // ---- asynchronous steps: one operation at a time

    private void begin() {
        busy = true;
        op++;
    }

    /** Ends the operation: stashed commands run next. */
    private ReplyEffect<AdapterEvent, AdapterState> finish(ReplyEffect<AdapterEvent, AdapterState> effect) {
        busy = false;
        stashed = 0;
        return effect.thenUnstashAll();
    }

    private <Req, Res> void ask(Class<Res> type, RecipientRef<Req> target, Duration timeout,
            Function<ActorRef<Res>, Req> request, BiFunction<AdapterState, Res, ReplyEffect<AdapterEvent, AdapterState>> onAnswer,
            Function<AdapterState, ReplyEffect<AdapterEvent, AdapterState>> onTimeout) {
        long current = op;
        context.ask(type, target, timeout, request::apply, (answer, failure) -> answer != null
                ? new Step(current, s -> onAnswer.apply(s, answer))
                : new Step(current, onTimeout));
    }

    /**
     * Sends the catalog the entry of {@code next}; once acknowledged, continues with what
     * {@code then} gives; refused or not acknowledged in time, answers UNAVAILABLE and ends (after
     * a timeout re-sending the unchanged entry, in case the tenant applies the change late).
     */
    private void askCatalog(AdapterState next, Function<AdapterState, ReplyEffect<AdapterEvent, AdapterState>> then,
            ActorRef<Reply> replyTo) {
        ask(Ack.class, tenantEntity, settings.tenantTimeout(), r -> updateCatalog(next, r),
                (s, ack) -> ack.ok() ? then.apply(s) : finish(refuse(replyTo, Error.UNAVAILABLE,
                        "the catalog of tenant " + tenant + " refused the change: " + ack.message() + "; nothing changed", s)),
                s -> {
                    // the change may still arrive and be applied late: this entry, sent after it, undoes it
                    tenantEntity.tell(updateCatalog(s, ignoreTenantAck));
                    return finish(refuse(replyTo, Error.UNAVAILABLE, "tenant " + tenant
                            + " did not acknowledge the catalog change within " + settings.tenantTimeout() + "; nothing changed", s));
                });
    }

    /** {@link #lookUp}, as the effect of a step: nothing yet, the operation goes on. */
    private <T> ReplyEffect<AdapterEvent, AdapterState> withServices(ServiceKey<T> key,
            Function<Set<ActorRef<T>>, Function<AdapterState, ReplyEffect<AdapterEvent, AdapterState>>> then) {
        lookUp(key, then);
        return Effect().noReply();
    }

    /**
     * Looks {@code key} up in the receptionist, then continues with what {@code then} makes of the
     * instances (none when the receptionist does not answer in time).
     */
    private <T> void lookUp(ServiceKey<T> key,
            Function<Set<ActorRef<T>>, Function<AdapterState, ReplyEffect<AdapterEvent, AdapterState>>> then) {
        ask(Receptionist.Listing.class, context.getSystem().receptionist(), settings.receptionistTimeout(),
                r -> Receptionist.find(key, r),
                (s, listing) -> then.apply(listing.getServiceInstances(key)).apply(s),
                s -> {
                    context.getLog().warn("adapter {}/{}: the receptionist did not list {} within {}", tenant, name, key.id(),
                            settings.receptionistTimeout());
                    return then.apply(Set.of()).apply(s);
                });
    }

    private ReplyEffect<AdapterEvent, AdapterState> stash(AdapterState state, Command command) {
        if (stashed >= settings.commandStash()) {
            return refuse(replyTo(command), Error.UNAVAILABLE, "adapter " + tenant + "/" + name + " has " + stashed
                    + " commands waiting; retry later", state);
        }
        stashed++;
        return Effect().stash();
    }

    // ---- replies

    private UpdateCatalog updateCatalog(AdapterState state, ActorRef<Ack> replyTo) {
        AdapterRef canary = state.canaryRef(tenant, name);
        // a name whose promoted version was quarantined keeps answering why, instead of "does not exist"
        TenantProtocol.Quarantine quarantined = state.quarantinedPromotion()
                .map(v -> new TenantProtocol.Quarantine(v.number(), v.reason() == null ? "no reason given" : v.reason()))
                .orElse(null);
        return new UpdateCatalog(name, state.promotedRef(tenant, name), canary, canary == null ? 0 : state.canaryShare(), quarantined,
                replyTo);
    }

    private AdapterView view(AdapterState state) {
        return state.view(tenant, name);
    }

    private static ReplyEffect<AdapterEvent, AdapterState> replyAfter(EffectBuilder<AdapterEvent, AdapterState> effect,
            ActorRef<Reply> replyTo, Function<AdapterState, Reply> reply) {
        return replyTo == null ? effect.thenNoReply() : effect.thenReply(replyTo, reply::apply);
    }

    private ReplyEffect<AdapterEvent, AdapterState> refuse(ActorRef<Reply> replyTo, Error error, String message,
            AdapterState state) {
        if (replyTo == null) {
            context.getLog().info("adapter {}/{}: {}", tenant, name, message);
            return Effect().noReply();
        }
        return Effect().reply(replyTo, Reply.refused(error, message, view(state)));
    }

    private ReplyEffect<AdapterEvent, AdapterState> refuseMissing(ActorRef<Reply> replyTo, AdapterState state) {
        return refuse(replyTo, Error.NOT_FOUND, "adapter " + tenant + "/" + name + " does not exist", state);
    }

    private ReplyEffect<AdapterEvent, AdapterState> refuseVersion(ActorRef<Reply> replyTo, int version, AdapterState state) {
        return version < 1
                ? refuse(replyTo, Error.INVALID, "adapter versions start at 1, got " + version, state)
                : refuse(replyTo, Error.NOT_FOUND, "adapter " + tenant + "/" + name + " has no version " + version, state);
    }

    private ReplyEffect<AdapterEvent, AdapterState> refuseState(ActorRef<Reply> replyTo, Version version, String rule,
            AdapterState state) {
        return refuse(replyTo, Error.CONFLICT, "version " + version.number() + " of adapter " + tenant + "/" + name + " is "
                + version.state() + ": " + rule, state);
    }

    private static Optional<Version> find(AdapterState state, int version) {
        return state.version(version);
    }

    /** "v1 READY, v2 PROMOTED": the versions' states, for refusals. */
    private static String states(AdapterState state) {
        List<String> all = state.versions().stream().map(v -> "v" + v.number() + " " + v.state()).toList();
        return "versions: " + String.join(", ", all);
    }

    private static ActorRef<Reply> replyTo(Command command) {
        return switch (command) {
            case RegisterVersion c -> c.replyTo();
            case Promote c -> c.replyTo();
            case StartCanary c -> c.replyTo();
            case StopCanary c -> c.replyTo();
            case Rollback c -> c.replyTo();
            case Retire c -> c.replyTo();
            case Delete c -> c.replyTo();
            case Get c -> c.replyTo();
            case MarkFailed c -> c.replyTo();
        };
    }
}
