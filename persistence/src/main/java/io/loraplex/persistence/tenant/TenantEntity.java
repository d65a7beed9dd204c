package io.loraplex.persistence.tenant;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.Ack;
import io.loraplex.cluster.tenant.TenantProtocol.AddApiKey;
import io.loraplex.cluster.tenant.TenantProtocol.Admit;
import io.loraplex.cluster.tenant.TenantProtocol.Admitted;
import io.loraplex.cluster.tenant.TenantProtocol.Command;
import io.loraplex.cluster.tenant.TenantProtocol.Denied;
import io.loraplex.cluster.tenant.TenantProtocol.DenyReason;
import io.loraplex.cluster.tenant.TenantProtocol.Finished;
import io.loraplex.cluster.tenant.TenantProtocol.GetInfo;
import io.loraplex.cluster.tenant.TenantProtocol.Info;
import io.loraplex.cluster.tenant.TenantProtocol.Limits;
import io.loraplex.cluster.tenant.TenantProtocol.ListModels;
import io.loraplex.cluster.tenant.TenantProtocol.ModelEntry;
import io.loraplex.cluster.tenant.TenantProtocol.ModelList;
import io.loraplex.cluster.tenant.TenantProtocol.RevokeApiKey;
import io.loraplex.cluster.tenant.TenantProtocol.Scope;
import io.loraplex.cluster.tenant.TenantProtocol.SetModel;
import io.loraplex.cluster.tenant.TenantProtocol.Setup;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.SelfUniqueAddress;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.cluster.ddata.typed.javadsl.ReplicatorMessageAdapter;

/**
 * The sharded {@code Tenant} entity, one per tenant, on router nodes: its profile and limits, its
 * API keys (as SHA-256 hashes with scopes), its catalog of adapter names, and the token buckets and
 * in-flight requests that make its limits hold cluster-wide. Commands and replies are
 * {@link TenantProtocol}'s; state and the messages it sends itself live here.
 *
 * <p>In memory for now: a later issue makes it event-sourced. The state changes below are named
 * like the events they will become ({@code State.admitted}, {@code State.finished}, ...).
 *
 * <p>Time comes from the injected {@link Clock}, read once per command that needs it; expiry of
 * in-flight leases runs on the entity's timers, so nothing here depends on the wall clock directly.
 */
public final class TenantEntity {

    /** What OpenAI answers for a model that does not exist, or exists for somebody else. */
    static final String MODEL_NOT_FOUND = "The model `%s` does not exist or you do not have access to it.";
    /** The answer for an unknown or revoked key, and for keys of a tenant not set up. */
    static final String INCORRECT_KEY = "Incorrect API key provided.";

    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");
    private static final long NANOS_PER_SECOND = 1_000_000_000L;
    private static final long NANOS_PER_MINUTE = 60 * NANOS_PER_SECOND;

    // ---- messages the entity sends itself (timers, replicator replies): they never leave this JVM

    private sealed interface Internal extends NoSerializationVerificationNeeded permits SweepLeases, KeyIndexWritten {
    }

    /** Timer tick, and timer key: look for in-flight requests past their lease. */
    private enum SweepLeases implements Internal {
        INSTANCE
    }

    /**
     * The replicator's answer to the index write of {@code change} (an AddApiKey or a RevokeApiKey);
     * {@code keyWasHeld}: the entity held the key when the command came.
     */
    private record KeyIndexWritten(Command change, boolean keyWasHeld,
            Replicator.UpdateResponse<LWWMap<String, String>> response) implements Internal {
    }

    // ---- state

