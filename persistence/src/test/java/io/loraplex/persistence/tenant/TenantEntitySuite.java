package io.loraplex.persistence.tenant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.Ack;
import io.loraplex.cluster.tenant.TenantProtocol.AddApiKey;
import io.loraplex.cluster.tenant.TenantProtocol.Admission;
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
import com.typesafe.config.Config;
import io.loraplex.persistence.Journals;
import java.time.Duration;
import org.apache.pekko.actor.typed.ActorSystem;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The Tenant entity through Cluster Sharding on a one-node cluster with the router role; every
 * message is serialized (Kryo), time is a {@link MutableClock}, every test has its own tenant.
 * Written once, run on each journal by a subclass naming it ({@link #journal()}).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class TenantEntitySuite {

    static final Limits ROOMY = new Limits(1000, 1000, 1_000_000, 100, 4096);

    ActorTestKit testKit;
    final MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
    TenantSettings settings;
    static final AtomicInteger ids = new AtomicInteger();

    /** The journal and snapshot store the suite runs on, laid over the test cluster's configuration. */
    abstract Config journal();

    /** Called once the system runs, before any entity starts (creates tables, say). */
    void prepare(ActorSystem<?> system) {
        Journals.prepare(system, Duration.ofSeconds(30));
    }

    @BeforeAll
    void start() {
        testKit = ActorTestKit.create("tenant-entity", journal().withFallback(TestClusters.config("router")));
        prepare(testKit.system());
        TestClusters.join(testKit, TestClusters.address(testKit));
        settings = TenantSettings.create(testKit.system().settings().config());
        TenantSharding.init(testKit.system(), settings, clock);
    }

    @AfterAll
    void stop() {
        testKit.shutdownTestKit();
    }

    // ---- setup

    @Test
    void aTenantNotSetUpRefusesEverythingButSetup() {
        String id = newTenantId();
        Info info = info(id);
        assertEquals(new TenantId(id), info.tenant());
        assertNull(info.displayName());
        assertNull(info.limits());

        Ack key = ack(id, r -> new AddApiKey(TenantProtocol.hashKey("sk-1"), Set.of(Scope.CHAT), r));
        assertFalse(key.ok());
        assertTrue(key.message().contains("not set up"), key.message());
        assertFalse(ack(id, r -> new SetModel("cafe", adapter(id, "cafe", 1), r)).ok());
        assertFalse(ack(id, r -> new RevokeApiKey(TenantProtocol.hashKey("sk-1"), r)).ok());
        assertDenied(DenyReason.UNAUTHORIZED, admit(id, "r1", TenantProtocol.hashKey("sk-1"), Scope.CHAT, null, 10));
        assertFalse(listModels(id, TenantProtocol.hashKey("sk-1")).authorized());

        Ack bad = ack(id, r -> new Setup(" ", "pro", 1.0, ROOMY, r));
        assertFalse(bad.ok());
        assertTrue(bad.message().contains("display name"), bad.message());
        assertNull(info(id).limits());

        assertEquals(Ack.done(), ack(id, r -> new Setup("Acme", "pro", 2.0, ROOMY, r)));
        info = info(id);
        assertEquals("Acme", info.displayName());
        assertEquals("pro", info.tier());
        assertEquals(ROOMY, info.limits());
        assertEquals(0, info.keys());
        assertEquals(0, info.inFlight());

        Limits smaller = new Limits(5, 5, 1000, 2, 512);
        assertEquals(Ack.done(), ack(id, r -> new Setup("Acme Inc", "basic", 1.0, smaller, r)));
        info = info(id);
        assertEquals("Acme Inc", info.displayName());
        assertEquals("basic", info.tier());
        assertEquals(smaller, info.limits());
    }

    // ---- keys

    @Test
    void keysCarryScopesAndRevokedKeysAreUnauthorized() {
        String id = setUp(ROOMY);
        String chat = addKey(id, Scope.CHAT);
        String manage = addKey(id, Scope.MANAGE);
        assertEquals(2, info(id).keys());

        assertInstanceOf(Admitted.class, admit(id, "r1", chat, Scope.CHAT, null, 10));
        Denied forbidden = assertDenied(DenyReason.FORBIDDEN, admit(id, "r2", chat, Scope.MANAGE, null, 10));
        assertTrue(forbidden.message().contains("manage"), forbidden.message());
        assertDenied(DenyReason.FORBIDDEN, admit(id, "r3", manage, Scope.CHAT, null, 10));
        Denied unknown = assertDenied(DenyReason.UNAUTHORIZED,
                admit(id, "r4", TenantProtocol.hashKey("sk-never-added"), Scope.CHAT, null, 10));
        assertEquals(TenantEntity.INCORRECT_KEY, unknown.message());

        assertEquals(Ack.done(), ack(id, r -> new RevokeApiKey(chat, r)));
        assertDenied(DenyReason.UNAUTHORIZED, admit(id, "r5", chat, Scope.CHAT, null, 10));
        assertEquals(1, info(id).keys());
        // revoking is idempotent, and says when there was nothing to revoke
        assertEquals(new Ack(true, "the key was not registered"), ack(id, r -> new RevokeApiKey(chat, r)));
    }

    @Test
    void keysAreTakenOnlyAsHashesWithScopes() {
        String id = setUp(ROOMY);
        Ack clear = ack(id, r -> new AddApiKey("sk-live-in-clear", Set.of(Scope.CHAT), r));
        assertFalse(clear.ok());
        assertTrue(clear.message().contains("SHA-256"), clear.message());
        assertFalse(ack(id, r -> new AddApiKey(TenantProtocol.hashKey("sk-x"), Set.of(), r)).ok());
        assertEquals(0, info(id).keys());
    }

    @Test
    void keyCommandsSentTogetherApplyInOrder() {
        String id = setUp(ROOMY);
        String hash = TenantProtocol.hashKey("sk-" + UUID.randomUUID());
        TestProbe<Ack> acks = testKit.createTestProbe(Ack.class);
        TestProbe<Admission> admissions = testKit.createTestProbe(Admission.class);
        EntityRef<Command> tenant = tenant(id);
        // the revoke and the admit arrive while the add's index write is in flight
        tenant.tell(new AddApiKey(hash, Set.of(Scope.CHAT), acks.ref()));
        tenant.tell(new RevokeApiKey(hash, acks.ref()));
        tenant.tell(new AddApiKey(hash, Set.of(Scope.CHAT, Scope.MANAGE), acks.ref()));
        assertEquals(Ack.done(), acks.receiveMessage());
        assertEquals(Ack.done(), acks.receiveMessage());
        assertEquals(Ack.done(), acks.receiveMessage());
        tenant.tell(new Admit("r1", hash, Scope.MANAGE, null, 1, admissions.ref()));
        assertInstanceOf(Admitted.class, admissions.receiveMessage());
        assertEquals(Map.of(hash, id), keyIndex(hash));
    }

    // ---- the key index

    @Test
    void theKeyIndexFollowsAddAndRevoke() {
        String id = setUp(ROOMY);
        String hash = addKey(id, Scope.CHAT);
        assertEquals(Map.of(hash, id), keyIndex(hash));

        assertEquals(Ack.done(), ack(id, r -> new RevokeApiKey(hash, r)));
        assertEquals(Map.of(), keyIndex(hash));
    }

    @Test
    void aKeyOfAnotherTenantIsRefusedAndKeepsItsOwner() {
        String owner = setUp(ROOMY);
        String other = setUp(ROOMY);
        String hash = addKey(owner, Scope.CHAT);

        Ack stolen = ack(other, r -> new AddApiKey(hash, Set.of(Scope.CHAT, Scope.MANAGE), r));
        assertFalse(stolen.ok());
        assertTrue(stolen.message().contains("another tenant"), stolen.message());
        assertEquals(Map.of(hash, owner), keyIndex(hash));
        assertDenied(DenyReason.UNAUTHORIZED, admit(other, "r1", hash, Scope.CHAT, null, 1));
        // nor can the other tenant revoke it from the index
        ack(other, r -> new RevokeApiKey(hash, r));
        assertEquals(Map.of(hash, owner), keyIndex(hash));
        assertInstanceOf(Admitted.class, admit(owner, "r2", hash, Scope.CHAT, null, 1));
    }

    // ---- catalog

    @Test
    void theCatalogListsModelsToTheTenantsKeysOnly() {
        String id = setUp(ROOMY);
        String key = addKey(id, Scope.CHAT);
        long created = clock.instant().getEpochSecond();
        AdapterRef cafe1 = adapter(id, "cafe", 1);
        AdapterRef latte = adapter(id, "latte", 1);
        assertEquals(Ack.done(), ack(id, r -> new SetModel("latte", latte, r)));
        assertEquals(Ack.done(), ack(id, r -> new SetModel("cafe", cafe1, r)));

        ModelList list = listModels(id, key);
        assertTrue(list.authorized());
        assertEquals(List.of(new ModelEntry("cafe", cafe1, created), new ModelEntry("latte", latte, created)), list.models());

        // a new version keeps the name's creation time; removing a name drops it
        clock.advance(Duration.ofSeconds(30));
        AdapterRef cafe2 = adapter(id, "cafe", 2);
        assertEquals(Ack.done(), ack(id, r -> new SetModel("cafe", cafe2, r)));
        assertEquals(Ack.done(), ack(id, r -> new SetModel("latte", null, r)));
        assertEquals(List.of(new ModelEntry("cafe", cafe2, created)), listModels(id, key).models());
        assertEquals(List.of(new ModelEntry("cafe", cafe2, created)), info(id).models());

        // another tenant's key sees nothing here
        String other = setUp(ROOMY);
        String otherKey = addKey(other, Scope.CHAT);
        ModelList foreign = listModels(id, otherKey);
        assertFalse(foreign.authorized());
        assertEquals(List.of(), foreign.models());
    }

    @Test
    void theCatalogHoldsOnlyTheTenantsOwnAdaptersUnderTheirNames() {
        String id = setUp(ROOMY);
        String other = newTenantId();
        Ack foreign = ack(id, r -> new SetModel("cafe", adapter(other, "cafe", 1), r));
        assertFalse(foreign.ok());
        assertTrue(foreign.message().contains(other), foreign.message());
        assertFalse(ack(id, r -> new SetModel("mocha", adapter(id, "cafe", 1), r)).ok());
        assertEquals(List.of(), info(id).models());
    }

    // ---- admission

    @Test
    void admitsTheBaseAndTheTenantsAdapters() {
        String id = setUp(new Limits(10, 10, 10_000, 4, 777));
        ack(id, r -> new Setup("Acme", "pro", 3.5, new Limits(10, 10, 10_000, 4, 777), r));
        String key = addKey(id, Scope.CHAT);
        AdapterRef cafe = adapter(id, "cafe", 2);
        ack(id, r -> new SetModel("cafe", cafe, r));

        assertEquals(new Admitted(new TenantId(id), null, 3.5, 777), admit(id, "base", key, Scope.CHAT, null, 100));
        assertEquals(new Admitted(new TenantId(id), cafe, 3.5, 777), admit(id, "lora", key, Scope.CHAT, "cafe", 100));
        assertEquals(2, info(id).inFlight());
    }

    @Test
    void anotherTenantsModelIsNotFoundExactlyLikeAMissingOne() {
        String owner = setUp(ROOMY);
        ack(owner, r -> new SetModel("cafe", adapter(owner, "cafe", 1), r));
        String id = setUp(ROOMY);
        String key = addKey(id, Scope.CHAT);

        Denied foreign = assertDenied(DenyReason.MODEL_NOT_FOUND, admit(id, "r1", key, Scope.CHAT, "cafe", 10));
        Denied missing = assertDenied(DenyReason.MODEL_NOT_FOUND, admit(id, "r2", key, Scope.CHAT, "nope", 10));
        assertEquals("The model `cafe` does not exist or you do not have access to it.", foreign.message());
        assertEquals("The model `nope` does not exist or you do not have access to it.", missing.message());
        assertEquals(foreign.retryAfterMillis(), missing.retryAfterMillis());
        assertEquals(0, info(id).inFlight());
    }

    @Test
    void theRequestRateRefillsAtItsRate() {
        String id = setUp(new Limits(2, 2, 1_000_000, 100, 4096));
        String key = addKey(id, Scope.CHAT);
        assertInstanceOf(Admitted.class, admit(id, "r1", key, Scope.CHAT, null, 1));
        assertInstanceOf(Admitted.class, admit(id, "r2", key, Scope.CHAT, null, 1));

        Denied empty = assertDenied(DenyReason.RATE_LIMITED, admit(id, "r3", key, Scope.CHAT, null, 1));
        assertEquals(500, empty.retryAfterMillis());
        assertTrue(empty.message().contains("requests per second"), empty.message());
        clock.advance(Duration.ofMillis(250));
        assertEquals(250, assertDenied(DenyReason.RATE_LIMITED, admit(id, "r3", key, Scope.CHAT, null, 1)).retryAfterMillis());
        clock.advance(Duration.ofMillis(250));
        assertInstanceOf(Admitted.class, admit(id, "r3", key, Scope.CHAT, null, 1));
        assertEquals(500, assertDenied(DenyReason.RATE_LIMITED, admit(id, "r4", key, Scope.CHAT, null, 1)).retryAfterMillis());
        // the burst is the bucket's size: a long pause refills two, not more
        clock.advance(Duration.ofMinutes(1));
        assertInstanceOf(Admitted.class, admit(id, "r4", key, Scope.CHAT, null, 1));
        assertInstanceOf(Admitted.class, admit(id, "r5", key, Scope.CHAT, null, 1));
        assertDenied(DenyReason.RATE_LIMITED, admit(id, "r6", key, Scope.CHAT, null, 1));
    }

    @Test
    void theTokenRateRefillsPerMinute() {
        String id = setUp(new Limits(1000, 1000, 600, 100, 4096));
        String key = addKey(id, Scope.CHAT);
        assertInstanceOf(Admitted.class, admit(id, "r1", key, Scope.CHAT, null, 400));

        // 200 left, 300 asked: 100 missing at 600 a minute is 10 s
        Denied short100 = assertDenied(DenyReason.RATE_LIMITED, admit(id, "r2", key, Scope.CHAT, null, 300));
        assertEquals(10_000, short100.retryAfterMillis());
        assertTrue(short100.message().contains("tokens per min"), short100.message());
        clock.advance(Duration.ofSeconds(10));
        assertInstanceOf(Admitted.class, admit(id, "r2", key, Scope.CHAT, null, 300));

        // more than the bucket ever holds: refused, with the time to a full bucket
        Denied tooLarge = assertDenied(DenyReason.RATE_LIMITED, admit(id, "r3", key, Scope.CHAT, null, 601));
        assertTrue(tooLarge.message().contains("Request too large"), tooLarge.message());
        assertEquals(60_000, tooLarge.retryAfterMillis());
    }

    @Test
    void concurrencyIsLimitedAndFinishedReleasesASlot() {
        String id = setUp(new Limits(1000, 1000, 1_000_000, 2, 4096));
        String key = addKey(id, Scope.CHAT);
        assertInstanceOf(Admitted.class, admit(id, "r1", key, Scope.CHAT, null, 10));
        assertInstanceOf(Admitted.class, admit(id, "r2", key, Scope.CHAT, null, 10));

        Denied full = assertDenied(DenyReason.RATE_LIMITED, admit(id, "r3", key, Scope.CHAT, null, 10));
        assertEquals(settings.concurrencyRetryAfter().toMillis(), full.retryAfterMillis());
        assertTrue(full.message().contains("concurrent"), full.message());

        tenant(id).tell(new Finished("r1", 5));
        assertInstanceOf(Admitted.class, admit(id, "r3", key, Scope.CHAT, null, 10));
        assertEquals(2, info(id).inFlight());
    }

    @Test
    void aRetriedAdmitIsAdmittedOnce() {
        String id = setUp(new Limits(1000, 1000, 600, 10, 4096));
        String key = addKey(id, Scope.CHAT);
        assertInstanceOf(Admitted.class, admit(id, "r1", key, Scope.CHAT, null, 400));
        assertInstanceOf(Admitted.class, admit(id, "r1", key, Scope.CHAT, null, 400));
        assertEquals(1, info(id).inFlight());
        assertInstanceOf(Admitted.class, admit(id, "r2", key, Scope.CHAT, null, 200));
    }

    @Test
    void aLostRequestsLeaseExpires() {
        String id = setUp(new Limits(1000, 1000, 1_000_000, 1, 4096));
        String key = addKey(id, Scope.CHAT);
        assertInstanceOf(Admitted.class, admit(id, "lost", key, Scope.CHAT, null, 10));

        // sweeps run (every 50 ms here) but the lease (10 min) holds
        clock.advance(settings.inFlightLease().minusSeconds(1));
        sleep(Duration.ofMillis(300));
        assertDenied(DenyReason.RATE_LIMITED, admit(id, "next", key, Scope.CHAT, null, 10));
        assertEquals(1, info(id).inFlight());

        clock.advance(Duration.ofSeconds(1));
        TestProbe<Object> waiter = testKit.createTestProbe();
        waiter.awaitAssert(Duration.ofSeconds(10), () -> {
            assertEquals(0, info(id).inFlight());
            return null;
        });
        assertInstanceOf(Admitted.class, admit(id, "next", key, Scope.CHAT, null, 10));
        // the lost request's late Finished does not free the new one's slot
        tenant(id).tell(new Finished("lost", 10));
        assertEquals(1, info(id).inFlight());
    }

    @Test
    void finishedRefundsTheUnusedReservation() {
        String id = setUp(new Limits(1000, 1000, 600, 10, 4096));
        String key = addKey(id, Scope.CHAT);
        assertInstanceOf(Admitted.class, admit(id, "r1", key, Scope.CHAT, null, 500));
        tenant(id).tell(new Finished("r1", 200));
        // 100 left + 300 unused = 400
        assertInstanceOf(Admitted.class, admit(id, "r2", key, Scope.CHAT, null, 400));
        assertEquals(100, assertDenied(DenyReason.RATE_LIMITED, admit(id, "r3", key, Scope.CHAT, null, 1)).retryAfterMillis());
    }

    @Test
    void settlementNeverGoesBelowZero() {
        String id = setUp(new Limits(1000, 1000, 600, 10, 4096));
        String key = addKey(id, Scope.CHAT);
        assertInstanceOf(Admitted.class, admit(id, "r1", key, Scope.CHAT, null, 100));
        // 500 left, 600 more used than reserved: empty, not -100
        tenant(id).tell(new Finished("r1", 700));
        assertEquals(100, assertDenied(DenyReason.RATE_LIMITED, admit(id, "r2", key, Scope.CHAT, null, 1)).retryAfterMillis());
    }

    @Test
    void settlementNeverGoesAboveTheBucketSize() {
        String id = setUp(new Limits(1000, 1000, 600, 10, 4096));
        String key = addKey(id, Scope.CHAT);
        assertInstanceOf(Admitted.class, admit(id, "r1", key, Scope.CHAT, null, 100));
        clock.advance(Duration.ofMinutes(1));
        // full again at 600; the unused 100 do not make it 700
        tenant(id).tell(new Finished("r1", 0));
        assertInstanceOf(Admitted.class, admit(id, "r2", key, Scope.CHAT, null, 600));
        assertEquals(100, assertDenied(DenyReason.RATE_LIMITED, admit(id, "r3", key, Scope.CHAT, null, 1)).retryAfterMillis());
    }

    @Test
    void aCommandThatFailsLeavesTheTenantAsItWas() {
        String id = setUp(new Limits(1000, 1000, 600, 10, 4096));
        String key = addKey(id, Scope.CHAT);
        // nobody to answer: the handler throws, the command is dropped, the state is kept
        tenant(id).tell(new Admit("r1", key, Scope.CHAT, null, 100, null));
        Info info = info(id);
        assertEquals("Tenant " + id, info.displayName());
        assertEquals(1, info.keys());
        assertEquals(0, info.inFlight());
        assertInstanceOf(Admitted.class, admit(id, "r2", key, Scope.CHAT, null, 600));
    }

    // ---- helpers

    static String newTenantId() {
        return "t" + ids.incrementAndGet() + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    EntityRef<Command> tenant(String id) {
        return ClusterSharding.get(testKit.system()).entityRefFor(TenantProtocol.TYPE_KEY, id);
    }

    String setUp(Limits limits) {
        String id = newTenantId();
        assertEquals(Ack.done(), ack(id, r -> new Setup("Tenant " + id, "pro", 1.0, limits, r)));
        return id;
    }

    /** Adds a fresh key with these scopes; returns its hash. */
    String addKey(String id, Scope... scopes) {
        String hash = TenantProtocol.hashKey("sk-" + UUID.randomUUID());
        assertEquals(Ack.done(), ack(id, r -> new AddApiKey(hash, Set.of(scopes), r)));
        return hash;
    }

    static AdapterRef adapter(String tenant, String name, int version) {
        return new AdapterRef(new TenantId(tenant), name, version,
                ContentHash.of((tenant + name).getBytes(), Integer.toString(version).getBytes()));
    }

    Ack ack(String id, java.util.function.Function<org.apache.pekko.actor.typed.ActorRef<Ack>, Command> command) {
        TestProbe<Ack> probe = testKit.createTestProbe(Ack.class);
        tenant(id).tell(command.apply(probe.ref()));
        return probe.receiveMessage();
    }

    Admission admit(String id, String requestId, String keyHash, Scope scope, String model, int tokens) {
        TestProbe<Admission> probe = testKit.createTestProbe(Admission.class);
        tenant(id).tell(new Admit(requestId, keyHash, scope, model, tokens, probe.ref()));
        return probe.receiveMessage();
    }

    Info info(String id) {
        TestProbe<Info> probe = testKit.createTestProbe(Info.class);
        tenant(id).tell(new GetInfo(probe.ref()));
        return probe.receiveMessage();
    }

    ModelList listModels(String id, String keyHash) {
        TestProbe<ModelList> probe = testKit.createTestProbe(ModelList.class);
        tenant(id).tell(new ListModels(keyHash, probe.ref()));
        return probe.receiveMessage();
    }

    static Denied assertDenied(DenyReason reason, Admission admission) {
        Denied denied = assertInstanceOf(Denied.class, admission);
        assertEquals(reason, denied.reason(), denied.message());
        return denied;
    }

    /** This node's replica of the key index, restricted to {@code keyHash}. */
    Map<String, String> keyIndex(String keyHash) {
        TestProbe<Replicator.GetResponse<LWWMap<String, String>>> probe = testKit.createTestProbe();
        DistributedData.get(testKit.system()).replicator()
                .tell(new Replicator.Get<>(TenantProtocol.KEY_INDEX, Replicator.readLocal(), probe.ref()));
        Replicator.GetResponse<LWWMap<String, String>> response = probe.receiveMessage();
        if (response instanceof Replicator.NotFound) {
            return Map.of();
        }
        @SuppressWarnings("unchecked")
        Replicator.GetSuccess<LWWMap<String, String>> found = assertInstanceOf(Replicator.GetSuccess.class, response);
        String tenant = found.dataValue().getEntries().get(keyHash);
        return tenant == null ? Map.of() : Map.of(keyHash, tenant);
    }

    static void sleep(Duration duration) {
        try {
            Thread.sleep(duration);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
