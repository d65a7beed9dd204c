package io.loraplex.persistence.tenant;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.Ack;
import io.loraplex.cluster.tenant.TenantProtocol.AddApiKey;
import io.loraplex.cluster.tenant.TenantProtocol.AdapterNames;
import io.loraplex.cluster.tenant.TenantProtocol.Admit;
import io.loraplex.cluster.tenant.TenantProtocol.Admitted;
import io.loraplex.cluster.tenant.TenantProtocol.Authorization;
import io.loraplex.cluster.tenant.TenantProtocol.Authorize;
import io.loraplex.cluster.tenant.TenantProtocol.Command;
import io.loraplex.cluster.tenant.TenantProtocol.CreateApiKey;
import io.loraplex.cluster.tenant.TenantProtocol.Denied;
import io.loraplex.cluster.tenant.TenantProtocol.DenyReason;
import io.loraplex.cluster.tenant.TenantProtocol.Finished;
import io.loraplex.cluster.tenant.TenantProtocol.GetInfo;
import io.loraplex.cluster.tenant.TenantProtocol.GetUsage;
import io.loraplex.cluster.tenant.TenantProtocol.Info;
import io.loraplex.cluster.tenant.TenantProtocol.KeyCreated;
import io.loraplex.cluster.tenant.TenantProtocol.KeyList;
import io.loraplex.cluster.tenant.TenantProtocol.Limits;
import io.loraplex.cluster.tenant.TenantProtocol.ListAdapterNames;
import io.loraplex.cluster.tenant.TenantProtocol.ListApiKeys;
import io.loraplex.cluster.tenant.TenantProtocol.ListModels;
import io.loraplex.cluster.tenant.TenantProtocol.ModelList;
import io.loraplex.cluster.tenant.TenantProtocol.Passivate;
import io.loraplex.cluster.tenant.TenantProtocol.HoldUpload;
import io.loraplex.cluster.tenant.TenantProtocol.LetGoStorage;
import io.loraplex.cluster.tenant.TenantProtocol.ReleaseStorage;
import io.loraplex.cluster.tenant.TenantProtocol.ReleaseUpload;
import io.loraplex.cluster.tenant.TenantProtocol.ReserveStorage;
import io.loraplex.cluster.tenant.TenantProtocol.RevokeApiKeyById;
import io.loraplex.cluster.tenant.TenantProtocol.Scope;
import io.loraplex.cluster.tenant.TenantProtocol.StorageLeft;
import io.loraplex.cluster.tenant.TenantProtocol.Setup;
import io.loraplex.cluster.tenant.TenantProtocol.TrackAdapterName;
import io.loraplex.cluster.tenant.TenantProtocol.UpdateCatalog;
import io.loraplex.cluster.tenant.TenantProtocol.UsageReport;
import io.loraplex.cluster.tenant.TenantProtocol.UsageRow;
import io.loraplex.persistence.tenant.TenantEvent.AdapterNameTracked;
import io.loraplex.persistence.tenant.TenantEvent.ApiKeyAdded;
import io.loraplex.persistence.tenant.TenantEvent.ApiKeyRevoked;
import io.loraplex.persistence.tenant.TenantEvent.CatalogUpdated;
import io.loraplex.persistence.tenant.TenantEvent.ProfileUpdated;
import io.loraplex.persistence.tenant.TenantEvent.StorageHeld;
import io.loraplex.persistence.tenant.TenantEvent.StorageLetGo;
import io.loraplex.persistence.tenant.TenantEvent.StorageReleased;
import io.loraplex.persistence.tenant.TenantEvent.StorageReserved;
import io.loraplex.persistence.tenant.TenantEvent.TenantCreated;
import io.loraplex.persistence.tenant.TenantEvent.UsageExpired;
import io.loraplex.persistence.tenant.TenantState.ApiKey;
import io.loraplex.persistence.tenant.TenantState.CatalogEntry;
import io.loraplex.persistence.tenant.TenantState.Profile;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.ORSet;
import org.apache.pekko.cluster.ddata.SelfUniqueAddress;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.cluster.ddata.typed.javadsl.ReplicatorMessageAdapter;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.persistence.query.PersistenceQuery;
import org.apache.pekko.persistence.query.javadsl.CurrentEventsByPersistenceIdQuery;
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
 * The sharded, event-sourced {@code Tenant} entity, one per tenant, on router nodes: its profile and
 * limits, its API keys (as SHA-256 hashes with scopes), its catalog of adapter names, its storage
 * reservations and its usage. Commands and replies are {@link TenantProtocol}'s; what it journals is
 * {@link TenantEvent}, what it recovers to (and snapshots) is {@link TenantState}.
 *
 * <p>Kept out of the journal: the token buckets and requests in flight ({@link Throttle}), which a
 * restart resets, and usage not yet flushed ({@link UsageBuffer}), journaled every
 * {@code usage-flush-interval} and on {@link Passivate}, never once per request. Kept out of the
 * state: the usage history ({@link UsageHistory}), read from the journal's usage events when usage
 * is asked for, starting from its latest checkpoint ({@link UsageCheckpoint}, in the snapshot store).
 *
 * <p>Commands are handled by state: {@code whenNotSetUp} and {@code whenSetUp}, each a switch over
 * the sealed {@link Command} without a default, so a new command must be handled in both.
 *
 * <p>The replicated key index ({@link TenantProtocol#KEY_INDEX}) follows the keys: an added key is
 * written to the index before its event (the index refuses a key of another tenant), a revoked key
 * is journaled and removed from the index at once, and on recovery the index is repaired from the
 * recovered keys. After recovery, every Adapter entity of the tenant's names is asked for its view
 * (it re-sends its catalog entry if the two disagree): the Adapter entity is the source of truth.
 *
 * <p>Time comes from the injected {@link Clock}; expiry of in-flight leases and usage flushes run on
 * the entity's timers.
 */
public final class TenantEntity extends EventSourcedBehaviorWithEnforcedReplies<Object, TenantEvent, TenantState> {

    /**
     * The answer for a name whose promoted version a GPU node quarantined, while no other version
     * serves: the version and the node's reason, and how to serve the name again.
     */
    static String quarantined(String name, TenantProtocol.Quarantine quarantine) {
        return "The model `" + name + "` is unavailable: its version " + quarantine.version() + " was quarantined ("
                + quarantine.reason() + "). Promote another version of it (POST /v1/adapters/" + name + "/promote) to serve it again.";
    }

    /** What OpenAI answers for a model that does not exist, or exists for somebody else. */
    static final String MODEL_NOT_FOUND = "The model `%s` does not exist or you do not have access to it.";
    /** The answer for an unknown or revoked key, and for keys of a tenant not set up. */
    static final String INCORRECT_KEY = "Incorrect API key provided.";
    /** Keys drawn by CreateApiKey start with this. */
    static final String KEY_PREFIX = "lpx-";
    /** The model of base-model requests in usage rows. */
    static final String BASE_MODEL = "";

    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");
    private static final int MAX_LABEL = 200;
    private static final SecureRandom RANDOM = new SecureRandom();

    // ---- messages the entity sends itself (timers, replicator and adapter replies): never leave this JVM

    private sealed interface Internal extends NoSerializationVerificationNeeded
            permits SweepLeases, FlushUsage, AdapterReplied, KeyIndexWritten, UsageRead, UsageCheckpointSaved {
    }

    /** Timer tick, and timer key: look for in-flight requests past their lease. */
    private enum SweepLeases implements Internal {
        INSTANCE
    }

    /** Timer tick, and timer key: journal the usage gathered in memory. */
    private enum FlushUsage implements Internal {
        INSTANCE
    }

    /** An Adapter entity's answer to the Get sent after recovery: nothing to do with it here. */
    private enum AdapterReplied implements Internal {
        INSTANCE
    }

    /** A key change waiting for its index write. */
    private sealed interface KeyChange permits Adding, Revoking {
    }

    /**
     * Adds {@code keyHash}; {@code apiKey} is the clear key for a CreateApiKey (answered to
     * {@code created}), else null. {@code unchanged}: the entity holds the key with these scopes
     * already (the index write only confirms it; nothing to journal).
     */
    private record Adding(String keyHash, String keyId, String label, Set<Scope> scopes, String apiKey, ActorRef<Ack> acked,
            ActorRef<KeyCreated> created, boolean unchanged) implements KeyChange {
    }

    private record Revoking(String keyHash, boolean wasHeld, ActorRef<Ack> replyTo) implements KeyChange {
    }

    /** The replicator's answer to the index write of {@code change}. */
    private record KeyIndexWritten(KeyChange change, Replicator.UpdateResponse<LWWMap<String, String>> response)
            implements Internal {
    }

    /**
     * The read journal's answer to a catch-up of the usage history up to sequence number {@code to}
     * ({@code read} null when it failed), for {@code queries} (none for a catch-up of the entity's
     * own), with what was pending when it started. The first read of an entity starts from its latest
     * checkpoint ({@code checkpoint}, null when there was none to use) and reads only what follows it.
     */
    private record UsageRead(List<GetUsage> queries, UsageBuffer pending, long to, UsageCheckpoint checkpoint,
            List<UsageHistory.Journaled> read, Throwable failure) implements Internal {
    }

    /** The snapshot store's answer to saving the usage checkpoint at {@code readTo}. */
    private record UsageCheckpointSaved(long readTo, boolean saved) implements Internal {
    }

    /** An upload's hold: its bytes, and when it was last grown (for its lease). */
    private record Hold(long bytes, long renewedNanos) {
    }

    // ---- the entity

    private final ActorContext<Object> context;
    private final TimerScheduler<Object> timers;
    private final ReplicatorMessageAdapter<Object, LWWMap<String, String>> replicator;
    private final ActorRef<Replicator.Command> replicatorRef;
    private final SelfUniqueAddress node;
    private final TenantId tenant;
    private final TenantSettings settings;
    private final Clock clock;
    private final Throttle throttle = new Throttle();
    private final UsageBuffer usage = new UsageBuffer();
    /** Upload id to its hold on the storage quota: bytes about to be written, not journaled (see HoldUpload). */
    private final Map<String, Hold> holds = new HashMap<>();
    /** The key change whose index write is in flight, or null; key commands behind it are stashed. */
    private KeyChange pendingKeyWrite;
    private int stashedKeyCommands;
    /** The journaled usage, read from the read journal when usage is asked for (never part of the state). */
    private final UsageHistory history = new UsageHistory();
    /** The read journal {@link #history} reads; null where the journal has none (then usage cannot be reported). */
    private final CurrentEventsByPersistenceIdQuery readJournal;
    /** The usage read in flight, or null; GetUsage arriving meanwhile waits in {@link #usageQueries} for the next. */
    private UsageRead usageRead;
    private final List<GetUsage> usageQueries = new ArrayList<>();
    /** Where {@link #history} starts from and is checkpointed to (the snapshot store, never this entity's snapshots). */
    private final UsageCheckpointStore checkpoints;
    /** Whether {@link #history} has started: from a checkpoint, or from the start of the journal where none was usable. */
    private boolean historyStarted;
    /** The sequence number of the newest checkpoint saved or started from (0: none). */
    private long checkpointedTo;
    private boolean checkpointSaving;

    private TenantEntity(ActorContext<Object> context, TimerScheduler<Object> timers, TenantId tenant, TenantSettings settings,
            Clock clock) {
        super(persistenceId(tenant), settings.journalFailureBackoff());
        this.context = context;
        this.timers = timers;
        DistributedData ddata = DistributedData.get(context.getSystem());
        // the adapter's own ask timeout only catches a replicator that never answers
        this.replicator = new ReplicatorMessageAdapter<>(context, ddata.replicator(),
                settings.keyIndexWriteTimeout().plus(Duration.ofSeconds(5)));
        this.replicatorRef = ddata.replicator();
        this.node = ddata.selfUniqueAddress();
        this.tenant = tenant;
        this.settings = settings;
        this.clock = clock;
        String plugin = settings.readJournalPluginId(context.getSystem().settings().config());
        this.readJournal = plugin == null ? null : PersistenceQuery.get(Adapter.toClassic(context.getSystem()))
                .getReadJournalFor(CurrentEventsByPersistenceIdQuery.class, plugin);
        this.checkpoints = new UsageCheckpointStore(context.getSystem(), settings.usageCheckpointTimeout());
    }

    /** The journal's id of a tenant: {@code Tenant|<id>}. */
    public static PersistenceId persistenceId(TenantId tenant) {
        return PersistenceId.of(TenantProtocol.TYPE_KEY.name(), tenant.value());
    }

    /**
     * The entity of {@code tenant}, not set up until its first {@code Setup}. A command that throws
     * restarts it: it recovers its durable state from the journal, and its buckets start full.
     */
    public static Behavior<Command> create(TenantId tenant, TenantSettings settings, Clock clock) {
        Behavior<Object> entity = Behaviors.setup(context -> Behaviors.withTimers(
                timers -> new TenantEntity(context, timers, tenant, settings, clock)));
        return Behaviors.supervise(entity).onFailure(RuntimeException.class, SupervisorStrategy.restart()).narrow();
    }

    @Override
    public TenantState emptyState() {
        return TenantState.EMPTY;
    }

    @Override
    public EventHandler<TenantState, TenantEvent> eventHandler() {
        return TenantState::apply;
    }

    @Override
    public RetentionCriteria retentionCriteria() {
        return RetentionCriteria.snapshotEvery(settings.snapshotEvery(), settings.keepSnapshots());
    }

    @Override
    public SignalHandler<TenantState> signalHandler() {
        return newSignalHandlerBuilder().onSignal(RecoveryCompleted.instance(), this::onRecovered).build();
    }

    @Override
    public CommandHandlerWithReply<Object, TenantEvent, TenantState> commandHandler() {
        // Object only because Command (in cluster/) and Internal cannot share a sealed parent: the
        // entity's ref takes Commands, and Internals come from its own timers and adapters
        return (state, message) -> message instanceof Internal internal ? onInternal(state, internal)
                : state.isSetUp() ? whenSetUp(state, (Command) message) : whenNotSetUp(state, (Command) message);
    }

    /**
     * A tenant not set up: {@code Setup} creates it; reads answer "unknown" or empty, changes are
     * refused. An upload's hold is let go of whatever the state (ReleaseUpload only frees memory).
     */
    private ReplyEffect<TenantEvent, TenantState> whenNotSetUp(TenantState state, Command command) {
        return switch (command) {
            case Setup c -> onSetup(state, c);
            // no key is held yet: every key is unknown
            case Admit c -> Effect().reply(c.replyTo(), new Denied(DenyReason.UNAUTHORIZED, INCORRECT_KEY, 0));
            case Authorize c -> Effect().reply(c.replyTo(), new Authorization(false, DenyReason.UNAUTHORIZED, INCORRECT_KEY));
            case ListModels c -> Effect().reply(c.replyTo(), new ModelList(false, List.of()));
            // null profile fields: nothing set up yet
            case GetInfo c -> Effect().reply(c.replyTo(), new Info(tenant, null, null, null, 0, 0, 0L, List.of()));
            case TenantProtocol.ResolveModel c -> Effect().reply(c.replyTo(), new TenantProtocol.Resolved(false, null));
            case ListApiKeys c -> Effect().reply(c.replyTo(), new KeyList(false, List.of()));
            case ListAdapterNames c -> Effect().reply(c.replyTo(), new AdapterNames(false, List.of()));
            case GetUsage c -> Effect().reply(c.replyTo(), new UsageReport(false, List.of()));
            case LetGoStorage c -> Effect().reply(c.replyTo(), new StorageLeft(false, c.key(), 0));
            case CreateApiKey c -> Effect().reply(c.replyTo(), refusedKey(notSetUp()));
            case AddApiKey c -> refuseNotSetUp(c.replyTo());
            case RevokeApiKeyById c -> refuseNotSetUp(c.replyTo());
            case UpdateCatalog c -> refuseNotSetUp(c.replyTo());
            case TrackAdapterName c -> refuseNotSetUp(c.replyTo());
            case ReserveStorage c -> refuseNotSetUp(c.replyTo());
            case ReleaseStorage c -> refuseNotSetUp(c.replyTo());
            case HoldUpload c -> refuseNotSetUp(c.replyTo());
            case ReleaseUpload c -> onReleaseUpload(c);
            // nothing was admitted, so nothing finishes
            case Finished c -> onFinished(c);
            // nothing in flight, nothing to journal
            case Passivate _ -> Effect().stop().thenNoReply();
        };
    }

    /** A tenant set up: every command. */
    private ReplyEffect<TenantEvent, TenantState> whenSetUp(TenantState state, Command command) {
        return switch (command) {
            case Setup c -> onSetup(state, c);
            case Admit c -> onAdmit(state, c);
            case Finished c -> onFinished(c);
            case Authorize c -> Effect().reply(c.replyTo(), authorize(state, c));
            case ListModels c -> {
                boolean authorized = state.keys().containsKey(c.keyHash());
                yield Effect().reply(c.replyTo(), new ModelList(authorized, authorized ? state.models() : List.of()));
            }
            case GetInfo c -> Effect().reply(c.replyTo(), info(state));
            case TenantProtocol.ResolveModel c -> {
                TenantState.CatalogEntry entry = state.catalog().get(c.name());
                AdapterRef ref = entry == null ? null : entry.promoted() != null ? entry.promoted() : entry.canary();
                yield Effect().reply(c.replyTo(), new TenantProtocol.Resolved(ref != null, ref));
            }
            case AddApiKey c -> onAddApiKey(state, c);
            case CreateApiKey c -> onCreateApiKey(c);
            case RevokeApiKeyById c -> onRevokeById(state, c);
            case ListApiKeys c -> Effect().reply(c.replyTo(), new KeyList(true, state.keyInfos()));
            case UpdateCatalog c -> onUpdateCatalog(state, c.name(), c.promoted(), c.canary(), c.canaryShare(), c.quarantined(),
                    c.replyTo(), "UpdateCatalog");
            case TrackAdapterName c -> onTrackAdapterName(state, c);
            case ListAdapterNames c -> Effect().reply(c.replyTo(), new AdapterNames(true, state.sortedAdapterNames()));
            case ReserveStorage c -> onReserveStorage(state, c);
            case ReleaseStorage c -> onReleaseStorage(state, c);
            case HoldUpload c -> onHoldUpload(state, c);
            case ReleaseUpload c -> onReleaseUpload(c);
            case LetGoStorage c -> onLetGoStorage(state, c);
            case GetUsage c -> onGetUsage(c);
            // a key change or a usage read in flight finishes first: its caller gets an answer
            case Passivate _ when pendingKeyWrite != null || usageRead != null -> Effect().stash();
            case Passivate _ -> usage.isEmpty() ? Effect().stop().thenNoReply()
                    : Effect().persist(withRetention(state, usage.drain())).thenStop().thenNoReply();
        };
    }

    /** What the entity sends itself; the same in either state (none of it arises before Setup). */
    private ReplyEffect<TenantEvent, TenantState> onInternal(TenantState state, Internal message) {
        return switch (message) {
            case KeyIndexWritten m -> onKeyIndexWritten(state, m);
            case SweepLeases _ -> onSweepLeases();
            case FlushUsage _ -> usage.isEmpty() ? Effect().noReply()
                    : Effect().persist(withRetention(state, usage.drain())).thenRun(s -> catchUpIfBehind()).thenNoReply();
            case UsageRead m -> onUsageRead(m);
            case UsageCheckpointSaved m -> onUsageCheckpointSaved(m);
            case AdapterReplied _ -> Effect().noReply();
        };
    }

    private ReplyEffect<TenantEvent, TenantState> onReleaseUpload(ReleaseUpload release) {
        holds.remove(release.uploadId());
        return Effect().reply(release.replyTo(), Ack.done());
    }

    // ---- recovery: ephemeral limits, the key index, the registry of tenants and the adapters' views

    private void onRecovered(TenantState state) {
        if (!state.isSetUp()) {
            return;
        }
        throttle.configure(state.profile().limits(), nowNanos());
        repairKeyIndex(Set.copyOf(state.keys().keySet()));
        registerTenant();
        askAdaptersForTheirViews(state.allAdapterNames());
    }

    /** Puts the recovered keys the index lacks, and removes this tenant's entries for keys it no longer holds. */
    private void repairKeyIndex(Set<String> held) {
        replicatorRef.tell(new Replicator.Update<>(TenantProtocol.KEY_INDEX, LWWMap.<String, String>empty(),
                Replicator.writeLocal(), context.getSystem().ignoreRef(), KeyIndexChanges.repair(node, held, tenant.value())));
    }

    private void registerTenant() {
        String id = tenant.value();
        SelfUniqueAddress self = node;
        replicatorRef.tell(new Replicator.Update<>(TenantProtocol.TENANT_REGISTRY, ORSet.<String>empty(),
                Replicator.writeLocal(), context.getSystem().ignoreRef(), set -> set.add(self, id)));
    }

    /**
     * Each Adapter entity answers a Get after its own recovery, and re-sends its catalog entry if
     * ours differs. Skipped where the Adapter entity is not registered with sharding (tests of the
     * tenant alone; nodes without the adapter lifecycle).
     */
    private void askAdaptersForTheirViews(Set<String> names) {
        if (names.isEmpty()) {
            return;
        }
        ActorRef<AdapterProtocol.Reply> ignore = context.messageAdapter(AdapterProtocol.Reply.class, r -> AdapterReplied.INSTANCE);
        ClusterSharding sharding = ClusterSharding.get(context.getSystem());
        try {
            for (String name : names) {
                sharding.entityRefFor(AdapterProtocol.TYPE_KEY, AdapterProtocol.entityId(tenant, name))
                        .tell(new AdapterProtocol.Get(ignore));
            }
        } catch (IllegalStateException | IllegalArgumentException e) {
            context.getLog().debug("tenant {}: adapter views not requested: {}", tenant, e.getMessage());
        }
    }

    // ---- admission: key, scope, model, then limits; all or nothing

    private ReplyEffect<TenantEvent, TenantState> onAdmit(TenantState state, Admit admit) {
        ApiKey key = state.keys().get(admit.keyHash());
        if (key == null) {
            return Effect().reply(admit.replyTo(), new Denied(DenyReason.UNAUTHORIZED, INCORRECT_KEY, 0));
        }
        if (admit.scope() == null || !key.scopes().contains(admit.scope())) {
            return Effect().reply(admit.replyTo(), new Denied(DenyReason.FORBIDDEN, missingScope(admit.scope()), 0));
        }
        AdapterRef adapter = null;
        if (admit.model() != null) {
            CatalogEntry entry = state.catalog().get(admit.model());
            if (entry == null) {
                // the same words whether the name is another tenant's or nobody's
                return Effect().reply(admit.replyTo(),
                        new Denied(DenyReason.MODEL_NOT_FOUND, MODEL_NOT_FOUND.formatted(admit.model()), 0));
            }
            adapter = entry.serve(ThreadLocalRandom.current().nextDouble());
            if (adapter == null) {
                // kept in the catalog only to say why it serves nothing
                return Effect().reply(admit.replyTo(), new Denied(DenyReason.MODEL_QUARANTINED,
                        quarantined(admit.model(), entry.quarantined()), 0));
            }
        }
        Limits limits = state.profile().limits();
        Admitted go = new Admitted(tenant, adapter, state.profile().weight(), limits.maxTokensPerRequest());
        if (throttle.inFlight().containsKey(admit.requestId())) {
            // a router's retry of an admission it did not hear: already reserved
            return Effect().reply(admit.replyTo(), go);
        }

        long now = nowNanos();
        int tokens = Math.max(0, admit.tokens());
        TokenBucket requestBucket = throttle.requests(now);
        TokenBucket tokenBucket = throttle.tokens(now);
        if (tokens > tokenBucket.capacity()) {
            // no wait ever fits it: a 429 would send the client into retries that never succeed
            return Effect().reply(admit.replyTo(), new Denied(DenyReason.REQUEST_TOO_LARGE, "Request too large for tenant "
                    + tenant + ": it may use " + tokens + " tokens (the prompt and max_tokens for every choice), above the limit of "
                    + limits.tokensPerMinute() + " tokens per minute; the largest max_tokens per request is "
                    + limits.maxTokensPerRequest() + ". Reduce max_tokens or the prompt.", 0));
        }
        long retryAfter = 0;
        List<String> over = new ArrayList<>(3);
        if (throttle.inFlight().size() >= limits.maxConcurrent()) {
            retryAfter = Math.max(retryAfter, settings.concurrencyRetryAfter().toMillis());
            over.add("Too many concurrent requests: Limit " + limits.maxConcurrent() + ".");
        }
        if (requestBucket.level() < 1) {
            retryAfter = Math.max(retryAfter, requestBucket.millisUntil(1));
            over.add("Rate limit reached on requests per second (RPS): Limit " + number(limits.requestsPerSecond())
                    + ", burst " + limits.requestBurst() + ", Requested 1.");
        }
        if (tokenBucket.level() < tokens) {
            retryAfter = Math.max(retryAfter, tokenBucket.millisUntil(tokens));
            over.add("Rate limit reached on tokens per min (TPM): Limit " + limits.tokensPerMinute() + ", Available "
                    + (long) Math.floor(tokenBucket.level()) + ", Requested " + tokens + ".");
        }
        if (!over.isEmpty()) {
            return Effect().reply(admit.replyTo(), new Denied(DenyReason.RATE_LIMITED,
                    "Tenant " + tenant + ": " + String.join(" ", over) + " Please try again in " + retryAfter + "ms.",
                    retryAfter));
        }
        throttle.admitted(admit.requestId(), tokens, admit.model() == null ? BASE_MODEL : admit.model(), now);
        startSweepingIfNeeded();
        return Effect().reply(admit.replyTo(), go);
    }

    private ReplyEffect<TenantEvent, TenantState> onFinished(Finished finished) {
        long now = nowNanos();
        Throttle.InFlight lease = throttle.finished(finished.requestId(), Math.max(0, finished.tokens()), now);
        if (lease == null) {
            // unknown, finished twice, or its lease expired: its slot is already free
            context.getLog().debug("tenant {}: Finished for {} which is not in flight", tenant, finished.requestId());
            return Effect().noReply();
        }
        recordUsage(lease.model(), Math.max(0, finished.tokens()));
        stopSweepingIfIdle();
        return Effect().noReply();
    }

    private ReplyEffect<TenantEvent, TenantState> onSweepLeases() {
        long now = nowNanos();
        long lease = settings.inFlightLease().toNanos();
        List<String> expired = new ArrayList<>();
        throttle.inFlight().forEach((id, inFlight) -> {
            if (now - inFlight.admittedNanos() >= lease) {
                expired.add(id);
            }
        });
        if (!expired.isEmpty()) {
            context.getLog().warn("tenant {}: {} in-flight request(s) passed their lease of {} without Finished, released: {}",
                    tenant, expired.size(), settings.inFlightLease(), expired);
            // billed with what they reserved: what they used is unknown
            throttle.expire(expired).forEach(gone -> recordUsage(gone.model(), gone.tokensReserved()));
            stopSweepingIfIdle();
        }
        return Effect().noReply();
    }

    /**
     * The usage to journal, preceded by the expiry of hours past the retention when the state holds
     * any: one more event per flush at most, and only when an hour has aged out.
     */
    private List<TenantEvent> withRetention(TenantState state, List<? extends TenantEvent> recorded) {
        long keepFrom = (clock.instant().getEpochSecond() - settings.usageRetention().toSeconds()) / 3600;
        List<TenantEvent> events = new ArrayList<>(recorded.size() + 1);
        // usageFrom is a lower bound: an expiry may find no hour left to drop, and costs one small event
        if (state.usageFrom() < keepFrom) {
            events.add(new UsageExpired(keepFrom));
        }
        events.addAll(recorded);
        return events;
    }

    private void recordUsage(String model, long tokens) {
        if (usage.isEmpty()) {
            timers.startSingleTimer(FlushUsage.INSTANCE, FlushUsage.INSTANCE, settings.usageFlushInterval());
        }
        usage.add(clock.instant().getEpochSecond() / 3600, model, 1, tokens);
    }

    private void startSweepingIfNeeded() {
        if (!timers.isTimerActive(SweepLeases.INSTANCE)) {
            timers.startTimerWithFixedDelay(SweepLeases.INSTANCE, SweepLeases.INSTANCE, settings.leaseSweepInterval());
        }
    }

    private void stopSweepingIfIdle() {
        if (throttle.inFlight().isEmpty()) {
            timers.cancel(SweepLeases.INSTANCE);
        }
    }

    // ---- reads

    private Info info(TenantState state) {
        Profile p = state.profile();
        return new Info(tenant, p.displayName(), p.tier(), p.limits(), state.keys().size(), throttle.inFlight().size(),
                storageUsed(state), state.models());
    }

    private static Authorization authorize(TenantState state, Authorize authorize) {
        ApiKey key = state.keys().get(authorize.keyHash());
        if (key == null) {
            return new Authorization(false, DenyReason.UNAUTHORIZED, INCORRECT_KEY);
        }
        if (authorize.scope() == null || !key.scopes().contains(authorize.scope())) {
            return new Authorization(false, DenyReason.FORBIDDEN, missingScope(authorize.scope()));
        }
        return new Authorization(true, null, "");
    }

    // ---- usage reports: the usage history read from the journal, and what is pending in memory

    private ReplyEffect<TenantEvent, TenantState> onGetUsage(GetUsage get) {
        if (readJournal == null) {
            // TenantSharding.init refuses to start without one; an entity created around it cannot report usage
            context.getLog().error("tenant {}: usage cannot be reported: the journal has no read journal "
                    + "(set loraplex.tenant.read-journal)", tenant);
            return Effect().noReply();
        }
        usageQueries.add(get);
        if (usageRead == null) {
            startUsageRead();
        }
        return Effect().noReply();
    }

    /**
     * Reads the journal from where the history stopped to the last event persisted, for every
     * query waiting: what the journal holds up to there and what was pending then add up to all the
     * usage at this moment, whatever is flushed while the read runs.
     */
    private void startUsageRead() {
        List<GetUsage> queries = List.copyOf(usageQueries);
        usageQueries.clear();
        long to = lastSequenceNumber(context);
        UsageRead started = new UsageRead(queries, usage.copy(), to, null, null, null);
        usageRead = started;
        long from = history.readTo() + 1;
        PersistenceId journal = persistenceId(tenant);
        ActorSystem<?> system = context.getSystem();
        // the first read starts where the latest checkpoint stopped; no checkpoint (or none usable): at the start
        CompletionStage<Optional<UsageCheckpoint>> checkpoint = historyStarted ? UsageCheckpointStore.none()
                : checkpoints.load(tenant, to);
        CompletionStage<UsageRead> read = checkpoint.thenCompose(found -> UsageHistory.read(readJournal, journal,
                found.map(c -> c.readTo() + 1).orElse(from), to, system)
                .thenApply(events -> new UsageRead(queries, started.pending(), to, found.orElse(null), events, null)));
        context.pipeToSelf(read, (done, failure) -> done != null ? done
                : new UsageRead(queries, started.pending(), to, null, null, failure));
    }

    private ReplyEffect<TenantEvent, TenantState> onUsageRead(UsageRead done) {
        usageRead = null;
        if (done.failure() != null) {
            // no answer rather than a wrong one: the askers time out
            context.getLog().error("tenant {}: reading the usage history from the journal failed, {} usage report(s) unanswered",
                    tenant, done.queries().size(), done.failure());
        } else {
            if (!historyStarted) {
                // only the first read loaded a checkpoint: the history has read nothing before it
                if (done.checkpoint() != null) {
                    history.restore(done.checkpoint());
                    checkpointedTo = done.checkpoint().readTo();
                }
                historyStarted = true;
            }
            history.caughtUp(done.read(), done.to());
            for (GetUsage get : done.queries()) {
                get.replyTo().tell(usageReport(done.pending(), get));
            }
            saveCheckpointIfDue();
        }
        if (!usageQueries.isEmpty()) {
            startUsageRead();
        }
        // a stashed Passivate waits for the read; every stashed command comes back once
        stashedKeyCommands = 0;
        return Effect().noReply().thenUnstashAll();
    }

    /**
     * After a flush: catches the history up when the journal is a checkpoint interval ahead of it,
     * so that checkpoints follow the journal even for a tenant whose usage nobody asks for.
     */
    private void catchUpIfBehind() {
        if (readJournal != null && usageRead == null
                && lastSequenceNumber(context) - history.readTo() >= settings.usageCheckpointEvery()) {
            startUsageRead();
        }
    }

    /** Saves a checkpoint of the history once it has read a checkpoint interval past the last one; one save at a time. */
    private void saveCheckpointIfDue() {
        if (checkpointSaving || history.readTo() - checkpointedTo < settings.usageCheckpointEvery()) {
            return;
        }
        checkpointSaving = true;
        UsageCheckpoint checkpoint = history.checkpoint();
        context.pipeToSelf(checkpoints.save(tenant, checkpoint, clock.millis()),
                (saved, failure) -> new UsageCheckpointSaved(checkpoint.readTo(), Boolean.TRUE.equals(saved)));
    }

    private ReplyEffect<TenantEvent, TenantState> onUsageCheckpointSaved(UsageCheckpointSaved saved) {
        checkpointSaving = false;
        // a failed save (logged by the store) is tried again after the next read
        if (saved.saved()) {
            checkpointedTo = Math.max(checkpointedTo, saved.readTo());
        }
        return Effect().noReply();
    }

    private UsageReport usageReport(UsageBuffer pending, GetUsage get) {
        List<UsageRow> rows = new ArrayList<>(history.rows(get.fromEpochHour(), get.toEpochHour()));
        rows.addAll(pending.rows(get.fromEpochHour(), get.toEpochHour()));
        // journaled and pending usage of one (hour, model) answer as one row
        List<UsageRow> merged = new ArrayList<>();
        rows.stream().sorted(Comparator.comparingLong(UsageRow::epochHour).thenComparing(UsageRow::model)).forEach(row -> {
            UsageRow last = merged.isEmpty() ? null : merged.getLast();
            if (last != null && last.epochHour() == row.epochHour() && last.model().equals(row.model())) {
                merged.set(merged.size() - 1, new UsageRow(row.epochHour(), row.model(), last.requests() + row.requests(),
                        last.tokens() + row.tokens()));
            } else {
                merged.add(row);
            }
        });
        return new UsageReport(true, merged);
    }

    // ---- profile

    private ReplyEffect<TenantEvent, TenantState> onSetup(TenantState state, Setup setup) {
        String invalid = invalidSetup(setup);
        if (invalid != null) {
            return Effect().reply(setup.replyTo(), new Ack(false, invalid));
        }
        Profile profile = new Profile(setup.displayName(), setup.tier(), setup.weight(), setup.limits());
        if (profile.equals(state.profile())) {
            return Effect().reply(setup.replyTo(), Ack.done());
        }
        boolean first = !state.isSetUp();
        TenantEvent event = first ? new TenantCreated(profile, clock.millis()) : new ProfileUpdated(profile, clock.millis());
        return Effect().persist(event).thenRun(() -> {
            throttle.configure(profile.limits(), nowNanos());
            if (first) {
                context.getLog().info("tenant {} set up: tier {}, {}", tenant, setup.tier(), setup.limits());
                registerTenant();
            }
        }).thenReply(setup.replyTo(), s -> Ack.done());
    }

    // ---- catalog and adapter names

    private ReplyEffect<TenantEvent, TenantState> onUpdateCatalog(TenantState state, String name, AdapterRef promoted,
            AdapterRef canary, double canaryShare, TenantProtocol.Quarantine quarantined, ActorRef<Ack> replyTo, String what) {
        if (name == null || name.isBlank()) {
            return Effect().reply(replyTo, new Ack(false, what + " needs a name"));
        }
        for (AdapterRef ref : new AdapterRef[] {promoted, canary}) {
            if (ref == null) {
                continue;
            }
            if (!ref.tenant().equals(tenant)) {
                return Effect().reply(replyTo, new Ack(false, "adapter " + ref.name() + " v" + ref.version()
                        + " belongs to tenant " + ref.tenant() + ", not to " + tenant));
            }
            if (!ref.name().equals(name)) {
                return Effect().reply(replyTo, new Ack(false,
                        what + " names '" + name + "' but its adapter is '" + ref.name() + "'"));
            }
        }
        if (canary != null && !(canaryShare >= 0 && canaryShare <= 1)) {
            return Effect().reply(replyTo, new Ack(false, "a canary share is between 0 and 1, got " + canaryShare));
        }
        CatalogEntry existing = state.catalog().get(name);
        // the reason a name serves nothing is kept only while it serves nothing
        TenantProtocol.Quarantine why = promoted == null && canary == null ? quarantined : null;
        if (promoted == null && canary == null && why == null && existing == null) {
            return Effect().reply(replyTo, Ack.done());
        }
        double share = canary == null ? 0 : canaryShare;
        // a new version keeps the name's creation time: clients see one model, upgraded
        long created = existing != null ? existing.createdEpochSeconds() : clock.instant().getEpochSecond();
        if (existing != null && new CatalogEntry(promoted, canary, share, created, why).equals(existing)) {
            return Effect().reply(replyTo, Ack.done());
        }
        return Effect().persist(new CatalogUpdated(name, promoted, canary, share, created, why)).thenReply(replyTo, s -> Ack.done());
    }

    private ReplyEffect<TenantEvent, TenantState> onTrackAdapterName(TenantState state, TrackAdapterName track) {
        if (track.name() == null || !AdapterProtocol.NAME.matcher(track.name()).matches()) {
            return Effect().reply(track.replyTo(), new Ack(false, "not an adapter name: '" + track.name()
                    + "' (1-64 of letters, digits, '.', '_' and '-', starting with a letter or digit)"));
        }
        if (state.adapterNames().contains(track.name()) == track.present()) {
            return Effect().reply(track.replyTo(), Ack.done());
        }
        return Effect().persist(new AdapterNameTracked(track.name(), track.present()))
                .thenReply(track.replyTo(), s -> Ack.done());
    }

    // ---- storage: reservations are idempotent per key

    private ReplyEffect<TenantEvent, TenantState> onReserveStorage(TenantState state, ReserveStorage reserve) {
        if (reserve.key() == null || reserve.key().isBlank() || reserve.bytes() < 0) {
            return Effect().reply(reserve.replyTo(), new Ack(false,
                    "ReserveStorage needs a key and a size of 0 bytes or more, got key '" + reserve.key() + "' and "
                            + reserve.bytes() + " bytes"));
        }
        Long held = state.storage().get(reserve.key());
        if (held != null) {
            if (held != reserve.bytes()) {
                return Effect().reply(reserve.replyTo(), new Ack(false,
                        reserve.key() + " already holds a reservation of " + held + " bytes, not " + reserve.bytes()));
            }
            // the same content under another name: one blob, one reservation, one more holder; the upload's bytes were deduplicated
            dropHold(reserve.fromUpload());
            boolean known = reserve.holder() == null
                    || state.holders().getOrDefault(reserve.key(), Set.of()).contains(reserve.holder());
            return known ? Effect().reply(reserve.replyTo(), Ack.done())
                    : Effect().persist(new StorageHeld(reserve.key(), reserve.holder())).thenReply(reserve.replyTo(), s -> Ack.done());
        }
        // the upload's hold becomes this reservation: it does not count against it
        long fromHold = reserve.fromUpload() == null || !holds.containsKey(reserve.fromUpload()) ? 0
                : holds.get(reserve.fromUpload()).bytes();
        long used = storageUsed(state) - fromHold;
        long quota = state.profile().limits().storageQuotaBytes();
        if (reserve.bytes() > quota - used) {
            return Effect().reply(reserve.replyTo(), new Ack(false, quotaExceeded(used, reserve.bytes(), quota)));
        }
        dropHold(reserve.fromUpload());
        List<TenantEvent> events = reserve.holder() == null
                ? List.of(new StorageReserved(reserve.key(), reserve.bytes()))
                : List.of(new StorageReserved(reserve.key(), reserve.bytes()), new StorageHeld(reserve.key(), reserve.holder()));
        return Effect().persist(events).thenReply(reserve.replyTo(), s -> Ack.done());
    }

    /**
     * Grows an upload's hold to {@code totalBytes} when the quota allows (a hold never shrinks
     * here): the bytes are charged before they are written, so concurrent uploads of one tenant
     * never put more than its quota on disk.
     */
    private ReplyEffect<TenantEvent, TenantState> onHoldUpload(TenantState state, HoldUpload hold) {
        if (hold.uploadId() == null || hold.uploadId().isBlank() || hold.totalBytes() < 0) {
            return Effect().reply(hold.replyTo(), new Ack(false, "HoldUpload needs an upload id and a size of 0 bytes or more, got '"
                    + hold.uploadId() + "' and " + hold.totalBytes() + " bytes"));
        }
        long now = nowNanos();
        Hold current = holds.get(hold.uploadId());
        long before = current == null ? 0 : current.bytes();
        if (hold.totalBytes() <= before) {
            holds.put(hold.uploadId(), new Hold(before, now));
            return Effect().reply(hold.replyTo(), Ack.done());
        }
        long used = storageUsed(state) - before;
        long quota = state.profile().limits().storageQuotaBytes();
        if (hold.totalBytes() > quota - used) {
            return Effect().reply(hold.replyTo(), new Ack(false, quotaExceeded(used, hold.totalBytes(), quota)));
        }
        holds.put(hold.uploadId(), new Hold(hold.totalBytes(), now));
        return Effect().reply(hold.replyTo(), Ack.done());
    }

    /** The name lets go of {@code key}; the reservation goes with the last holder (or with a legacy reservation that had none). */
    private ReplyEffect<TenantEvent, TenantState> onLetGoStorage(TenantState state, LetGoStorage letGo) {
        Set<String> holders = state.holders().getOrDefault(letGo.key(), Set.of());
        if (!state.storage().containsKey(letGo.key())) {
            return Effect().reply(letGo.replyTo(), new StorageLeft(true, letGo.key(), 0));
        }
        int left = holders.contains(letGo.holder()) ? holders.size() - 1 : holders.size();
        if (left > 0) {
            return holders.contains(letGo.holder())
                    ? Effect().persist(new StorageLetGo(letGo.key(), letGo.holder()))
                            .thenReply(letGo.replyTo(), s -> new StorageLeft(true, letGo.key(), left))
                    : Effect().reply(letGo.replyTo(), new StorageLeft(true, letGo.key(), left));
        }
        List<TenantEvent> events = holders.contains(letGo.holder())
                ? List.of(new StorageLetGo(letGo.key(), letGo.holder()), new StorageReleased(letGo.key()))
                : List.of(new StorageReleased(letGo.key()));
        return Effect().persist(events).thenReply(letGo.replyTo(), s -> new StorageLeft(true, letGo.key(), 0));
    }

    /** Journaled reservations plus the holds of uploads in progress (expired holds dropped first). */
    private long storageUsed(TenantState state) {
        long now = nowNanos();
        long lease = settings.uploadHoldLease().toNanos();
        holds.values().removeIf(h -> now - h.renewedNanos() >= lease);
        return state.storageUsedBytes() + holds.values().stream().mapToLong(Hold::bytes).sum();
    }

    private void dropHold(String uploadId) {
        if (uploadId != null) {
            holds.remove(uploadId);
        }
    }

    private String quotaExceeded(long used, long requested, long quota) {
        return "storage quota exceeded for tenant " + tenant + ": used " + used + " bytes, requested " + requested
                + " bytes, quota " + quota + " bytes";
    }

    private ReplyEffect<TenantEvent, TenantState> onReleaseStorage(TenantState state, ReleaseStorage release) {
        if (!state.storage().containsKey(release.key())) {
            return Effect().reply(release.replyTo(), new Ack(true, "nothing was reserved under " + release.key()));
        }
        return Effect().persist(new StorageReleased(release.key())).thenReply(release.replyTo(), s -> Ack.done());
    }

    // ---- keys: one index write at a time; key commands behind it wait, in order, in the stash

    private ReplyEffect<TenantEvent, TenantState> onAddApiKey(TenantState state, AddApiKey add) {
        if (pendingKeyWrite != null) {
            return stashKeyCommand(add.replyTo(), a -> new Ack(false, a));
        }
        if (add.keyHash() == null || !SHA256_HEX.matcher(add.keyHash()).matches()) {
            return Effect().reply(add.replyTo(), new Ack(false,
                    "AddApiKey takes the SHA-256 of the key as 64 lowercase hex digits (TenantProtocol.hashKey), never the key"));
        }
        if (add.scopes().isEmpty()) {
            return Effect().reply(add.replyTo(), new Ack(false, noScopes()));
        }
        ApiKey existing = state.keys().get(add.keyHash());
        String keyId = existing != null ? existing.keyId() : newKeyId();
        String label = existing != null ? existing.label() : "";
        boolean unchanged = existing != null && existing.scopes().equals(add.scopes());
        return writeKeyAdded(new Adding(add.keyHash(), keyId, label, add.scopes(), null, add.replyTo(), null, unchanged));
    }

    private ReplyEffect<TenantEvent, TenantState> onCreateApiKey(CreateApiKey create) {
        if (pendingKeyWrite != null) {
            return stashKeyCommand(create.replyTo(), this::refusedKey);
        }
        if (create.scopes().isEmpty()) {
            return Effect().reply(create.replyTo(), refusedKey(noScopes()));
        }
        String label = create.label() == null ? "" : create.label().strip();
        if (label.length() > MAX_LABEL) {
            return Effect().reply(create.replyTo(), refusedKey(
                    "a key label is at most " + MAX_LABEL + " characters, got " + label.length()));
        }
        byte[] secret = new byte[32];
        RANDOM.nextBytes(secret);
        String apiKey = KEY_PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
        return writeKeyAdded(new Adding(TenantProtocol.hashKey(apiKey), newKeyId(), label, create.scopes(), apiKey, null,
                create.replyTo(), false));
    }

    private ReplyEffect<TenantEvent, TenantState> writeKeyAdded(Adding adding) {
        writeKeyIndex(adding, KeyIndexChanges.put(node, adding.keyHash(), tenant.value()));
        return Effect().noReply();
    }

    private ReplyEffect<TenantEvent, TenantState> onRevokeById(TenantState state, RevokeApiKeyById revoke) {
        String hash = state.keyHashOf(revoke.keyId());
        if (hash == null) {
            if (pendingKeyWrite != null) {
                // the key may be the one being added
                return stashKeyCommand(revoke.replyTo(), a -> new Ack(false, a));
            }
            return Effect().reply(revoke.replyTo(), new Ack(false, "tenant " + tenant + " has no key with id " + revoke.keyId()));
        }
        return onRevoke(state, hash, revoke.replyTo());
    }

    /**
     * Revoked for admissions at once: the revocation is journaled and the index removal starts in
     * the same step; the answer waits for both.
     */
    private ReplyEffect<TenantEvent, TenantState> onRevoke(TenantState state, String hash, ActorRef<Ack> replyTo) {
        if (pendingKeyWrite != null) {
            return stashKeyCommand(replyTo, a -> new Ack(false, a));
        }
        ApiKey held = state.keys().get(hash);
        // the index entry goes even when the state no longer holds the key (revoked meanwhile): it names this tenant
        writeKeyIndex(new Revoking(hash, held != null, replyTo), KeyIndexChanges.remove(node, hash, tenant.value()));
        if (held == null) {
            return Effect().noReply();
        }
        return Effect().persist(new ApiKeyRevoked(held.keyId(), hash, clock.millis())).thenNoReply();
    }

    private void writeKeyIndex(KeyChange change, Function<LWWMap<String, String>, LWWMap<String, String>> modify) {
        pendingKeyWrite = change;
        replicator.askUpdate(
                replyTo -> new Replicator.Update<>(TenantProtocol.KEY_INDEX, LWWMap.<String, String>empty(),
                        settings.writeConsistency(), replyTo, modify),
                response -> new KeyIndexWritten(change, response));
    }

    private <R> ReplyEffect<TenantEvent, TenantState> stashKeyCommand(ActorRef<R> replyTo, Function<String, R> refusal) {
        if (stashedKeyCommands >= settings.keyCommandStash()) {
            return Effect().reply(replyTo, refusal.apply("tenant " + tenant + " has " + stashedKeyCommands
                    + " key commands waiting for the key index; retry later"));
        }
        stashedKeyCommands++;
        return Effect().stash();
    }

    private ReplyEffect<TenantEvent, TenantState> onKeyIndexWritten(TenantState state, KeyIndexWritten written) {
        Replicator.UpdateResponse<LWWMap<String, String>> response = written.response();
        boolean confirmed = response instanceof Replicator.UpdateSuccess;
        // a timeout still wrote this node's replica, which gossip spreads
        boolean writtenLocally = confirmed || response instanceof Replicator.UpdateTimeout;
        pendingKeyWrite = null;
        // every stashed command comes back once, and is stashed again if it must wait
        stashedKeyCommands = 0;
        return switch (written.change()) {
            case Adding add -> {
                String unconfirmed = "the key is added, but the key index did not confirm it to " + settings.keyIndexWrite()
                        + " replicas within " + settings.keyIndexWriteTimeout() + "; retry to confirm";
                if (!writtenLocally) {
                    String refused = "the key index refused the key: " + failure(response);
                    yield replyKey(Effect().none(), add, false, new Ack(false, refused)).thenUnstashAll();
                }
                ApiKeyAdded event = new ApiKeyAdded(add.keyId(), add.keyHash(), add.label(), add.scopes(), clock.millis());
                yield replyKey(add.unchanged() ? Effect().none() : Effect().persist(event), add, true, confirmed ? Ack.done() : new Ack(false, unconfirmed))
                        .thenUnstashAll();
            }
            case Revoking revoke -> {
                // revoking is idempotent: a key not held is revoked too, and the answer says so
                Ack ack = confirmed ? new Ack(true, revoke.wasHeld() ? "" : "the key was not registered")
                        : new Ack(false, writtenLocally
                                ? "the key is revoked for admissions, but the key index did not confirm its removal to "
                                        + settings.keyIndexWrite() + " replicas within " + settings.keyIndexWriteTimeout()
                                        + "; retry the revocation to confirm"
                                : "the key is revoked for admissions, but the key index refused the removal: "
                                        + failure(response));
                yield Effect().reply(revoke.replyTo(), ack).thenUnstashAll();
            }
        };
    }

    /**
     * Answers an AddApiKey with {@code ack}, or a CreateApiKey with its key when {@code added} (the
     * message saying whether the index confirmed it) or with the refusal.
     */
    private static ReplyEffect<TenantEvent, TenantState> replyKey(EffectBuilder<TenantEvent, TenantState> effect, Adding add,
            boolean added, Ack ack) {
        if (add.created() == null) {
            return effect.thenReply(add.acked(), s -> ack);
        }
        KeyCreated created = added ? new KeyCreated(true, add.keyId(), add.apiKey(), add.scopes(), ack.message())
                : new KeyCreated(false, null, null, Set.of(), ack.message());
        return effect.thenReply(add.created(), s -> created);
    }

    private static String failure(Replicator.UpdateResponse<?> response) {
        return switch (response) {
            case Replicator.ModifyFailure<?> f -> f.cause() != null ? f.cause().getMessage() : f.errorMessage();
            case Replicator.StoreFailure<?> _ -> "it could not be stored durably";
            case Replicator.UpdateDataDeleted<?> _ -> "the index has been deleted";
            default -> String.valueOf(response);
        };
    }

    // ---- helpers

    private KeyCreated refusedKey(String message) {
        return new KeyCreated(false, null, null, Set.of(), message);
    }

    private ReplyEffect<TenantEvent, TenantState> refuseNotSetUp(ActorRef<Ack> replyTo) {
        return Effect().reply(replyTo, new Ack(false, notSetUp()));
    }

    private String notSetUp() {
        return "tenant " + tenant + " is not set up: send Setup first";
    }

    private static String noScopes() {
        return "an API key needs at least one scope of " + List.of(Scope.values());
    }

    private static String missingScope(Scope scope) {
        String missing = scope == null ? "(none requested)" : scope.name().toLowerCase(Locale.ROOT);
        return "You have insufficient permissions for this operation. Missing scopes: " + missing + ".";
    }

    private static String newKeyId() {
        byte[] id = new byte[8];
        RANDOM.nextBytes(id);
        return "key_" + HexFormat.of().formatHex(id);
    }

    private static String invalidSetup(Setup setup) {
        if (setup.displayName() == null || setup.displayName().isBlank()) {
            return "Setup needs a display name";
        }
        if (setup.tier() == null || setup.tier().isBlank()) {
            return "Setup needs a tier";
        }
        if (!(setup.weight() > 0) || Double.isInfinite(setup.weight())) {
            return "Setup needs a positive, finite weight, got " + setup.weight();
        }
        if (setup.limits() == null) {
            return "Setup needs limits";
        }
        return null;
    }

    /** The injected clock, as nanoseconds since the epoch: what buckets and leases count in. */
    private long nowNanos() {
        Instant now = clock.instant();
        return now.getEpochSecond() * Throttle.NANOS_PER_SECOND + now.getNano();
    }

    private static String number(double value) {
        return value == Math.rint(value) ? Long.toString((long) value) : Double.toString(value);
    }
}