    /**
     * A set-up tenant.
     *
     * @param keys     SHA-256 (hex) of each key to its scopes; keys are never held in clear
     * @param catalog  adapter name to the version it serves
     * @param requests the request bucket: {@code requestBurst} big, refilled at {@code requestsPerSecond}
     * @param tokens   the token bucket: {@code tokensPerMinute} big, refilled at {@code tokensPerMinute}
     * @param inFlight request id to its admission, until {@code Finished} or its lease expires
     */
    record State(Profile profile, Map<String, Set<Scope>> keys, Map<String, CatalogEntry> catalog, TokenBucket requests,
            TokenBucket tokens, Map<String, InFlight> inFlight) {

        static State setUp(Profile profile, long now) {
            Limits l = profile.limits();
            return new State(profile, Map.of(), Map.of(),
                    TokenBucket.full(l.requestBurst(), l.requestsPerSecond(), NANOS_PER_SECOND, now),
                    TokenBucket.full(l.tokensPerMinute(), l.tokensPerMinute(), NANOS_PER_MINUTE, now), Map.of());
        }

        /** A new profile; buckets take the new limits and keep what they hold, up to their new size. */
        State reconfigured(Profile next, long now) {
            Limits l = next.limits();
            return new State(next, keys, catalog,
                    requests.refill(now).resized(l.requestBurst(), l.requestsPerSecond(), NANOS_PER_SECOND),
                    tokens.refill(now).resized(l.tokensPerMinute(), l.tokensPerMinute(), NANOS_PER_MINUTE), inFlight);
        }

        State keyAdded(String keyHash, Set<Scope> scopes) {
            return new State(profile, with(keys, keyHash, Set.copyOf(scopes)), catalog, requests, tokens, inFlight);
        }

        State keyRevoked(String keyHash) {
            return new State(profile, without(keys, keyHash), catalog, requests, tokens, inFlight);
        }

        State modelSet(String name, AdapterRef adapter, long createdEpochSeconds) {
            return new State(profile, keys, with(catalog, name, new CatalogEntry(adapter, createdEpochSeconds)), requests,
                    tokens, inFlight);
        }

        State modelRemoved(String name) {
            return new State(profile, keys, without(catalog, name), requests, tokens, inFlight);
        }

        /** Takes one request and {@code tokens} tokens (the buckets refilled to {@code now}) and records the lease. */
        State admitted(String requestId, int reserved, long now) {
            return new State(profile, keys, catalog, requests.refill(now).add(-1), tokens.refill(now).add(-reserved),
                    with(inFlight, requestId, new InFlight(now, reserved)));
        }

        /** Releases the slot and gives back the reservation less what was used (the bucket stays within [0, size]). */
        State finished(String requestId, int used, long now) {
            InFlight lease = inFlight.get(requestId);
            return new State(profile, keys, catalog, requests, tokens.refill(now).add(lease.tokensReserved() - (double) used),
                    without(inFlight, requestId));
        }

        /** Leases gone: their slots free, their reservations kept (what they used is unknown). */
        State expired(Collection<String> requestIds) {
            Map<String, InFlight> left = new HashMap<>(inFlight);
            left.keySet().removeAll(requestIds);
            return new State(profile, keys, catalog, requests, tokens, Map.copyOf(left));
        }

        List<ModelEntry> models() {
            List<ModelEntry> out = new ArrayList<>(catalog.size());
            catalog.forEach((name, entry) -> out.add(new ModelEntry(name, entry.adapter(), entry.createdEpochSeconds())));
            out.sort(Comparator.comparing(ModelEntry::name));
            return out;
        }
    }

    /** What {@code Setup} sets. */
    record Profile(String displayName, String tier, double weight, Limits limits) {
    }

    /** A catalog name: the version it serves, and when the name appeared (the {@code created} of {@code /v1/models}). */
    record CatalogEntry(AdapterRef adapter, long createdEpochSeconds) {
    }

    /** An admitted request: when (clock nanos) and how many tokens it holds. */
    record InFlight(long admittedNanos, int tokensReserved) {
    }

    /**
     * A token bucket of {@code capacity}, refilled continuously by {@code refillAmount} every
     * {@code refillPeriodNanos}. The rate stays a (amount, period) pair so that round limits give
     * exact waits (2 per second: 500 ms for one; 600 per minute: 100 ms for one).
     */
    record TokenBucket(double capacity, double refillAmount, long refillPeriodNanos, double level, long updatedNanos) {

        static TokenBucket full(double capacity, double refillAmount, long refillPeriodNanos, long now) {
            return new TokenBucket(capacity, refillAmount, refillPeriodNanos, capacity, now);
        }

