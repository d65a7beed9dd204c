package io.loraplex.persistence.tenant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.AdapterRef;
import com.typesafe.config.ConfigFactory;
import io.loraplex.cluster.adapter.AdapterProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.AdapterNames;
import io.loraplex.cluster.tenant.TenantProtocol.Authorization;
import io.loraplex.cluster.tenant.TenantProtocol.Authorize;
import io.loraplex.cluster.tenant.TenantProtocol.CreateApiKey;
import io.loraplex.cluster.tenant.TenantProtocol.GetUsage;
import io.loraplex.cluster.tenant.TenantProtocol.KeyCreated;
import io.loraplex.cluster.tenant.TenantProtocol.KeyInfo;
import io.loraplex.cluster.tenant.TenantProtocol.KeyList;
import io.loraplex.cluster.tenant.TenantProtocol.ListAdapterNames;
import io.loraplex.cluster.tenant.TenantProtocol.ListApiKeys;
import io.loraplex.cluster.tenant.TenantProtocol.Passivate;
import io.loraplex.cluster.tenant.TenantProtocol.HoldUpload;
import io.loraplex.cluster.tenant.TenantProtocol.LetGoStorage;
import io.loraplex.cluster.tenant.TenantProtocol.ReleaseStorage;
import io.loraplex.cluster.tenant.TenantProtocol.ReleaseUpload;
import io.loraplex.cluster.tenant.TenantProtocol.StorageLeft;
import io.loraplex.cluster.tenant.TenantProtocol.ReserveStorage;
import io.loraplex.cluster.tenant.TenantProtocol.RevokeApiKeyById;
import io.loraplex.cluster.tenant.TenantProtocol.TrackAdapterName;
import io.loraplex.cluster.tenant.TenantProtocol.UpdateCatalog;
import io.loraplex.cluster.tenant.TenantProtocol.UsageReport;
import io.loraplex.cluster.tenant.TenantProtocol.UsageRow;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ddata.SelfUniqueAddress;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.pattern.Patterns;
import org.apache.pekko.persistence.Persistence;
import org.apache.pekko.persistence.SaveSnapshotSuccess;
import org.apache.pekko.persistence.SnapshotMetadata;
import org.apache.pekko.persistence.query.PersistenceQuery;
import org.apache.pekko.persistence.SnapshotProtocol;
import org.apache.pekko.persistence.SnapshotSelectionCriteria;
import org.apache.pekko.persistence.typed.PersistenceId;
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
import io.loraplex.cluster.tenant.TenantProtocol.Scope;
import io.loraplex.cluster.tenant.TenantProtocol.Setup;
import com.typesafe.config.Config;
import io.loraplex.persistence.Journals;
import java.time.Duration;
import org.apache.pekko.actor.typed.ActorSystem;
import java.time.Instant;
import java.util.ArrayList;
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
        Config config = journal().withFallback(TestClusters.config("router"));
        // the usage checkpoint tests read the journal through a read journal that counts what they read
        String readJournal = TenantSettings.create(config).readJournalPluginId(config);
        testKit = ActorTestKit.create("tenant-entity", CountingReadJournal.config(readJournal).withFallback(config));
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
        assertFalse(ack(id, r -> new UpdateCatalog("cafe", adapter(id, "cafe", 1), null, 0, r)).ok());
        assertFalse(ack(id, r -> new RevokeApiKeyById("key-1", r)).ok());
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
        KeyCreated chatKey = createKey(id, Scope.CHAT);
        String chat = TenantProtocol.hashKey(chatKey.apiKey());
        String manage = addKey(id, Scope.MANAGE);
        assertEquals(2, info(id).keys());

        assertInstanceOf(Admitted.class, admit(id, "r1", chat, Scope.CHAT, null, 10));
        Denied forbidden = assertDenied(DenyReason.FORBIDDEN, admit(id, "r2", chat, Scope.MANAGE, null, 10));
        assertTrue(forbidden.message().contains("manage"), forbidden.message());
        assertDenied(DenyReason.FORBIDDEN, admit(id, "r3", manage, Scope.CHAT, null, 10));
        Denied unknown = assertDenied(DenyReason.UNAUTHORIZED,
                admit(id, "r4", TenantProtocol.hashKey("sk-never-added"), Scope.CHAT, null, 10));
        assertEquals(TenantEntity.INCORRECT_KEY, unknown.message());

        assertEquals(Ack.done(), ack(id, r -> new RevokeApiKeyById(chatKey.keyId(), r)));
        assertDenied(DenyReason.UNAUTHORIZED, admit(id, "r5", chat, Scope.CHAT, null, 10));
        assertEquals(1, info(id).keys());
        // a revoked key's id names nothing any more
        Ack again = ack(id, r -> new RevokeApiKeyById(chatKey.keyId(), r));
        assertFalse(again.ok());
        assertTrue(again.message().contains("has no key with id " + chatKey.keyId()), again.message());
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
        KeyCreated first = createKey(id, Scope.CHAT);
        String hash = TenantProtocol.hashKey(first.apiKey());
        String other = TenantProtocol.hashKey("sk-" + UUID.randomUUID());
        TestProbe<Ack> acks = testKit.createTestProbe(Ack.class);
        TestProbe<Admission> admissions = testKit.createTestProbe(Admission.class);
        EntityRef<Command> tenant = tenant(id);
        // the revoke, the add again and the admit arrive while another add's index write is in flight
        tenant.tell(new AddApiKey(other, Set.of(Scope.CHAT), acks.ref()));
        tenant.tell(new RevokeApiKeyById(first.keyId(), acks.ref()));
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
        KeyCreated key = createKey(id, Scope.CHAT);
        String hash = TenantProtocol.hashKey(key.apiKey());
        assertEquals(Map.of(hash, id), keyIndex(hash));

        assertEquals(Ack.done(), ack(id, r -> new RevokeApiKeyById(key.keyId(), r)));
        assertEquals(Map.of(), keyIndex(hash));
    }

    @Test
    void aKeyOfAnotherTenantIsRefusedAndKeepsItsOwner() {
        String owner = setUp(ROOMY);
        String other = setUp(ROOMY);
        KeyCreated key = createKey(owner, Scope.CHAT);
        String hash = TenantProtocol.hashKey(key.apiKey());

        Ack stolen = ack(other, r -> new AddApiKey(hash, Set.of(Scope.CHAT, Scope.MANAGE), r));
        assertFalse(stolen.ok());
        assertTrue(stolen.message().contains("another tenant"), stolen.message());
        assertEquals(Map.of(hash, owner), keyIndex(hash));
        assertDenied(DenyReason.UNAUTHORIZED, admit(other, "r1", hash, Scope.CHAT, null, 1));
        // nor can the other tenant revoke it: its id names no key of theirs
        Ack revoked = ack(other, r -> new RevokeApiKeyById(key.keyId(), r));
        assertFalse(revoked.ok());
        assertTrue(revoked.message().contains("has no key with id"), revoked.message());
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
        assertEquals(Ack.done(), ack(id, r -> new UpdateCatalog("latte", latte, null, 0, r)));
        assertEquals(Ack.done(), ack(id, r -> new UpdateCatalog("cafe", cafe1, null, 0, r)));

        ModelList list = listModels(id, key);
        assertTrue(list.authorized());
        assertEquals(List.of(new ModelEntry("cafe", cafe1, created), new ModelEntry("latte", latte, created)), list.models());

        // a new version keeps the name's creation time; removing a name drops it
        clock.advance(Duration.ofSeconds(30));
        AdapterRef cafe2 = adapter(id, "cafe", 2);
        assertEquals(Ack.done(), ack(id, r -> new UpdateCatalog("cafe", cafe2, null, 0, r)));
        assertEquals(Ack.done(), ack(id, r -> new UpdateCatalog("latte", null, null, 0, r)));
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
        Ack foreign = ack(id, r -> new UpdateCatalog("cafe", adapter(other, "cafe", 1), null, 0, r));
        assertFalse(foreign.ok());
        assertTrue(foreign.message().contains(other), foreign.message());
        assertFalse(ack(id, r -> new UpdateCatalog("mocha", adapter(id, "cafe", 1), null, 0, r)).ok());
        assertEquals(List.of(), info(id).models());
    }

    // ---- admission

    @Test
    void admitsTheBaseAndTheTenantsAdapters() {
        String id = setUp(new Limits(10, 10, 10_000, 4, 777));
        ack(id, r -> new Setup("Acme", "pro", 3.5, new Limits(10, 10, 10_000, 4, 777), r));
        String key = addKey(id, Scope.CHAT);
        AdapterRef cafe = adapter(id, "cafe", 2);
        ack(id, r -> new UpdateCatalog("cafe", cafe, null, 0, r));

        assertEquals(new Admitted(new TenantId(id), null, 3.5, 777), admit(id, "base", key, Scope.CHAT, null, 100));
        assertEquals(new Admitted(new TenantId(id), cafe, 3.5, 777), admit(id, "lora", key, Scope.CHAT, "cafe", 100));
        assertEquals(2, info(id).inFlight());
    }

    @Test
    void anotherTenantsModelIsNotFoundExactlyLikeAMissingOne() {
        String owner = setUp(ROOMY);
        ack(owner, r -> new UpdateCatalog("cafe", adapter(owner, "cafe", 1), null, 0, r));
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

        // more than the bucket ever holds: no wait helps, so not rate limited but too large, naming the limits
        Denied tooLarge = assertDenied(DenyReason.REQUEST_TOO_LARGE, admit(id, "r3", key, Scope.CHAT, null, 601));
        assertTrue(tooLarge.message().contains("it may use 601 tokens"), tooLarge.message());
        assertTrue(tooLarge.message().contains("limit of 600 tokens per minute"), tooLarge.message());
        assertTrue(tooLarge.message().contains("largest max_tokens per request is 4096"), tooLarge.message());
        assertEquals(0, tooLarge.retryAfterMillis());
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


    // ---- keys created by the entity

    @Test
    void aCreatedKeyIsShownOnceListedWithoutSecretsAndRevokedById() {
        String id = setUp(ROOMY);
        KeyCreated created = ask(id, KeyCreated.class, r -> new CreateApiKey(Set.of(Scope.CHAT), "  laptop ", r));
        assertTrue(created.ok(), created.message());
        assertTrue(created.apiKey().startsWith("lpx-") && created.apiKey().length() == 4 + 43, created.apiKey());
        assertEquals(Set.of(Scope.CHAT), created.scopes());
        String hash = TenantProtocol.hashKey(created.apiKey());
        assertEquals(Map.of(hash, id), keyIndex(hash));
        assertEquals(new Authorization(true, null, ""), ask(id, Authorization.class, r -> new Authorize(hash, Scope.CHAT, r)));
        assertInstanceOf(Admitted.class, admit(id, "r1", hash, Scope.CHAT, null, 1));

        KeyList keys = ask(id, KeyList.class, ListApiKeys::new);
        assertTrue(keys.exists());
        assertEquals(List.of(new KeyInfo(created.keyId(), "laptop", Set.of(Scope.CHAT), clock.millis())), keys.keys());
        assertFalse(keys.toString().contains(created.apiKey()) || keys.toString().contains(hash), keys.toString());

        assertEquals(Ack.done(), ack(id, r -> new RevokeApiKeyById(created.keyId(), r)));
        assertEquals(Map.of(), keyIndex(hash));
        assertDenied(DenyReason.UNAUTHORIZED, admit(id, "r2", hash, Scope.CHAT, null, 1));
        assertEquals(List.of(), ask(id, KeyList.class, ListApiKeys::new).keys());
        Ack again = ack(id, r -> new RevokeApiKeyById(created.keyId(), r));
        assertFalse(again.ok());
        assertTrue(again.message().contains("no key with id " + created.keyId()), again.message());
    }

    @Test
    void createApiKeyRefusesWhatCannotBeAKey() {
        String unknown = newTenantId();
        KeyCreated notSetUp = ask(unknown, KeyCreated.class, r -> new CreateApiKey(Set.of(Scope.CHAT), "x", r));
        assertFalse(notSetUp.ok());
        assertTrue(notSetUp.message().contains("not set up"), notSetUp.message());
        assertNull(notSetUp.apiKey());
        assertFalse(ask(unknown, KeyList.class, ListApiKeys::new).exists());

        String id = setUp(ROOMY);
        KeyCreated noScope = ask(id, KeyCreated.class, r -> new CreateApiKey(Set.of(), "x", r));
        assertFalse(noScope.ok());
        assertTrue(noScope.message().contains("at least one scope"), noScope.message());
        KeyCreated longLabel = ask(id, KeyCreated.class, r -> new CreateApiKey(Set.of(Scope.CHAT), "x".repeat(201), r));
        assertFalse(longLabel.ok());
        assertTrue(longLabel.message().contains("at most 200 characters, got 201"), longLabel.message());
        assertEquals(0, info(id).keys());
    }

    @Test
    void authorizeAnswersUnauthorizedOrForbidden() {
        String id = setUp(ROOMY);
        String chat = addKey(id, Scope.CHAT);
        String manage = addKey(id, Scope.MANAGE, Scope.CHAT);
        assertTrue(ask(id, Authorization.class, r -> new Authorize(manage, Scope.MANAGE, r)).ok());
        Authorization forbidden = ask(id, Authorization.class, r -> new Authorize(chat, Scope.MANAGE, r));
        assertEquals(DenyReason.FORBIDDEN, forbidden.reason());
        assertTrue(forbidden.message().contains("manage"), forbidden.message());
        Authorization unknown = ask(id, Authorization.class, r -> new Authorize(TenantProtocol.hashKey("nope"), Scope.CHAT, r));
        assertEquals(new Authorization(false, DenyReason.UNAUTHORIZED, TenantEntity.INCORRECT_KEY), unknown);
        assertEquals(DenyReason.UNAUTHORIZED,
                ask(newTenantId(), Authorization.class, r -> new Authorize(chat, Scope.CHAT, r)).reason());
    }

    // ---- catalog from the Adapter entity, adapter names

    @Test
    void updateCatalogServesThePromotedVersionOrTheCanaryForItsShare() {
        String id = setUp(ROOMY);
        String key = addKey(id, Scope.CHAT);
        AdapterRef v1 = adapter(id, "cafe", 1);
        AdapterRef v2 = adapter(id, "cafe", 2);
        assertEquals(Ack.done(), ack(id, r -> new UpdateCatalog("cafe", v1, null, 0, r)));
        assertEquals(v1, ((Admitted) admit(id, "r1", key, Scope.CHAT, "cafe", 1)).adapter());
        assertEquals(Ack.done(), ack(id, r -> new UpdateCatalog("cafe", v1, v2, 1.0, r)));
        assertEquals(v2, ((Admitted) admit(id, "r2", key, Scope.CHAT, "cafe", 1)).adapter());
        assertEquals(Ack.done(), ack(id, r -> new UpdateCatalog("cafe", v1, v2, 0.0, r)));
        assertEquals(v1, ((Admitted) admit(id, "r3", key, Scope.CHAT, "cafe", 1)).adapter());
        // a canary before any promotion serves every request
        AdapterRef latte = adapter(id, "latte", 1);
        assertEquals(Ack.done(), ack(id, r -> new UpdateCatalog("latte", null, latte, 0.1, r)));
        assertEquals(latte, ((Admitted) admit(id, "r4", key, Scope.CHAT, "latte", 1)).adapter());
        assertEquals(List.of("cafe", "latte"), listModels(id, key).models().stream().map(ModelEntry::name).toList());
        assertEquals(v1, listModels(id, key).models().getFirst().adapter());

        Ack share = ack(id, r -> new UpdateCatalog("cafe", v1, v2, 1.5, r));
        assertFalse(share.ok());
        assertTrue(share.message().contains("between 0 and 1, got 1.5"), share.message());
        Ack foreign = ack(id, r -> new UpdateCatalog("cafe", v1, adapter("someone-else", "cafe", 3), 0.5, r));
        assertFalse(foreign.ok());
        assertTrue(foreign.message().contains("belongs to tenant someone-else"), foreign.message());
        Ack renamed = ack(id, r -> new UpdateCatalog("mocha", v1, null, 0, r));
        assertFalse(renamed.ok());
        assertTrue(renamed.message().contains("'mocha' but its adapter is 'cafe'"), renamed.message());

        assertEquals(Ack.done(), ack(id, r -> new UpdateCatalog("cafe", null, null, 0, r)));
        assertDenied(DenyReason.MODEL_NOT_FOUND, admit(id, "r5", key, Scope.CHAT, "cafe", 1));
        Ack notSetUp = ack(newTenantId(), r -> new UpdateCatalog("cafe", v1, null, 0, r));
        assertFalse(notSetUp.ok());
        assertTrue(notSetUp.message().contains("not set up"), notSetUp.message());
    }

    @Test
    void aNameWhosePromotedVersionWasQuarantinedAnswersWhyUntilAnotherVersionIsPromoted() {
        String id = newTenantId();
        ActorRef<Command> entity = spawn(id);
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new Setup("Quarantine", "pro", 1.0, ROOMY, r)));
        String key = TenantProtocol.hashKey("sk-" + UUID.randomUUID());
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new AddApiKey(key, Set.of(Scope.CHAT), r)));
        AdapterRef v1 = adapter(id, "cafe", 1);
        AdapterRef v2 = adapter(id, "cafe", 2);
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new UpdateCatalog("cafe", v2, null, 0, r)));
        String reason = "adapter " + id + "/cafe@2 produced a non-finite logit (NaN at token 3); this adapter version is quarantined";
        assertEquals(Ack.done(), ask(entity, Ack.class,
                r -> new UpdateCatalog("cafe", null, null, 0, new TenantProtocol.Quarantine(2, reason), r)));

        String expected = "The model `cafe` is unavailable: its version 2 was quarantined (" + reason
                + "). Promote another version of it (POST /v1/adapters/cafe/promote) to serve it again.";
        Denied denied = assertDenied(DenyReason.MODEL_QUARANTINED,
                ask(entity, Admission.class, r -> new Admit("r1", key, Scope.CHAT, "cafe", 1, r)));
        assertEquals(expected, denied.message());
        // it serves nothing: no model to list, nothing for operators to resolve
        assertEquals(List.of(), ask(entity, ModelList.class, r -> new ListModels(key, r)).models());
        assertFalse(ask(entity, TenantProtocol.Resolved.class, r -> new TenantProtocol.ResolveModel("cafe", r)).exists());
        // journaled: a restart answers the same
        entity = restart(entity, id);
        assertEquals(expected, assertDenied(DenyReason.MODEL_QUARANTINED,
                ask(entity, Admission.class, r -> new Admit("r2", key, Scope.CHAT, "cafe", 1, r))).message());

        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new UpdateCatalog("cafe", v1, null, 0, r)));
        assertEquals(v1, assertInstanceOf(Admitted.class,
                ask(entity, Admission.class, r -> new Admit("r3", key, Scope.CHAT, "cafe", 1, r))).adapter());
        // removed with no quarantine to tell (a delete), the name is a plain "not found" again
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new UpdateCatalog("cafe", null, null, 0, r)));
        assertDenied(DenyReason.MODEL_NOT_FOUND, ask(entity, Admission.class, r -> new Admit("r4", key, Scope.CHAT, "cafe", 1, r)));
    }

    @Test
    void adapterNamesAreTrackedWhetherServedOrNot() {
        String id = setUp(ROOMY);
        assertEquals(Ack.done(), ack(id, r -> new TrackAdapterName("latte", true, r)));
        assertEquals(Ack.done(), ack(id, r -> new TrackAdapterName("cafe", true, r)));
        assertEquals(Ack.done(), ack(id, r -> new TrackAdapterName("cafe", true, r)));
        assertEquals(new AdapterNames(true, List.of("cafe", "latte")), ask(id, AdapterNames.class, ListAdapterNames::new));
        assertEquals(Ack.done(), ack(id, r -> new TrackAdapterName("latte", false, r)));
        assertEquals(new AdapterNames(true, List.of("cafe")), ask(id, AdapterNames.class, ListAdapterNames::new));
        Ack bad = ack(id, r -> new TrackAdapterName("../etc", true, r));
        assertFalse(bad.ok());
        assertTrue(bad.message().contains("not an adapter name: '../etc'"), bad.message());

        String unknown = newTenantId();
        assertFalse(ack(unknown, r -> new TrackAdapterName("cafe", true, r)).ok());
        assertEquals(new AdapterNames(false, List.of()), ask(unknown, AdapterNames.class, ListAdapterNames::new));
    }

    // ---- storage

    @Test
    void storageReservationsAreIdempotentPerKeyAndBoundedByTheQuota() {
        String id = setUp(new Limits(1000, 1000, 1_000_000, 10, 4096, 1000));
        assertEquals(Ack.done(), ack(id, r -> new ReserveStorage("k1", 600, r)));
        assertEquals(Ack.done(), ack(id, r -> new ReserveStorage("k1", 600, r)));
        assertEquals(600, info(id).storageUsedBytes());
        Ack resized = ack(id, r -> new ReserveStorage("k1", 500, r));
        assertFalse(resized.ok());
        assertTrue(resized.message().contains("already holds a reservation of 600 bytes, not 500"), resized.message());
        Ack over = ack(id, r -> new ReserveStorage("k2", 401, r));
        assertFalse(over.ok());
        assertTrue(over.message().contains("used 600 bytes, requested 401 bytes, quota 1000 bytes"), over.message());
        assertEquals(Ack.done(), ack(id, r -> new ReserveStorage("k2", 400, r)));
        assertEquals(1000, info(id).storageUsedBytes());

        assertEquals(Ack.done(), ack(id, r -> new ReleaseStorage("k1", r)));
        assertEquals(new Ack(true, "nothing was reserved under k1"), ack(id, r -> new ReleaseStorage("k1", r)));
        assertEquals(400, info(id).storageUsedBytes());
        Ack negative = ack(id, r -> new ReserveStorage("k3", -1, r));
        assertFalse(negative.ok());
        assertTrue(negative.message().contains("-1 bytes"), negative.message());
        assertFalse(ack(newTenantId(), r -> new ReserveStorage("k1", 1, r)).ok());
        assertFalse(ack(newTenantId(), r -> new ReleaseStorage("k1", r)).ok());
    }

    @Test
    void oneContentUnderTwoNamesSharesOneReservationUntilTheLastNameLetsGo() {
        String id = newTenantId();
        ActorRef<Command> entity = spawn(id);
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new Setup("Shared", "pro", 1.0,
                new Limits(1000, 1000, 1_000_000, 10, 4096, 1000), r)));
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new ReserveStorage("blob", 600, "cafe", null, r)));
        // the same content under a second name: not charged again, though 600 more would pass the quota
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new ReserveStorage("blob", 600, "bistro", null, r)));
        assertEquals(600, ask(entity, Info.class, GetInfo::new).storageUsedBytes());

        assertEquals(new StorageLeft(true, "blob", 1), ask(entity, StorageLeft.class, r -> new LetGoStorage("blob", "cafe", r)));
        assertEquals(600, ask(entity, Info.class, GetInfo::new).storageUsedBytes());
        // holders are journaled: a restart keeps the one left, and its name is asked for its view on recovery
        entity = restart(entity, id);
        assertEquals(new StorageLeft(true, "blob", 1), ask(entity, StorageLeft.class, r -> new LetGoStorage("blob", "cafe", r)));
        assertEquals(new StorageLeft(true, "blob", 0), ask(entity, StorageLeft.class, r -> new LetGoStorage("blob", "bistro", r)));
        assertEquals(0, ask(entity, Info.class, GetInfo::new).storageUsedBytes());
        assertEquals(new StorageLeft(true, "blob", 0), ask(entity, StorageLeft.class, r -> new LetGoStorage("blob", "bistro", r)));
        assertFalse(ask(spawn(newTenantId()), StorageLeft.class, r -> new LetGoStorage("blob", "cafe", r)).ok());
    }

    @Test
    void uploadHoldsCountAgainstTheQuotaAndBecomeTheBlobsReservation() {
        String id = setUp(new Limits(1000, 1000, 1_000_000, 10, 4096, 1000));
        assertEquals(Ack.done(), ack(id, r -> new HoldUpload("u1", 300, r)));
        assertEquals(Ack.done(), ack(id, r -> new HoldUpload("u1", 600, r)));
        Ack over = ack(id, r -> new HoldUpload("u2", 500, r));
        assertFalse(over.ok());
        assertTrue(over.message().contains("used 600 bytes, requested 500 bytes, quota 1000 bytes"), over.message());
        assertEquals(600, info(id).storageUsedBytes());
        // the upload's blob is 550 bytes: its hold becomes the reservation, never counted twice
        assertEquals(Ack.done(), ack(id, r -> new ReserveStorage("blob", 550, "cafe", "u1", r)));
        assertEquals(550, info(id).storageUsedBytes());
        assertEquals(Ack.done(), ack(id, r -> new HoldUpload("u2", 450, r)));
        assertEquals(1000, info(id).storageUsedBytes());
        assertEquals(Ack.done(), ack(id, r -> new ReleaseUpload("u2", r)));
        assertEquals(Ack.done(), ack(id, r -> new ReleaseUpload("u2", r)));
        assertEquals(550, info(id).storageUsedBytes());
    }

    // ---- usage

    @Test
    void usageOlderThanTheRetentionIsDroppedWhenUsageIsJournaled() {
        String id = newTenantId();
        ActorRef<Command> entity = spawn(id);
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new Setup("Retention", "pro", 1.0, ROOMY, r)));
        String key = TenantProtocol.hashKey("sk-" + UUID.randomUUID());
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new AddApiKey(key, Set.of(Scope.CHAT), r)));
        long oldHour = clock.instant().getEpochSecond() / 3600;
        admitAndFinish(entity, key, "old", null, 5);
        TestProbe<Object> watcher = testKit.createTestProbe();
        entity.tell(new Passivate());
        watcher.expectTerminated(entity);

        clock.advance(settings.usageRetention().plusHours(2));
        long newHour = clock.instant().getEpochSecond() / 3600;
        entity = spawn(id);
        assertEquals(List.of(new UsageRow(oldHour, "", 1, 5)), ask(entity, UsageReport.class, r -> new GetUsage(0, newHour, r)).rows());
        admitAndFinish(entity, key, "new", null, 7);
        entity.tell(new Passivate());
        watcher.expectTerminated(entity);
        entity = spawn(id);
        assertEquals(List.of(new UsageRow(newHour, "", 1, 7)), ask(entity, UsageReport.class, r -> new GetUsage(0, newHour, r)).rows());
    }

    @Test
    void usageIsCountedPerHourAndModelAndJournaledOnPassivation() {
        String id = newTenantId();
        ActorRef<Command> entity = spawn(id);
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new Setup("Usage", "pro", 1.0, ROOMY, r)));
        String key = TenantProtocol.hashKey("sk-" + UUID.randomUUID());
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new AddApiKey(key, Set.of(Scope.CHAT), r)));
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new UpdateCatalog("cafe", adapter(id, "cafe", 1), null, 0, r)));
        long hour = clock.instant().getEpochSecond() / 3600;
        admitAndFinish(entity, key, "r1", "cafe", 30);
        admitAndFinish(entity, key, "r2", "cafe", 12);
        admitAndFinish(entity, key, "r3", null, 5);
        List<UsageRow> expected = List.of(new UsageRow(hour, "", 1, 5), new UsageRow(hour, "cafe", 2, 42));
        assertEquals(new UsageReport(true, expected), ask(entity, UsageReport.class, r -> new GetUsage(hour, hour, r)));
        assertEquals(List.of(), ask(entity, UsageReport.class, r -> new GetUsage(hour + 1, hour + 5, r)).rows());

        TestProbe<Object> watcher = testKit.createTestProbe();
        entity.tell(new Passivate());
        watcher.expectTerminated(entity);
        entity = spawn(id);
        assertEquals(expected, ask(entity, UsageReport.class, r -> new GetUsage(hour, hour, r)).rows());
        // journaled and pending usage of one hour and model answer as one row
        admitAndFinish(entity, key, "r4", "cafe", 8);
        assertEquals(List.of(new UsageRow(hour, "", 1, 5), new UsageRow(hour, "cafe", 3, 50)),
                ask(entity, UsageReport.class, r -> new GetUsage(hour, hour, r)).rows());
        assertFalse(ask(spawn(newTenantId()), UsageReport.class, r -> new GetUsage(0, hour, r)).exists());
    }

    @Test
    void aTenantsSnapshotDoesNotGrowWithItsUsageWhileTheUsageHistorySurvivesRestartsAndHonoursTheRetention() throws Exception {
        String id = newTenantId();
        PersistenceId persistenceId = TenantEntity.persistenceId(new TenantId(id));
        ActorRef<Command> entity = spawn(id);
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new Setup("Ledger", "pro", 1.0, ROOMY, r)));
        String key = TenantProtocol.hashKey("sk-" + UUID.randomUUID());
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new AddApiKey(key, Set.of(Scope.CHAT), r)));
        long firstHour = clock.instant().getEpochSecond() / 3600;
        List<UsageRow> expected = new ArrayList<>();
        TestProbe<Object> watcher = testKit.createTestProbe();
        int[] snapshotSizes = new int[2];
        // 2 + 12 events, one hour of usage each: snapshots at 5 and 10 (snapshot-every = 5 in the tests)
        for (int i = 0; i < 12; i++) {
            long hour = clock.instant().getEpochSecond() / 3600;
            String model = i % 2 == 0 ? "" : "cafe";
            if (!model.isEmpty()) {
                assertEquals(Ack.done(), ask(entity, Ack.class, r -> new UpdateCatalog("cafe", adapter(id, "cafe", 1), null, 0, r)));
            }
            admitAndFinish(entity, key, "r" + i, model.isEmpty() ? null : model, 10 + i);
            expected.add(new UsageRow(hour, model, 1, 10 + i));
            // Passivate journals the hour's usage; the next hour starts in a recovered entity
            entity.tell(new Passivate());
            watcher.expectTerminated(entity);
            clock.advance(Duration.ofHours(1));
            entity = spawn(id);
            if (i == 3 || i == 11) {
                // the snapshot is written after its event: wait for the one of this round (at 5, and at 15)
                long at = i == 3 ? 5 : 15;
                TenantState snapshot = watcher.awaitAssert(Duration.ofSeconds(10), () -> {
                    assertEquals(at, latestSnapshotSequenceNr(persistenceId));
                    return assertInstanceOf(TenantState.class, latestSnapshot(persistenceId));
                });
                // what the entity decides with, and how far back usage may reach: no hour of it
                assertEquals(new TenantState(snapshot.profile(), snapshot.keys(), snapshot.catalog(), Set.of(), Map.of(), Map.of(),
                        firstHour), snapshot);
                snapshotSizes[i == 3 ? 0 : 1] = org.apache.pekko.serialization.SerializationExtension.get(testKit.system())
                        .serialize(snapshot).get().length;
            }
        }
        assertEquals(snapshotSizes[0], snapshotSizes[1], "a snapshot after 2 hours of usage and one after 7");
        // every hour, those before the latest snapshot included: the history is read from the journal
        assertEquals(new UsageReport(true, expected), ask(entity, UsageReport.class, r -> new GetUsage(0, Long.MAX_VALUE, r)));
        assertEquals(expected.subList(3, 5), ask(entity, UsageReport.class, r -> new GetUsage(firstHour + 3, firstHour + 4, r)).rows());

        // the first 6 hours age out, and go when usage is next journaled
        clock.advance(settings.usageRetention().minusHours(6));
        long lastHour = clock.instant().getEpochSecond() / 3600;
        entity = restart(entity, id);
        assertEquals(expected, ask(entity, UsageReport.class, r -> new GetUsage(0, Long.MAX_VALUE, r)).rows());
        admitAndFinish(entity, key, "last", null, 99);
        entity.tell(new Passivate());
        watcher.expectTerminated(entity);
        entity = spawn(id);
        List<UsageRow> kept = new ArrayList<>(expected.subList(6, 12));
        kept.add(new UsageRow(lastHour, "", 1, 99));
        assertEquals(kept, ask(entity, UsageReport.class, r -> new GetUsage(0, Long.MAX_VALUE, r)).rows());
    }

    // ---- usage checkpoints

    @Test
    void aUsageReportAfterARestartEqualsTheReportBeforeWithAndWithoutACheckpoint() throws Exception {
        for (boolean checkpointing : List.of(true, false)) {
            Ledger tenant = new Ledger(checkpointEvery(checkpointing ? 3 : 1_000_000, Duration.ofHours(1)));
            for (int i = 0; i < 5; i++) {
                tenant.hour(10 + i);
            }
            // and usage not journaled yet, which the restart's Passivate journals
            admitAndFinish(tenant.entity, tenant.key, "pending", "cafe", 99);
            UsageReport before = tenant.report();
            long readTo = tenant.reads().getLast().to();
            if (checkpointing) {
                tenant.awaitCheckpoint(readTo);
            } else {
                assertNull(latestSnapshot(tenant.checkpointId()), "no checkpoint: the history has not read 1,000,000 events");
            }

            tenant.restart();
            assertEquals(before, tenant.report(), checkpointing ? "with a checkpoint" : "without a checkpoint");
            assertEquals(checkpointing ? readTo + 1 : 1, tenant.reads().getLast().from(), "where the read after the restart started");
        }
    }

    @Test
    void afterACheckpointTheUsageHistoryOfARestartedEntityReadsOnlyTheEventsAfterIt() throws Exception {
        Ledger tenant = new Ledger(checkpointEvery(4, Duration.ofHours(1)));
        List<UsageRow> expected = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            expected.addAll(tenant.hour(20 + i));
        }
        assertEquals(new UsageReport(true, expected), tenant.report());
        // no checkpoint yet: the whole journal (setup, key, catalog, 4 hours of 2 models), which is then checkpointed
        CountingReadJournal.Read first = tenant.reads().getLast();
        assertEquals(1, first.from());
        assertEquals(3 + 4 * 2, first.to());
        assertEquals(first.to(), first.eventCount());
        UsageCheckpoint checkpoint = tenant.awaitCheckpoint(first.to());
        assertEquals(expected.stream().map(r -> new UsageCheckpoint.Row(r.epochHour(), r.model(), r.requests(), r.tokens())).toList(),
                checkpoint.rows());

        expected.addAll(tenant.hour(30));
        expected.addAll(tenant.hour(31));
        int readsBefore = tenant.reads().size();
        assertEquals(new UsageReport(true, expected), tenant.report());
        List<CountingReadJournal.Read> reads = tenant.reads().subList(readsBefore, tenant.reads().size());
        assertEquals(1, reads.size(), "one read after the restart");
        assertEquals(checkpoint.readTo() + 1, reads.getFirst().from(), "it starts after the checkpoint");
        assertEquals(4, reads.getFirst().eventCount(), "the 2 hours of 2 models journaled after the checkpoint, and nothing before");
    }

    @Test
    void aCheckpointFollowsTheJournalWhileNobodyAsksForUsage() throws Exception {
        // flushed on the timer: the entity catches its history up itself once the journal is 3 ahead of it
        Ledger tenant = new Ledger(checkpointEvery(3, settings.usageFlushInterval()));
        long hour = clock.instant().getEpochSecond() / 3600;
        admitAndFinish(tenant.entity, tenant.key, "r1", null, 7);
        UsageCheckpoint checkpoint = tenant.awaitCheckpoint(4);
        assertEquals(List.of(new UsageCheckpoint.Row(hour, "", 1, 7)), checkpoint.rows());
        assertEquals(1, tenant.reads().size(), "one read, of the entity's own");
        assertEquals(4, tenant.reads().getFirst().eventCount());
    }

    @Test
    void aCheckpointThatCannotBeUsedIsIgnoredTheHistoryIsReadFromTheStartAndTheNextCheckpointReplacesIt() throws Exception {
        // not a checkpoint; a checkpoint of another journal, read further than this one holds
        List<Object> unusable = List.of("not a checkpoint",
                new UsageCheckpoint(1_000_000, List.of(new UsageCheckpoint.Row(1, "", 1_000, 1_000))));
        for (Object damaged : unusable) {
            Ledger tenant = new Ledger(checkpointEvery(3, Duration.ofHours(1)));
            List<UsageRow> expected = new ArrayList<>();
            expected.addAll(tenant.hour(40));
            expected.addAll(tenant.hour(41));
            saveSnapshot(tenant.checkpointId(), damaged instanceof UsageCheckpoint c ? c.readTo() : 5, damaged);

            assertEquals(new UsageReport(true, expected), tenant.report(), String.valueOf(damaged));
            CountingReadJournal.Read read = tenant.reads().getLast();
            assertEquals(1, read.from(), "a full read past " + damaged);
            assertEquals(read.to(), read.eventCount());
            tenant.awaitCheckpoint(read.to());
        }
    }

    @Test
    void theRetentionDropsHoursFromTheCheckpointedRows() throws Exception {
        Ledger tenant = new Ledger(checkpointEvery(2, Duration.ofHours(1)));
        List<UsageRow> old = tenant.hour(50);
        List<UsageRow> kept = new ArrayList<>(tenant.hour(51));
        assertEquals(new UsageReport(true, concat(old, kept)), tenant.report());
        UsageCheckpoint checkpoint = tenant.awaitCheckpoint(tenant.reads().getLast().to());
        assertEquals(4, checkpoint.rows().size(), "both hours, 2 models each");

        // the first hour ages out, and goes when usage is next journaled (an UsageExpired after the checkpoint)
        clock.advance(settings.usageRetention().minusHours(1));
        kept.addAll(tenant.hour(52));
        assertEquals(new UsageReport(true, kept), tenant.report());
        CountingReadJournal.Read read = tenant.reads().getLast();
        assertEquals(checkpoint.readTo() + 1, read.from(), "read from the checkpoint on");
        // the next checkpoint holds the kept hours only
        assertEquals(kept.stream().map(r -> new UsageCheckpoint.Row(r.epochHour(), r.model(), r.requests(), r.tokens())).toList(),
                tenant.awaitCheckpoint(read.to()).rows());
    }

    /**
     * A tenant spawned outside sharding with settings of its own, set up with a key and the model
     * {@code cafe}: 3 events.
     */
    final class Ledger {
        final String id = newTenantId();
        final TenantSettings tenantSettings;
        final String key = TenantProtocol.hashKey("sk-" + UUID.randomUUID());
        final TestProbe<Object> watcher = testKit.createTestProbe();
        ActorRef<Command> entity;

        Ledger(TenantSettings tenantSettings) {
            this.tenantSettings = tenantSettings;
            entity = spawn(id, tenantSettings);
            assertEquals(Ack.done(), ask(entity, Ack.class, r -> new Setup("Ledger", "pro", 1.0, ROOMY, r)));
            assertEquals(Ack.done(), ask(entity, Ack.class, r -> new AddApiKey(key, Set.of(Scope.CHAT), r)));
            assertEquals(Ack.done(), ask(entity, Ack.class, r -> new UpdateCatalog("cafe", adapter(id, "cafe", 1), null, 0, r)));
        }

        /**
         * A request to the base and one to {@code cafe} in this hour, journaled (2 events) by a
         * Passivate; the entity then starts again an hour later. The rows they make.
         */
        List<UsageRow> hour(int tokens) {
            long hour = clock.instant().getEpochSecond() / 3600;
            admitAndFinish(entity, key, "base-" + tokens, null, tokens);
            admitAndFinish(entity, key, "cafe-" + tokens, "cafe", tokens + 1);
            restart();
            clock.advance(Duration.ofHours(1));
            return List.of(new UsageRow(hour, "", 1, tokens), new UsageRow(hour, "cafe", 1, tokens + 1));
        }

        /** Stops the entity by Passivate (which journals its pending usage) and starts it again. */
        void restart() {
            entity.tell(new Passivate());
            watcher.expectTerminated(entity);
            entity = spawn(id, tenantSettings);
        }

        UsageReport report() {
            return ask(entity, UsageReport.class, r -> new GetUsage(0, Long.MAX_VALUE, r));
        }

        /** What the tenant's usage history has read from the journal so far. */
        List<CountingReadJournal.Read> reads() {
            return PersistenceQuery.get(Adapter.toClassic(testKit.system()))
                    .getReadJournalFor(CountingReadJournal.class, CountingReadJournal.PLUGIN)
                    .reads(TenantEntity.persistenceId(new TenantId(id)).id());
        }

        PersistenceId checkpointId() {
            return UsageCheckpointStore.persistenceId(new TenantId(id));
        }

        /** Waits for the tenant's latest checkpoint to be one read to {@code readTo} (it is saved after the read answers). */
        UsageCheckpoint awaitCheckpoint(long readTo) {
            return watcher.awaitAssert(Duration.ofSeconds(10), () -> {
                UsageCheckpoint checkpoint = assertInstanceOf(UsageCheckpoint.class, latestSnapshot(checkpointId()));
                assertEquals(readTo, checkpoint.readTo());
                assertEquals(readTo, latestSnapshotSequenceNr(checkpointId()));
                return checkpoint;
            });
        }
    }

    /**
     * These settings, with the usage history checkpointed every {@code every} sequence numbers,
     * read through {@link CountingReadJournal}, and usage journaled every {@code flush}.
     */
    TenantSettings checkpointEvery(int every, Duration flush) {
        return TenantSettings.create(ConfigFactory.parseString("""
                loraplex.tenant.usage-checkpoint.every = %d
                loraplex.tenant.read-journal = "%s"
                loraplex.tenant.usage-flush-interval = %dms
                """.formatted(every, CountingReadJournal.PLUGIN, flush.toMillis())).withFallback(testKit.system().settings().config()));
    }

    static List<UsageRow> concat(List<UsageRow> a, List<UsageRow> b) {
        List<UsageRow> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    @Test
    void passivationWaitsForAKeyChangeInFlight() {
        String id = newTenantId();
        ActorRef<Command> entity = spawn(id);
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new Setup("Hand-off", "pro", 1.0, ROOMY, r)));
        String key = TenantProtocol.hashKey("sk-" + UUID.randomUUID());
        TestProbe<Ack> acks = testKit.createTestProbe(Ack.class);
        entity.tell(new AddApiKey(key, Set.of(Scope.CHAT), acks.ref()));
        entity.tell(new Passivate());
        assertEquals(Ack.done(), acks.receiveMessage());
        acks.expectTerminated(entity);
        assertTrue(ask(spawn(id), Authorization.class, r -> new Authorize(key, Scope.CHAT, r)).ok());
    }

    @Test
    void usageIsJournaledEveryFlushInterval() {
        String id = newTenantId();
        ActorRef<Command> entity = spawn(id);
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new Setup("Usage", "pro", 1.0, ROOMY, r)));
        String key = TenantProtocol.hashKey("sk-" + UUID.randomUUID());
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new AddApiKey(key, Set.of(Scope.CHAT), r)));
        long hour = clock.instant().getEpochSecond() / 3600;
        admitAndFinish(entity, key, "r1", null, 7);
        // the test flush interval is 100 ms; a stop (unlike Passivate) journals nothing itself
        sleep(settings.usageFlushInterval().multipliedBy(10));
        entity = restart(entity, id);
        assertEquals(List.of(new UsageRow(hour, "", 1, 7)), ask(entity, UsageReport.class, r -> new GetUsage(hour, hour, r)).rows());
    }

    // ---- recovery

    @Test
    void aRestartedTenantRecoversTheSameView() {
        String id = newTenantId();
        ActorRef<Command> entity = spawn(id);
        Limits limits = new Limits(10, 20, 30_000, 4, 512, 5000);
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new Setup("Recovery", "pro", 2.5, limits, r)));
        KeyCreated created = ask(entity, KeyCreated.class, r -> new CreateApiKey(Set.of(Scope.CHAT, Scope.MANAGE), "ci", r));
        KeyCreated revokedKey = ask(entity, KeyCreated.class, r -> new CreateApiKey(Set.of(Scope.CHAT), "gone", r));
        String revoked = TenantProtocol.hashKey(revokedKey.apiKey());
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new RevokeApiKeyById(revokedKey.keyId(), r)));
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new UpdateCatalog("cafe", adapter(id, "cafe", 1),
                adapter(id, "cafe", 2), 0.25, r)));
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new TrackAdapterName("cafe", true, r)));
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new ReserveStorage("blob", 1234, r)));
        Info info = ask(entity, Info.class, GetInfo::new);
        KeyList keys = ask(entity, KeyList.class, ListApiKeys::new);

        entity = restart(entity, id);
        assertEquals(info, ask(entity, Info.class, GetInfo::new));
        assertEquals(keys, ask(entity, KeyList.class, ListApiKeys::new));
        assertEquals(new AdapterNames(true, List.of("cafe")), ask(entity, AdapterNames.class, ListAdapterNames::new));
        String key = TenantProtocol.hashKey(created.apiKey());
        assertTrue(ask(entity, Authorization.class, r -> new Authorize(key, Scope.MANAGE, r)).ok());
        assertEquals(DenyReason.UNAUTHORIZED, ask(entity, Authorization.class, r -> new Authorize(revoked, Scope.CHAT, r)).reason());
        Admitted admitted = assertInstanceOf(Admitted.class, ask(entity, Admission.class,
                r -> new Admit("after", key, Scope.CHAT, "cafe", 10, r)));
        assertEquals(2.5, admitted.weight());
    }

    @Test
    void aSnapshotHoldsTheStateAndRecoveryStartsFromIt() throws Exception {
        String id = newTenantId();
        ActorRef<Command> entity = spawn(id);
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new Setup("Snapshots", "pro", 1.0, ROOMY, r)));
        // 1 + 7 events: a snapshot at 5 (snapshot-every = 5 in the tests)
        for (int i = 0; i < 7; i++) {
            String name = "a" + i;
            assertEquals(Ack.done(), ask(entity, Ack.class, r -> new TrackAdapterName(name, true, r)));
        }
        TestProbe<Object> waiter = testKit.createTestProbe();
        TenantState snapshot = waiter.awaitAssert(Duration.ofSeconds(10), () -> {
            TenantState s = assertInstanceOf(TenantState.class, latestSnapshot(TenantEntity.persistenceId(new TenantId(id))));
            assertEquals(4, s.adapterNames().size());
            return s;
        });
        assertEquals("Snapshots", snapshot.profile().displayName());
        entity = restart(entity, id);
        assertEquals(7, ask(entity, AdapterNames.class, ListAdapterNames::new).names().size());
    }

    @Test
    void recoveryRepairsTheKeyIndex() {
        String id = newTenantId();
        ActorRef<Command> entity = spawn(id);
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new Setup("Index", "pro", 1.0, ROOMY, r)));
        String held = TenantProtocol.hashKey("sk-" + UUID.randomUUID());
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new AddApiKey(held, Set.of(Scope.CHAT), r)));
        // the index lost the held key, and names the tenant for a key it never held
        String stale = TenantProtocol.hashKey("sk-" + UUID.randomUUID());
        updateKeyIndex(index -> index.remove(selfAddress(), held).put(selfAddress(), stale, id));
        assertEquals(Map.of(), keyIndex(held));

        entity = restart(entity, id);
        ask(entity, Info.class, GetInfo::new);
        testKit.createTestProbe().awaitAssert(Duration.ofSeconds(5), () -> {
            assertEquals(Map.of(held, id), keyIndex(held));
            assertEquals(Map.of(), keyIndex(stale));
            return null;
        });
    }

    @Test
    void recoveryAsksEveryAdapterEntityOfTheTenantForItsView() {
        TestProbe<String> asked = testKit.createTestProbe(String.class);
        ClusterSharding.get(testKit.system()).init(Entity.of(AdapterProtocol.TYPE_KEY, ctx -> Behaviors.receiveMessage(m -> {
            if (m instanceof AdapterProtocol.Get) {
                asked.ref().tell(ctx.getEntityId());
            }
            return Behaviors.same();
        })).withRole("router"));
        String id = newTenantId();
        ActorRef<Command> entity = spawn(id);
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new Setup("Views", "pro", 1.0, ROOMY, r)));
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new UpdateCatalog("cafe", adapter(id, "cafe", 1), null, 0, r)));
        assertEquals(Ack.done(), ask(entity, Ack.class, r -> new TrackAdapterName("latte", true, r)));

        restart(entity, id);
        Set<String> expected = Set.of(id + "|cafe", id + "|latte");
        Set<String> seen = new java.util.HashSet<>();
        while (!seen.containsAll(expected)) {
            seen.add(asked.receiveMessage(Duration.ofSeconds(10)));
        }
    }

    // ---- helpers for entities spawned outside sharding (to stop and restart them)

    ActorRef<Command> spawn(String id) {
        return spawn(id, settings);
    }

    ActorRef<Command> spawn(String id, TenantSettings tenantSettings) {
        return testKit.spawn(TenantEntity.create(new TenantId(id), tenantSettings, clock));
    }

    /** Stops the entity, waits until it has, and starts it again: it recovers from the journal. */
    ActorRef<Command> restart(ActorRef<Command> entity, String id) {
        testKit.stop(entity, Duration.ofSeconds(10));
        return spawn(id);
    }

    <R> R ask(ActorRef<Command> entity, Class<R> type, java.util.function.Function<ActorRef<R>, Command> command) {
        TestProbe<R> probe = testKit.createTestProbe(type);
        entity.tell(command.apply(probe.ref()));
        return probe.receiveMessage();
    }

    <R> R ask(String id, Class<R> type, java.util.function.Function<ActorRef<R>, Command> command) {
        TestProbe<R> probe = testKit.createTestProbe(type);
        tenant(id).tell(command.apply(probe.ref()));
        return probe.receiveMessage();
    }

    void admitAndFinish(ActorRef<Command> entity, String key, String requestId, String model, int tokens) {
        assertInstanceOf(Admitted.class, ask(entity, Admission.class, r -> new Admit(requestId, key, Scope.CHAT, model, tokens, r)));
        entity.tell(new Finished(requestId, tokens));
    }

    Object latestSnapshot(PersistenceId persistenceId) throws Exception {
        var classic = Adapter.toClassic(testKit.system());
        var store = Persistence.get(classic).snapshotStoreFor("", ConfigFactory.empty());
        var result = (SnapshotProtocol.LoadSnapshotResult) Patterns.ask(store,
                new SnapshotProtocol.LoadSnapshot(persistenceId.id(), SnapshotSelectionCriteria.latest(), Long.MAX_VALUE),
                Duration.ofSeconds(5)).toCompletableFuture().get();
        return result.snapshot().isDefined() ? result.snapshot().get().snapshot() : null;
    }

    long latestSnapshotSequenceNr(PersistenceId persistenceId) throws Exception {
        var classic = Adapter.toClassic(testKit.system());
        var store = Persistence.get(classic).snapshotStoreFor("", ConfigFactory.empty());
        var result = (SnapshotProtocol.LoadSnapshotResult) Patterns.ask(store,
                new SnapshotProtocol.LoadSnapshot(persistenceId.id(), SnapshotSelectionCriteria.latest(), Long.MAX_VALUE),
                Duration.ofSeconds(5)).toCompletableFuture().get();
        return result.snapshot().isDefined() ? result.snapshot().get().metadata().sequenceNr() : 0;
    }

    /** Saves {@code snapshot} as the snapshot of {@code persistenceId} at {@code sequenceNr}, in the snapshot store the entities use. */
    void saveSnapshot(PersistenceId persistenceId, long sequenceNr, Object snapshot) throws Exception {
        var classic = Adapter.toClassic(testKit.system());
        var store = Persistence.get(classic).snapshotStoreFor("", ConfigFactory.empty());
        assertInstanceOf(SaveSnapshotSuccess.class, Patterns.ask(store, new SnapshotProtocol.SaveSnapshot(
                new SnapshotMetadata(persistenceId.id(), sequenceNr, clock.millis()), snapshot), Duration.ofSeconds(10))
                .toCompletableFuture().get());
    }

    SelfUniqueAddress selfAddress() {
        return DistributedData.get(testKit.system()).selfUniqueAddress();
    }

    void updateKeyIndex(java.util.function.Function<LWWMap<String, String>, LWWMap<String, String>> modify) {
        TestProbe<Replicator.UpdateResponse<LWWMap<String, String>>> probe = testKit.createTestProbe();
        DistributedData.get(testKit.system()).replicator().tell(new Replicator.Update<>(TenantProtocol.KEY_INDEX,
                LWWMap.empty(), Replicator.writeLocal(), probe.ref(), modify));
        assertInstanceOf(Replicator.UpdateSuccess.class, probe.receiveMessage());
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
    /** A key the tenant creates (its id and the key itself). */
    KeyCreated createKey(String id, Scope... scopes) {
        KeyCreated created = ask(id, KeyCreated.class, r -> new CreateApiKey(Set.of(scopes), "test", r));
        assertTrue(created.ok(), created.message());
        return created;
    }

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