        /** The bucket at {@code now}. A clock that went back refills nothing. */
        TokenBucket refill(long now) {
            if (now <= updatedNanos) {
                return this;
            }
            double refilled = Math.min(capacity, level + (now - updatedNanos) * refillAmount / refillPeriodNanos);
            return new TokenBucket(capacity, refillAmount, refillPeriodNanos, refilled, now);
        }

        /** Adds (or, negative, takes) {@code amount}, staying within [0, capacity]. */
        TokenBucket add(double amount) {
            double next = Math.clamp(level + amount, 0.0, capacity);
            return new TokenBucket(capacity, refillAmount, refillPeriodNanos, next, updatedNanos);
        }

        TokenBucket resized(double newCapacity, double newRefillAmount, long newRefillPeriodNanos) {
            return new TokenBucket(newCapacity, newRefillAmount, newRefillPeriodNanos, Math.min(level, newCapacity),
                    updatedNanos);
        }

        /** Milliseconds an empty bucket takes to fill, rounded up. */
        long millisToFill() {
            return (long) Math.ceil(capacity * refillPeriodNanos / refillAmount / 1e6);
        }

        /** Milliseconds until the bucket holds {@code amount}, rounded up; 0 if it does now. */
        long millisUntil(double amount) {
            double missing = amount - level;
            if (missing <= 0) {
                return 0;
            }
            return (long) Math.ceil(missing * refillPeriodNanos / refillAmount / 1e6);
        }
    }

    // ---- the behaviour

    private final ActorContext<Object> context;
    private final TimerScheduler<Object> timers;
    private final StashBuffer<Object> keyCommands;
    private final ReplicatorMessageAdapter<Object, LWWMap<String, String>> replicator;
    private final SelfUniqueAddress node;
    private final TenantId tenant;
    private final TenantSettings settings;
    private final Clock clock;

    private TenantEntity(ActorContext<Object> context, TimerScheduler<Object> timers, StashBuffer<Object> keyCommands,
            TenantId tenant, TenantSettings settings, Clock clock) {
        this.context = context;
        this.timers = timers;
        this.keyCommands = keyCommands;
        DistributedData ddata = DistributedData.get(context.getSystem());
        // the adapter's own ask timeout only catches a replicator that never answers
        this.replicator = new ReplicatorMessageAdapter<>(context, ddata.replicator(),
                settings.keyIndexWriteTimeout().plus(Duration.ofSeconds(5)));
        this.node = ddata.selfUniqueAddress();
        this.tenant = tenant;
        this.settings = settings;
        this.clock = clock;
    }

    /**
     * The entity of {@code tenant}, not set up until its first {@code Setup}. A command that throws
     * is dropped and the entity resumes with the state it had: state is immutable, and in memory a
     * restart would forget the tenant.
     */
    public static Behavior<Command> create(TenantId tenant, TenantSettings settings, Clock clock) {
        Behavior<Object> entity = Behaviors.setup(context -> Behaviors.withTimers(timers -> Behaviors.withStash(
                settings.keyCommandStash(),
                stash -> new TenantEntity(context, timers, stash, tenant, settings, clock).notSetUp())));
        return Behaviors.supervise(entity).onFailure(RuntimeException.class, SupervisorStrategy.resume()).narrow();
    }

    // ---- not set up: Setup, and a clear refusal for everything else

    private Behavior<Object> notSetUp() {
        return Behaviors.receive(Object.class)
                .onMessage(Setup.class, this::onFirstSetup)
                .onMessage(AddApiKey.class, c -> refuseNotSetUp(c.replyTo()))
                .onMessage(RevokeApiKey.class, c -> refuseNotSetUp(c.replyTo()))
                .onMessage(SetModel.class, c -> refuseNotSetUp(c.replyTo()))
                .onMessage(Admit.class, c -> {
                    c.replyTo().tell(new Denied(DenyReason.UNAUTHORIZED, INCORRECT_KEY, 0));
                    return Behaviors.same();
                })
                .onMessage(Finished.class, c -> Behaviors.same())
                .onMessage(ListModels.class, c -> {
                    c.replyTo().tell(new ModelList(false, List.of()));
                    return Behaviors.same();
                })
                .onMessage(GetInfo.class, c -> {
                    // null profile fields: nothing set up yet
                    c.replyTo().tell(new Info(tenant, null, null, null, 0, 0, 0L, List.of()));
                    return Behaviors.same();
                })
                .build();
    }

    private Behavior<Object> onFirstSetup(Setup setup) {
        String invalid = invalidSetup(setup);
        if (invalid != null) {
            setup.replyTo().tell(new Ack(false, invalid));
            return Behaviors.same();
        }
        context.getLog().info("tenant {} set up: tier {}, {}", tenant, setup.tier(), setup.limits());
        setup.replyTo().tell(Ack.done());
        return become(State.setUp(profileOf(setup), nowNanos()), null);
    }

    private Behavior<Object> refuseNotSetUp(ActorRef<Ack> replyTo) {
        replyTo.tell(new Ack(false, "tenant " + tenant + " is not set up: send Setup first"));
        return Behaviors.same();
    }

    // ---- set up. pendingKeyWrite: the AddApiKey/RevokeApiKey whose index write is in flight, or null

    private Behavior<Object> active(State state, Command pendingKeyWrite) {
        return Behaviors.receive(Object.class)
                .onMessage(Admit.class, c -> onAdmit(state, pendingKeyWrite, c))
                .onMessage(Finished.class, c -> onFinished(state, pendingKeyWrite, c))
                .onMessage(ListModels.class, c -> onListModels(state, c))
                .onMessage(GetInfo.class, c -> onGetInfo(state, c))
                .onMessage(Setup.class, c -> onSetup(state, pendingKeyWrite, c))
                .onMessage(SetModel.class, c -> onSetModel(state, pendingKeyWrite, c))
                .onMessage(AddApiKey.class, c -> onAddApiKey(state, pendingKeyWrite, c))
                .onMessage(RevokeApiKey.class, c -> onRevokeApiKey(state, pendingKeyWrite, c))
                .onMessage(KeyIndexWritten.class, m -> onKeyIndexWritten(state, m))
                .onMessageEquals(SweepLeases.INSTANCE, () -> onSweepLeases(state, pendingKeyWrite))
                .build();
    }

    /** The next behaviour; keeps the lease sweep running exactly while something is in flight. */
    private Behavior<Object> become(State state, Command pendingKeyWrite) {
        boolean sweeping = timers.isTimerActive(SweepLeases.INSTANCE);
        if (!state.inFlight().isEmpty() && !sweeping) {
            timers.startTimerWithFixedDelay(SweepLeases.INSTANCE, SweepLeases.INSTANCE, settings.leaseSweepInterval());
        } else if (state.inFlight().isEmpty() && sweeping) {
            timers.cancel(SweepLeases.INSTANCE);
        }
        return active(state, pendingKeyWrite);
    }

    // admission: key, scope, model, then limits; all or nothing

    private Behavior<Object> onAdmit(State state, Command pendingKeyWrite, Admit admit) {
        Set<Scope> scopes = state.keys().get(admit.keyHash());
        if (scopes == null) {
            admit.replyTo().tell(new Denied(DenyReason.UNAUTHORIZED, INCORRECT_KEY, 0));
            return Behaviors.same();
        }
        if (admit.scope() == null || !scopes.contains(admit.scope())) {
            String missing = admit.scope() == null ? "(none requested)" : admit.scope().name().toLowerCase(Locale.ROOT);
            admit.replyTo().tell(new Denied(DenyReason.FORBIDDEN,
                    "You have insufficient permissions for this operation. Missing scopes: " + missing + ".", 0));
            return Behaviors.same();
        }
        AdapterRef adapter = null;
        if (admit.model() != null) {
            CatalogEntry entry = state.catalog().get(admit.model());
            if (entry == null) {
                // the same words whether the name is another tenant's or nobody's
                admit.replyTo().tell(new Denied(DenyReason.MODEL_NOT_FOUND, MODEL_NOT_FOUND.formatted(admit.model()), 0));
                return Behaviors.same();
            }
            adapter = entry.adapter();
        }
        Limits limits = state.profile().limits();
        Admitted go = new Admitted(tenant, adapter, state.profile().weight(), limits.maxTokensPerRequest());
        if (state.inFlight().containsKey(admit.requestId())) {
            // a router's retry of an admission it did not hear: already reserved
            admit.replyTo().tell(go);
            return Behaviors.same();
        }

        long now = nowNanos();
        int tokens = Math.max(0, admit.tokens());
        TokenBucket requestBucket = state.requests().refill(now);
        TokenBucket tokenBucket = state.tokens().refill(now);
        long retryAfter = 0;
        List<String> over = new ArrayList<>(3);
        if (state.inFlight().size() >= limits.maxConcurrent()) {
            retryAfter = Math.max(retryAfter, settings.concurrencyRetryAfter().toMillis());
            over.add("Too many concurrent requests: Limit " + limits.maxConcurrent() + ".");
        }
        if (requestBucket.level() < 1) {
            retryAfter = Math.max(retryAfter, requestBucket.millisUntil(1));
            over.add("Rate limit reached on requests per second (RPS): Limit " + number(limits.requestsPerSecond())
                    + ", burst " + limits.requestBurst() + ", Requested 1.");
        }
        if (tokens > tokenBucket.capacity()) {
            // never fits: the longest meaningful wait, so that blind retries at least back off
            retryAfter = Math.max(retryAfter, tokenBucket.millisToFill());
            over.add("Request too large on tokens per min (TPM): Limit " + limits.tokensPerMinute() + ", Requested " + tokens
                    + ". The input or output tokens must be reduced in order to run successfully.");
        } else if (tokenBucket.level() < tokens) {
            retryAfter = Math.max(retryAfter, tokenBucket.millisUntil(tokens));
            over.add("Rate limit reached on tokens per min (TPM): Limit " + limits.tokensPerMinute() + ", Available "
                    + (long) Math.floor(tokenBucket.level()) + ", Requested " + tokens + ".");
        }
        if (!over.isEmpty()) {
            admit.replyTo().tell(new Denied(DenyReason.RATE_LIMITED,
                    "Tenant " + tenant + ": " + String.join(" ", over) + " Please try again in " + retryAfter + "ms.",
                    retryAfter));
            return Behaviors.same();
        }
        admit.replyTo().tell(go);
        return become(state.admitted(admit.requestId(), tokens, now), pendingKeyWrite);
    }

    private Behavior<Object> onFinished(State state, Command pendingKeyWrite, Finished finished) {
        if (!state.inFlight().containsKey(finished.requestId())) {
            // unknown, finished twice, or its lease expired: its slot is already free
            context.getLog().debug("tenant {}: Finished for {} which is not in flight", tenant, finished.requestId());
            return Behaviors.same();
        }
        return become(state.finished(finished.requestId(), Math.max(0, finished.tokens()), nowNanos()), pendingKeyWrite);
    }

    private Behavior<Object> onSweepLeases(State state, Command pendingKeyWrite) {
        long now = nowNanos();
        long lease = settings.inFlightLease().toNanos();
        List<String> expired = new ArrayList<>();
        state.inFlight().forEach((id, inFlight) -> {
            if (now - inFlight.admittedNanos() >= lease) {
                expired.add(id);
            }
        });
        if (expired.isEmpty()) {
            return Behaviors.same();
        }
        context.getLog().warn("tenant {}: {} in-flight request(s) passed their lease of {} without Finished, released: {}",
                tenant, expired.size(), settings.inFlightLease(), expired);
        return become(state.expired(expired), pendingKeyWrite);
    }

    // reads

    private Behavior<Object> onListModels(State state, ListModels list) {
        boolean authorized = state.keys().containsKey(list.keyHash());
        list.replyTo().tell(new ModelList(authorized, authorized ? state.models() : List.of()));
        return Behaviors.same();
    }

    private Behavior<Object> onGetInfo(State state, GetInfo get) {
        Profile p = state.profile();
        get.replyTo().tell(new Info(tenant, p.displayName(), p.tier(), p.limits(), state.keys().size(),
                state.inFlight().size(), 0L, state.models()));
        return Behaviors.same();
    }

    // profile and catalog

    private Behavior<Object> onSetup(State state, Command pendingKeyWrite, Setup setup) {
        String invalid = invalidSetup(setup);
        if (invalid != null) {
            setup.replyTo().tell(new Ack(false, invalid));
            return Behaviors.same();
        }
        setup.replyTo().tell(Ack.done());
        return become(state.reconfigured(profileOf(setup), nowNanos()), pendingKeyWrite);
    }

    private Behavior<Object> onSetModel(State state, Command pendingKeyWrite, SetModel set) {
        if (set.name() == null || set.name().isBlank()) {
            set.replyTo().tell(new Ack(false, "SetModel needs a name"));
            return Behaviors.same();
        }
        if (set.adapter() == null) {
            set.replyTo().tell(Ack.done());
            return state.catalog().containsKey(set.name()) ? become(state.modelRemoved(set.name()), pendingKeyWrite)
                    : Behaviors.same();
        }
        if (!set.adapter().tenant().equals(tenant)) {
            set.replyTo().tell(new Ack(false, "adapter " + set.adapter().name() + " v" + set.adapter().version()
                    + " belongs to tenant " + set.adapter().tenant() + ", not to " + tenant));
            return Behaviors.same();
        }
        if (!set.adapter().name().equals(set.name())) {
            set.replyTo().tell(new Ack(false, "SetModel names '" + set.name() + "' but its adapter is '" + set.adapter().name() + "'"));
            return Behaviors.same();
        }
        CatalogEntry existing = state.catalog().get(set.name());
        // a new version keeps the name's creation time: clients see one model, upgraded
        long created = existing != null ? existing.createdEpochSeconds() : clock.instant().getEpochSecond();
        set.replyTo().tell(Ack.done());
        return become(state.modelSet(set.name(), set.adapter(), created), pendingKeyWrite);
    }

    // keys: one index write at a time; key commands behind it wait in order

    private Behavior<Object> onAddApiKey(State state, Command pendingKeyWrite, AddApiKey add) {
        if (pendingKeyWrite != null) {
            return stashKeyCommand(add, add.replyTo());
        }
        if (add.keyHash() == null || !SHA256_HEX.matcher(add.keyHash()).matches()) {
            add.replyTo().tell(new Ack(false,
                    "AddApiKey takes the SHA-256 of the key as 64 lowercase hex digits (TenantProtocol.hashKey), never the key"));
            return Behaviors.same();
        }
        if (add.scopes().isEmpty()) {
            add.replyTo().tell(new Ack(false, "an API key needs at least one scope of " + List.of(Scope.values())));
            return Behaviors.same();
        }
        String hash = add.keyHash();
        String owner = tenant.value();
        SelfUniqueAddress self = node;
        // runs in the replicator: captures values only
        writeKeyIndex(add, state.keys().containsKey(hash), index -> {
            scala.Option<String> current = index.get(hash);
            if (current.isDefined() && !current.get().equals(owner)) {
                throw new IllegalStateException("this API key is already registered to another tenant");
            }
            return index.put(self, hash, owner);
        });
        return active(state, add);
    }

    private Behavior<Object> onRevokeApiKey(State state, Command pendingKeyWrite, RevokeApiKey revoke) {
        if (pendingKeyWrite != null) {
            return stashKeyCommand(revoke, revoke.replyTo());
        }
        String hash = revoke.keyHash();
        String owner = tenant.value();
        SelfUniqueAddress self = node;
        // even for a key this entity does not hold: the index may still name this tenant for it
        writeKeyIndex(revoke, state.keys().containsKey(hash), index -> {
            scala.Option<String> current = index.get(hash);
            return current.isDefined() && current.get().equals(owner) ? index.remove(self, hash) : index;
        });
        // revoked for admissions at once, before the index write is acknowledged
        return active(state.keyRevoked(hash), revoke);
    }

    private void writeKeyIndex(Command change, boolean keyWasHeld,
            Function<LWWMap<String, String>, LWWMap<String, String>> modify) {
        replicator.askUpdate(
                replyTo -> new Replicator.Update<>(TenantProtocol.KEY_INDEX, LWWMap.<String, String>empty(),
                        settings.writeConsistency(), replyTo, modify),
                response -> new KeyIndexWritten(change, keyWasHeld, response));
    }

    private Behavior<Object> stashKeyCommand(Command command, ActorRef<Ack> replyTo) {
        if (keyCommands.isFull()) {
            replyTo.tell(new Ack(false, "tenant " + tenant + " has " + keyCommands.size()
                    + " key commands waiting for the key index; retry later"));
        } else {
            keyCommands.stash(command);
        }
        return Behaviors.same();
    }

    private Behavior<Object> onKeyIndexWritten(State state, KeyIndexWritten written) {
        Replicator.UpdateResponse<LWWMap<String, String>> response = written.response();
        boolean confirmed = response instanceof Replicator.UpdateSuccess;
        // a timeout still wrote this node's replica, which gossip spreads
        boolean writtenLocally = confirmed || response instanceof Replicator.UpdateTimeout;
        State next = state;
        Ack ack;
        switch (written.change()) {
            case AddApiKey add -> {
                if (writtenLocally) {
                    next = state.keyAdded(add.keyHash(), add.scopes());
                }
                ack = confirmed ? Ack.done() : new Ack(false, writtenLocally
                        ? "the key is added, but the key index did not confirm it to " + settings.keyIndexWrite()
                                + " replicas within " + settings.keyIndexWriteTimeout() + "; retry AddApiKey to confirm"
                        : "the key index refused the key: " + failure(response));
                add.replyTo().tell(ack);
            }
            case RevokeApiKey revoke -> {
                // revoking is idempotent: a key not held is revoked too, and the answer says so
                ack = confirmed ? new Ack(true, written.keyWasHeld() ? "" : "the key was not registered")
                        : new Ack(false, writtenLocally
                        ? "the key is revoked for admissions, but the key index did not confirm its removal to "
                                + settings.keyIndexWrite() + " replicas within " + settings.keyIndexWriteTimeout()
                                + "; retry RevokeApiKey to confirm"
                        : "the key is revoked for admissions, but the key index refused the removal: " + failure(response));
                revoke.replyTo().tell(ack);
            }
            default -> throw new IllegalStateException("not a key command: " + written.change());
        }
        return keyCommands.unstashAll(become(next, null));
    }

    private static String failure(Replicator.UpdateResponse<?> response) {
        return switch (response) {
            case Replicator.ModifyFailure<?> f -> f.cause() != null ? f.cause().getMessage() : f.errorMessage();
            case Replicator.StoreFailure<?> _ -> "it could not be stored durably";
            case Replicator.UpdateDataDeleted<?> _ -> "the index has been deleted";
            default -> String.valueOf(response);
        };
    }

    // helpers

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

    private static Profile profileOf(Setup setup) {
        return new Profile(setup.displayName(), setup.tier(), setup.weight(), setup.limits());
    }

    /** The injected clock, as nanoseconds since the epoch: what buckets and leases count in. */
    private long nowNanos() {
        Instant now = clock.instant();
        return now.getEpochSecond() * NANOS_PER_SECOND + now.getNano();
    }

    private static String number(double value) {
        return value == Math.rint(value) ? Long.toString((long) value) : Double.toString(value);
    }

    private static <K, V> Map<K, V> with(Map<K, V> map, K key, V value) {
        Map<K, V> copy = new HashMap<>(map);
        copy.put(key, value);
        return Map.copyOf(copy);
    }

    private static <K, V> Map<K, V> without(Map<K, V> map, K key) {
        if (!map.containsKey(key)) {
            return map;
        }
        Map<K, V> copy = new HashMap<>(map);
        copy.remove(key);
        return Map.copyOf(copy);
    }
}
