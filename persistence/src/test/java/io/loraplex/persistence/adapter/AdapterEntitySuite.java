package io.loraplex.persistence.adapter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
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
import io.loraplex.cluster.adapter.AdapterProtocol.VersionView;
import io.loraplex.cluster.blob.BlobProtocol;
import io.loraplex.cluster.node.GpuNodeProtocol;
import io.loraplex.cluster.placement.PlacementProtocol;
import io.loraplex.cluster.tenant.TenantProtocol;
import io.loraplex.cluster.tenant.TenantProtocol.Ack;
import io.loraplex.cluster.tenant.TenantProtocol.LetGoStorage;
import io.loraplex.cluster.tenant.TenantProtocol.ReserveStorage;
import io.loraplex.cluster.tenant.TenantProtocol.TrackAdapterName;
import io.loraplex.cluster.tenant.TenantProtocol.UpdateCatalog;
import io.loraplex.persistence.FakePlacement;
import io.loraplex.persistence.Journals;
import io.loraplex.persistence.adapter.TestCollaborators.TenantScript;
import io.loraplex.persistence.adapter.TestCollaborators.Verdict;
import io.loraplex.persistence.tenant.TestClusters;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.pattern.Patterns;
import org.apache.pekko.persistence.Persistence;
import org.apache.pekko.persistence.SnapshotProtocol;
import org.apache.pekko.persistence.SnapshotSelectionCriteria;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The Adapter entity on a one-node cluster with the router role, every message serialized, with
 * stand-ins for the Tenant entity (through sharding), a GPU node and a blob store (through the
 * receptionist); every test has its own tenant. Written once, run on each journal by a subclass
 * naming it ({@link #journal()}).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AdapterEntitySuite {

    static final Clock CLOCK = Clock.fixed(Instant.parse("2026-01-01T00:00:00Z"), ZoneOffset.UTC);
    static final long MB = 1 << 20;

    ActorTestKit testKit;
    AdapterSettings settings;
    ActorRef<GpuNodeProtocol.Command> gpuNode;
    /** The router's placement stand-in: the receptionist's GPU nodes serve {@link FakePlacement#DEFAULT_BASE} unless described. */
    FakePlacement placement;

    /** The journal and snapshot store the suite runs on, laid over the test cluster's configuration. */
    abstract Config journal();

    @BeforeAll
    void start() {
        Config adapter = ConfigFactory.parseString("""
                loraplex.adapter {
                  tenant-timeout = 400ms
                  validation-timeout = 400ms
                  # a validation with no ready node asks placement again this long, then leaves the version UPLOADED
                  placement-wait = 1500ms
                  snapshot-every = 5
                  command-stash = 3
                }
                """);
        testKit = ActorTestKit.create("adapter-entity", adapter.withFallback(journal()).withFallback(TestClusters.config("router")));
        Journals.prepare(testKit.system(), Duration.ofSeconds(30));
        TestClusters.join(testKit, TestClusters.address(testKit));
        settings = AdapterSettings.create(testKit.system().settings().config());
        ClusterSharding.get(testKit.system()).init(Entity.of(TenantProtocol.TYPE_KEY,
                ctx -> TestCollaborators.tenant(ctx.getEntityId())).withRole("router"));
        AdapterSharding.init(testKit.system(), settings, CLOCK);
        gpuNode = testKit.spawn(TestCollaborators.gpuNode());
        register(GpuNodeProtocol.SERVICE_KEY, gpuNode);
        placement = new FakePlacement(testKit.system(), TestCollaborators.BASE);
        register(PlacementProtocol.SERVICE_KEY, testKit.spawn(placement.behavior()));
        ActorRef<BlobProtocol.Command> blobStore = testKit.spawn(TestCollaborators.blobStore());
        register(BlobProtocol.SERVICE_KEY, blobStore);
        register(BlobProtocol.SOURCE_KEY, blobStore);
        // a GPU node's read-only store: only a source, yet deletion reaches it too
        register(BlobProtocol.SOURCE_KEY, testKit.spawn(TestCollaborators.blobStore(TestCollaborators.NODE_BLOBS_DELETED)));
        warmUp();
    }

    /** Called once everything runs, before the tests: a journal that is slow to start writes here. */
    void warmUp() {
    }

    @AfterAll
    void stop() {
        testKit.shutdownTestKit();
    }

    // ---- registering versions

    @Test
    void aValidVersionIsReadyWithItsBaseAndTheTenantTracksTheName() {
        Fixture f = new Fixture();
        ContentHash hash = randomHash();
        Reply reply = f.register(hash, 3 * MB);
        assertTrue(reply.ok(), reply.message());
        AdapterView view = reply.view();
        assertTrue(view.exists());
        assertEquals(f.tenant, view.tenant());
        VersionView v1 = view.versions().getFirst();
        assertEquals(1, v1.version());
        assertEquals(hash, v1.hash());
        assertEquals(VersionState.READY, v1.state());
        assertEquals(TestCollaborators.BASE, v1.baseIdentity());
        assertEquals(TestCollaborators.MAX_RANK, v1.maxRank());
        assertEquals(3 * MB, v1.bytes());
        assertEquals("upload", v1.source());
        assertEquals(CLOCK.millis(), v1.createdEpochMillis());
        assertEquals(List.of(VersionState.UPLOADED, VersionState.READY), v1.history().stream().map(h -> h.state()).toList());

        assertEquals(new ReserveStorage(hash.hex(), 3 * MB, f.name, null, null), withoutReplyTo(f.seen.expectMessageClass(ReserveStorage.class)));
        assertEquals("cafe", f.seen.expectMessageClass(TrackAdapterName.class).name());
        // READY is not served: nothing goes to the catalog
        f.seen.expectNoMessage(Duration.ofMillis(100));
    }

    @Test
    void theSameHashAgainAnswersTheSameVersion() {
        Fixture f = new Fixture();
        ContentHash hash = randomHash();
        AdapterView first = f.register(hash, MB).view();
        f.seen.receiveSeveralMessages(2);
        Reply again = f.register(hash, MB);
        assertTrue(again.ok());
        assertEquals(first, again.view());
        f.seen.expectNoMessage(Duration.ofMillis(100));
        // a second hash is version 2, and the name is tracked only once
        Reply second = f.register(randomHash(), MB);
        assertEquals(2, second.view().versions().getLast().version());
        assertInstanceOf(ReserveStorage.class, f.seen.receiveMessage());
        f.seen.expectNoMessage(Duration.ofMillis(100));
    }

    @Test
    void aVersionTheGpuNodeRefusesIsRejectedItsBlobDeletedAndItsBytesReleased() {
        Fixture f = new Fixture();
        ContentHash hash = randomHash();
        TestCollaborators.VERDICTS.put(hash, Verdict.invalid("adapter base 'llama-7b' differs from the node's base 'tiny'"));
        Reply reply = f.register(hash, MB);
        assertFalse(reply.ok());
        assertEquals(Error.REJECTED, reply.error());
        assertEquals("adapter base 'llama-7b' differs from the node's base 'tiny'", reply.message());
        VersionView v1 = reply.view().versions().getFirst();
        assertEquals(VersionState.REJECTED, v1.state());
        assertEquals(reply.message(), v1.reason());
        awaitBlobDeleted(f.tenant, hash);
        f.awaitSeen(LetGoStorage.class, r -> r.key().equals(hash.hex()) && r.holder().equals(f.name));
        // a rejected version is no live version: the same bytes may be tried again, as version 2
        TestCollaborators.VERDICTS.put(hash, Verdict.VALID);
        Reply retried = f.register(hash, MB);
        assertTrue(retried.ok(), retried.message());
        assertEquals(2, retried.view().versions().getLast().version());
    }

    @Test
    void overTheQuotaNothingIsStoredOrJournaled() {
        Fixture f = new Fixture();
        f.script.quota = 2 * MB;
        ContentHash hash = randomHash();
        Reply reply = f.register(hash, 3 * MB);
        assertFalse(reply.ok());
        assertEquals(Error.QUOTA_EXCEEDED, reply.error());
        assertTrue(reply.message().contains("storage quota exceeded"), reply.message());
        assertFalse(reply.view().exists());
        awaitBlobDeleted(f.tenant, hash);
        f.restart();
        assertFalse(f.get().exists());
        assertTrue(f.register(randomHash(), MB).ok());
    }

    @Test
    void aValidationWithoutAnswerLeavesTheVersionUploadedAndIsRetried() {
        Fixture f = new Fixture();
        ContentHash hash = randomHash();
        TestCollaborators.VERDICTS.put(hash, Verdict.SILENT);
        Reply reply = f.register(hash, MB);
        assertEquals(Error.UNAVAILABLE, reply.error());
        assertTrue(reply.message().contains("did not validate version 1"), reply.message());
        assertEquals(VersionState.UPLOADED, reply.view().versions().getFirst().state());
        f.seen.expectMessageClass(ReserveStorage.class);
        f.seen.expectMessageClass(TrackAdapterName.class);

        // registering the same hash retries, and does not reserve again
        TestCollaborators.VERDICTS.put(hash, Verdict.VALID);
        Reply retried = f.register(hash, MB);
        assertTrue(retried.ok(), retried.message());
        assertEquals(1, retried.view().versions().size());
        assertEquals(VersionState.READY, retried.view().versions().getFirst().state());
        f.seen.expectNoMessage(Duration.ofMillis(100));

        // a Get retries too
        ContentHash second = randomHash();
        TestCollaborators.VERDICTS.put(second, Verdict.SILENT);
        assertEquals(Error.UNAVAILABLE, f.register(second, MB).error());
        TestCollaborators.VERDICTS.put(second, Verdict.VALID);
        awaitVersionState(f, 2, VersionState.READY);
    }

    @Test
    void withNoGpuNodeUpAVersionStaysUploaded() {
        Fixture f = new Fixture();
        deregister(GpuNodeProtocol.SERVICE_KEY, gpuNode);
        try {
            Reply reply = f.register(randomHash(), MB);
            assertEquals(Error.UNAVAILABLE, reply.error());
            assertTrue(reply.message().contains("no GPU node"), reply.message());
            assertEquals(VersionState.UPLOADED, reply.view().versions().getFirst().state());
        } finally {
            register(GpuNodeProtocol.SERVICE_KEY, gpuNode);
        }
        awaitVersionState(f, 1, VersionState.READY);
    }

    @Test
    void aValidationWaitsForAGpuNodeThatComesUpWithinThePlacementWait() throws Exception {
        // a router or node that just started: the node is listed (and answers its stats) moments after the upload
        Fixture f = new Fixture();
        deregister(GpuNodeProtocol.SERVICE_KEY, gpuNode);
        Thread comesUp = Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(400);
            } catch (InterruptedException e) {
                return;
            }
            register(GpuNodeProtocol.SERVICE_KEY, gpuNode);
        });
        try {
            Reply reply = f.register(randomHash(), MB);
            assertTrue(reply.ok(), reply.message());
            assertEquals(VersionState.READY, reply.view().versions().getFirst().state());
        } finally {
            comesUp.join();
        }
    }

    // ---- validation goes to a ready node of the version's base (issue 16)

    /** GPU nodes of two more bases beside the default one, each recording what it received; removed by {@link #close}. */
    final class TwoBases implements AutoCloseable {
        final java.util.Queue<GpuNodeProtocol.Command> onA = new java.util.concurrent.ConcurrentLinkedQueue<>();
        final java.util.Queue<GpuNodeProtocol.Command> onB = new java.util.concurrent.ConcurrentLinkedQueue<>();
        final java.util.List<ActorRef<GpuNodeProtocol.Command>> nodes = new java.util.ArrayList<>();
        final ActorRef<GpuNodeProtocol.Command> a = add("base-a", "identity-a", onA, false);
        final ActorRef<GpuNodeProtocol.Command> b = add("base-b", "identity-b", onB, false);

        ActorRef<GpuNodeProtocol.Command> add(String base, String identity, java.util.Queue<GpuNodeProtocol.Command> received,
                boolean draining) {
            ActorRef<GpuNodeProtocol.Command> node = testKit.spawn(TestCollaborators.gpuNode(identity, received));
            placement.describe(node, base, identity, draining);
            register(GpuNodeProtocol.SERVICE_KEY, node);
            nodes.add(node);
            return node;
        }

        @Override
        public void close() {
            for (ActorRef<GpuNodeProtocol.Command> node : nodes) {
                deregister(GpuNodeProtocol.SERVICE_KEY, node);
                placement.forget(node);
            }
        }
    }

    static long validations(java.util.Queue<GpuNodeProtocol.Command> received, ContentHash hash) {
        return received.stream().filter(m -> m instanceof GpuNodeProtocol.ValidateAdapter v
                && v.adapter().contentHash().equals(hash)).count();
    }

    Reply registerFor(Fixture f, ContentHash hash, String baseModel) {
        return f.ask(r -> new RegisterVersion(f.tenant, f.name, hash, MB, "upload", null, baseModel, r));
    }

    @Test
    void inAFleetOfTwoBasesAVersionIsValidatedOnANodeOfItsOwnBaseNeverTheOther() {
        Fixture f = new Fixture();
        try (TwoBases fleet = new TwoBases()) {
            ContentHash forB = randomHash();
            Reply b = registerFor(f, forB, "base-b");
            assertTrue(b.ok(), b.message());
            assertEquals("identity-b", b.view().versions().getFirst().baseIdentity());
            assertEquals(1, validations(fleet.onB, forB));
            assertEquals(0, validations(fleet.onA, forB));
            assertFalse(TestCollaborators.NODE_RECEIVED.stream().anyMatch(m -> m instanceof GpuNodeProtocol.ValidateAdapter v
                    && v.adapter().contentHash().equals(forB)), "the default base's node validated a version for base-b");

            ContentHash forA = randomHash();
            Reply a = registerFor(f, forA, "base-a");
            assertTrue(a.ok(), a.message());
            assertEquals("identity-a", a.view().versions().getLast().baseIdentity());
            assertEquals(0, validations(fleet.onB, forA));
        }
    }

    @Test
    void aVersionNamingNoBaseInAFleetOfSeveralIsRefusedSayingToNameOne() {
        Fixture f = new Fixture();
        try (TwoBases fleet = new TwoBases()) {
            ContentHash hash = randomHash();
            Reply reply = registerFor(f, hash, null);
            assertRefused(Error.INVALID, "version 1 of adapter " + f.tenant + "/cafe names no base model and the fleet serves "
                    + "several", reply);
            assertTrue(reply.message().contains("register it again naming the base model it was trained for"), reply.message());
            assertEquals(VersionState.REJECTED, reply.view().versions().getFirst().state());
            assertEquals(0, validations(fleet.onA, hash) + validations(fleet.onB, hash));
            // its bytes are given back, so the same upload can be registered again naming its base
            f.awaitSeen(LetGoStorage.class, r -> r.key().equals(hash.hex()));
            Reply again = registerFor(f, hash, "base-a");
            assertTrue(again.ok(), again.message());
            assertEquals("identity-a", again.view().versions().getLast().baseIdentity());
        }
    }

    @Test
    void aVersionForABaseNoNodeServesNowWaitsUploadedNamingTheBase() {
        // its nodes may all be down while this router restarted: rejecting it would throw the tenant's upload away
        Fixture f = new Fixture();
        Reply reply = registerFor(f, randomHash(), "llama-70b");
        assertRefused(Error.UNAVAILABLE, "no GPU node serves the base model 'llama-70b'", reply);
        assertTrue(reply.message().contains("it stays UPLOADED"), reply.message());
        assertEquals(VersionState.UPLOADED, f.ask(AdapterProtocol.Get::new).view().versions().getFirst().state());
    }

    @Test
    void aDrainingNodeNeverValidatesAndTheVersionWaitsForAReadyNodeOfItsBase() {
        Fixture f = new Fixture();
        try (TwoBases fleet = new TwoBases()) {
            java.util.Queue<GpuNodeProtocol.Command> onDraining = new java.util.concurrent.ConcurrentLinkedQueue<>();
            placement.describe(fleet.b, "base-b", "identity-b", true);
            fleet.add("base-b", "identity-b", onDraining, true);
            ContentHash hash = randomHash();
            Reply reply = registerFor(f, hash, "base-b");
            assertRefused(Error.UNAVAILABLE, "no GPU node is up to validate version 1", reply);
            assertTrue(reply.message().contains("it stays UPLOADED"), reply.message());
            assertEquals(VersionState.UPLOADED, reply.view().versions().getFirst().state());

            // the version keeps its base: a read retries it there, once a node of that base is ready again
            placement.describe(fleet.b, "base-b", "identity-b", false);
            awaitVersionState(f, 1, VersionState.READY);
            assertEquals(1, validations(fleet.onB, hash));
            assertEquals(0, validations(onDraining, hash) + validations(fleet.onA, hash));
        }
    }

    @Test
    void aVersionKeepsItsBaseModelAcrossARestartAndIsValidatedOnItThen() {
        Fixture f = new Fixture();
        try (TwoBases fleet = new TwoBases()) {
            placement.describe(fleet.b, "base-b", "identity-b", true);
            ContentHash hash = randomHash();
            assertEquals(Error.UNAVAILABLE, registerFor(f, hash, "base-b").error());
            f.restart();
            placement.describe(fleet.b, "base-b", "identity-b", false);
            // registered again without a base: the journaled version's base is what counts
            Reply again = registerFor(f, hash, null);
            assertTrue(again.ok(), again.message());
            assertEquals("identity-b", again.view().versions().getFirst().baseIdentity());
            assertEquals(0, validations(fleet.onA, hash));
            assertEquals("base-b", placement.asked.stream().filter(c -> c.adapter().contentHash().equals(hash))
                    .reduce((first, second) -> second).orElseThrow().baseModel());
            assertTrue(placement.asked.stream().filter(c -> c.adapter().contentHash().equals(hash))
                    .allMatch(c -> c.work() == PlacementProtocol.Work.VALIDATION));
        }
    }

    @Test
    void registrationsAreCheckedAgainstTheEntity() {
        Fixture f = new Fixture();
        ContentHash hash = randomHash();
        assertRefused(Error.INVALID, "reached the adapter",
                f.ask(r -> new RegisterVersion(new TenantId("someone-else"), "cafe", hash, MB, "upload", r)));
        assertRefused(Error.INVALID, "reached the adapter",
                f.ask(r -> new RegisterVersion(f.tenant, "latte", hash, MB, "upload", r)));
        assertRefused(Error.INVALID, "0 bytes or more", f.ask(r -> new RegisterVersion(f.tenant, "cafe", hash, -1, "upload", r)));
        assertRefused(Error.INVALID, "source", f.ask(r -> new RegisterVersion(f.tenant, "cafe", hash, MB, "pickle", r)));
        assertFalse(f.get().exists());
        f.seen.expectNoMessage(Duration.ofMillis(100));
        assertThrows(IllegalArgumentException.class, () -> AdapterEntity.create("no-separator", settings, CLOCK));
        assertThrows(IllegalArgumentException.class, () -> AdapterEntity.create("t|bad name", settings, CLOCK));
    }

    // ---- the lifecycle

    @Test
    void promoteCanaryRollbackAndRetireMoveThePointersAndTheCatalogFollows() {
        Fixture f = new Fixture();
        ContentHash h1 = randomHash();
        ContentHash h2 = randomHash();
        ContentHash h3 = randomHash();
        f.register(h1, MB);
        f.register(h2, MB);
        f.register(h3, MB);
        f.seen.receiveSeveralMessages(4);
        AdapterRef v1 = new AdapterRef(f.tenant, "cafe", 1, h1, TestCollaborators.BASE);
        AdapterRef v2 = new AdapterRef(f.tenant, "cafe", 2, h2, TestCollaborators.BASE);
        AdapterRef v3 = new AdapterRef(f.tenant, "cafe", 3, h3, TestCollaborators.BASE);

        AdapterView view = f.ok(r -> new Promote(1, r));
        assertEquals(1, view.promotedVersion());
        assertEquals(new UpdateCatalog("cafe", v1, null, 0, null), withoutReplyTo(f.seen.expectMessageClass(UpdateCatalog.class)));

        view = f.ok(r -> new StartCanary(2, 0.25, r));
        assertEquals(2, view.canaryVersion());
        assertEquals(0.25, view.canaryShare());
        assertEquals(VersionState.CANARY, view.versions().get(1).state());
        assertEquals(new UpdateCatalog("cafe", v1, v2, 0.25, null), withoutReplyTo(f.seen.expectMessageClass(UpdateCatalog.class)));
        assertRefused(Error.CONFLICT, "is the canary already", f.ask(r -> new StartCanary(3, 0.5, r)));
        assertRefused(Error.CONFLICT, "CANARY", f.ask(r -> new Retire(2, r)));

        view = f.ok(r -> new Promote(2, r));
        assertEquals(2, view.promotedVersion());
        assertNull(view.canaryVersion());
        assertEquals(VersionState.READY, view.versions().getFirst().state());
        assertEquals(new UpdateCatalog("cafe", v2, null, 0, null), withoutReplyTo(f.seen.expectMessageClass(UpdateCatalog.class)));

        view = f.ok(Rollback::new);
        assertEquals(1, view.promotedVersion());
        assertEquals(VersionState.ROLLED_BACK, view.versions().get(1).state());
        assertEquals(VersionState.PROMOTED, view.versions().getFirst().state());
        assertEquals(new UpdateCatalog("cafe", v1, null, 0, null), withoutReplyTo(f.seen.expectMessageClass(UpdateCatalog.class)));
        assertRefused(Error.CONFLICT, "no previously promoted version", f.ask(Rollback::new));

        view = f.ok(r -> new Retire(2, r));
        assertEquals(VersionState.RETIRED, view.versions().get(1).state());
        f.seen.expectMessageClass(UpdateCatalog.class);
        assertRefused(Error.CONFLICT, "is RETIRED", f.ask(r -> new Promote(2, r)));
        assertRefused(Error.CONFLICT, "is PROMOTED", f.ask(r -> new Retire(1, r)));
        assertRefused(Error.CONFLICT, "no canary", f.ask(StopCanary::new));

        // no version: the newest READY one
        view = f.ok(r -> new Promote(null, r));
        assertEquals(3, view.promotedVersion());
        assertEquals(new UpdateCatalog("cafe", v3, null, 0, null), withoutReplyTo(f.seen.expectMessageClass(UpdateCatalog.class)));
        // rolling back from 3 finds 1 (2 is retired)
        assertEquals(1, f.ok(Rollback::new).promotedVersion());
        f.seen.expectMessageClass(UpdateCatalog.class);
        // promoting the promoted version again changes nothing
        assertEquals(1, f.ok(r -> new Promote(1, r)).promotedVersion());
        f.seen.expectNoMessage(Duration.ofMillis(100));

        view = f.ok(r -> new StartCanary(3, 0.1, r));
        assertEquals(VersionState.CANARY, view.versions().get(2).state());
        f.seen.expectMessageClass(UpdateCatalog.class);
        view = f.ok(StopCanary::new);
        assertNull(view.canaryVersion());
        assertEquals(VersionState.READY, view.versions().get(2).state());
        assertEquals(new UpdateCatalog("cafe", v1, null, 0, null), withoutReplyTo(f.seen.expectMessageClass(UpdateCatalog.class)));

        List<VersionState> history = view.versions().getFirst().history().stream().map(h -> h.state()).toList();
        assertEquals(List.of(VersionState.UPLOADED, VersionState.READY, VersionState.PROMOTED, VersionState.READY,
                VersionState.PROMOTED, VersionState.READY, VersionState.PROMOTED), history);
    }

    @Test
    void aVersionANodeQuarantinedIsFailedWithTheReasonAndLeavesTheCatalog() {
        Fixture f = new Fixture();
        ContentHash h1 = randomHash();
        ContentHash h2 = randomHash();
        f.register(h1, MB);
        f.register(h2, MB);
        f.seen.receiveSeveralMessages(3);
        AdapterRef v1 = new AdapterRef(f.tenant, "cafe", 1, h1, TestCollaborators.BASE);
        f.ok(r -> new Promote(2, r));
        f.seen.expectMessageClass(UpdateCatalog.class);
        f.ok(r -> new StartCanary(1, 0.2, r));
        f.seen.expectMessageClass(UpdateCatalog.class);

        String reason = "adapter t/cafe@2 produced a non-finite logit (NaN at token 3); this adapter version is quarantined";
        AdapterView view = f.ok(r -> new MarkFailed(2, h2, reason, r));
        assertNull(view.promotedVersion(), "the failed version is no longer promoted");
        assertEquals(1, view.canaryVersion());
        assertEquals(VersionState.FAILED, view.versions().get(1).state());
        assertEquals(reason, view.versions().get(1).reason());
        assertEquals(VersionState.FAILED, view.versions().get(1).history().getLast().state());
        assertEquals(new UpdateCatalog("cafe", null, v1, 0.2, null), withoutReplyTo(f.seen.expectMessageClass(UpdateCatalog.class)));

        // reported again (another node): nothing changes; a failed version is never promoted again
        assertEquals(VersionState.FAILED, f.ok(r -> new MarkFailed(2, h2, reason, r)).versions().get(1).state());
        f.seen.expectNoMessage(Duration.ofMillis(100));
        assertRefused(Error.CONFLICT, "is FAILED", f.ask(r -> new Promote(2, r)));
        assertRefused(Error.NOT_FOUND, "has no version 2 stored as " + h1, f.ask(r -> new MarkFailed(2, h1, reason, r)));
    }

    @Test
    void aNameWhosePromotedVersionWasQuarantinedTellsTheCatalogWhyUntilAnotherVersionIsPromoted() {
        Fixture f = new Fixture();
        ContentHash h1 = randomHash();
        ContentHash h2 = randomHash();
        f.register(h1, MB);
        f.register(h2, MB);
        f.seen.receiveSeveralMessages(3);
        f.ok(r -> new Promote(2, r));
        f.seen.expectMessageClass(UpdateCatalog.class);

        String reason = "adapter t/cafe@2 produced a non-finite logit (NaN at token 3); this adapter version is quarantined";
        AdapterView view = f.ok(r -> new MarkFailed(2, h2, reason, r));
        assertNull(view.promotedVersion());
        assertEquals(new UpdateCatalog("cafe", null, null, 0, new TenantProtocol.Quarantine(2, reason), null),
                withoutReplyTo(f.seen.expectMessageClass(UpdateCatalog.class)));

        // another version promoted: the name serves it, and the quarantine is no longer its answer
        f.ok(r -> new Promote(1, r));
        AdapterRef v1 = new AdapterRef(f.tenant, "cafe", 1, h1, TestCollaborators.BASE);
        assertEquals(new UpdateCatalog("cafe", v1, null, 0, null), withoutReplyTo(f.seen.expectMessageClass(UpdateCatalog.class)));
    }

    @Test
    void everyCommandOnAMissingAdapterIsNotFound() {
        Fixture f = new Fixture();
        for (Function<ActorRef<Reply>, Command> command : List.<Function<ActorRef<Reply>, Command>>of(
                r -> new Promote(null, r), r -> new Promote(1, r), r -> new StartCanary(1, 0.5, r), StopCanary::new,
                Rollback::new, r -> new Retire(1, r), Delete::new)) {
            Reply reply = f.ask(command);
            assertRefused(Error.NOT_FOUND, "does not exist", reply);
            assertFalse(reply.view().exists());
        }
        f.seen.expectNoMessage(Duration.ofMillis(100));
    }

    @Test
    void commandsRefusedInTheWrongStateNameTheState() {
        Fixture f = new Fixture();
        ContentHash uploaded = randomHash();
        ContentHash rejected = randomHash();
        TestCollaborators.VERDICTS.put(uploaded, Verdict.SILENT);
        TestCollaborators.VERDICTS.put(rejected, Verdict.invalid("NaN in lora_A of layer 0"));
        f.register(uploaded, MB);
        f.register(rejected, MB);

        assertRefused(Error.CONFLICT, "no READY version", f.ask(r -> new Promote(null, r)));
        assertRefused(Error.CONFLICT, "is UPLOADED", f.ask(r -> new Promote(1, r)));
        assertRefused(Error.CONFLICT, "is REJECTED", f.ask(r -> new Promote(2, r)));
        assertRefused(Error.CONFLICT, "is UPLOADED", f.ask(r -> new Retire(1, r)));
        assertRefused(Error.NOT_FOUND, "no version 7", f.ask(r -> new Promote(7, r)));
        assertRefused(Error.INVALID, "start at 1", f.ask(r -> new Retire(0, r)));
        assertRefused(Error.INVALID, "between 0 and 1", f.ask(r -> new StartCanary(1, 0, r)));
        assertRefused(Error.INVALID, "between 0 and 1", f.ask(r -> new StartCanary(1, 1, r)));
        assertRefused(Error.CONFLICT, "no promoted version", f.ask(r -> new StartCanary(1, 0.5, r)));
        assertRefused(Error.CONFLICT, "no promoted version to roll back", f.ask(Rollback::new));

        ContentHash ready = randomHash();
        f.register(ready, MB);
        f.ok(r -> new Promote(3, r));
        assertRefused(Error.CONFLICT, "is REJECTED", f.ask(r -> new StartCanary(2, 0.5, r)));
        assertRefused(Error.CONFLICT, "is PROMOTED", f.ask(r -> new StartCanary(3, 0.5, r)));
        assertRefused(Error.CONFLICT, "no previously promoted version", f.ask(Rollback::new));
    }

    // ---- ordering: the catalog acknowledges before the journal and the answer

    @Test
    void theAnswerComesOnlyAfterTheCatalogAcknowledgedAndOtherCommandsWait() {
        Fixture f = new Fixture();
        ContentHash hash = randomHash();
        f.register(hash, MB);
        f.register(randomHash(), MB);
        f.seen.receiveSeveralMessages(3);
        f.script.manualCatalog = true;

        TestProbe<Reply> promoteReply = testKit.createTestProbe(Reply.class);
        f.entity.tell(new Promote(1, promoteReply.ref()));
        UpdateCatalog update = f.seen.expectMessageClass(UpdateCatalog.class);
        assertEquals(1, update.promoted().version());
        // meanwhile a Get answers at once with what is journaled, and a Retire waits its turn
        assertNull(f.get().promotedVersion());
        TestProbe<Reply> retireReply = testKit.createTestProbe(Reply.class);
        f.entity.tell(new Retire(2, retireReply.ref()));
        promoteReply.expectNoMessage(Duration.ofMillis(150));
        retireReply.expectNoMessage(Duration.ofMillis(10));

        update.replyTo().tell(Ack.done());
        Reply promoted = promoteReply.receiveMessage();
        assertTrue(promoted.ok());
        assertEquals(1, promoted.view().promotedVersion());
        // the retire ran after it: its own catalog update, acknowledged here
        f.seen.expectMessageClass(UpdateCatalog.class).replyTo().tell(Ack.done());
        assertEquals(VersionState.RETIRED, retireReply.receiveMessage().view().versions().get(1).state());
    }

    @Test
    void withoutTheCatalogsAcknowledgementNothingChanges() {
        Fixture f = new Fixture();
        f.register(randomHash(), MB);
        f.script.silent = true;
        Reply reply = f.ask(r -> new Promote(1, r));
        assertRefused(Error.UNAVAILABLE, "did not acknowledge the catalog change", reply);
        assertNull(reply.view().promotedVersion());
        f.seen.receiveSeveralMessages(2);
        AdapterRef v1 = f.seen.expectMessageClass(UpdateCatalog.class).promoted();
        assertEquals(1, v1.version());
        // should the tenant apply the change late, the unchanged entry sent after it undoes it
        assertEquals(new UpdateCatalog("cafe", null, null, 0, null), withoutReplyTo(f.seen.expectMessageClass(UpdateCatalog.class)));
        f.script.silent = false;
        f.restart();
        AdapterView recovered = f.get();
        assertNull(recovered.promotedVersion());
        assertEquals(VersionState.READY, recovered.versions().getFirst().state());

        f.script.manualCatalog = true;
        // after the restart: its re-sent entry and name
        f.seen.receiveSeveralMessages(2);
        TestProbe<Reply> refusedReply = testKit.createTestProbe(Reply.class);
        f.entity.tell(new Promote(1, refusedReply.ref()));
        f.seen.expectMessageClass(UpdateCatalog.class).replyTo().tell(new Ack(false, "tenant t is not set up: send Setup first"));
        assertRefused(Error.UNAVAILABLE, "not set up", refusedReply.receiveMessage());
        assertNull(f.get().promotedVersion());
    }

    @Test
    void aStashThatIsFullRefusesAtOnce() {
        Fixture f = new Fixture();
        f.register(randomHash(), MB);
        f.script.manualCatalog = true;
        TestProbe<Reply> replies = testKit.createTestProbe(Reply.class);
        f.entity.tell(new Promote(1, replies.ref()));
        f.seen.fishForMessage(Duration.ofSeconds(5), m -> m instanceof UpdateCatalog
                ? FishingOutcomes.complete()
                : FishingOutcomes.continueAndIgnore());
        for (int i = 0; i < settings.commandStash(); i++) {
            f.entity.tell(new StopCanary(replies.ref()));
        }
        f.entity.tell(new Rollback(replies.ref()));
        assertRefused(Error.UNAVAILABLE, "commands waiting", replies.receiveMessage());
    }

    // ---- recovery

    @Test
    void afterRecoveryTheEntityResendsItsCatalogEntry() {
        Fixture f = new Fixture();
        ContentHash h1 = randomHash();
        ContentHash h2 = randomHash();
        f.register(h1, MB);
        f.register(h2, MB);
        f.ok(r -> new Promote(1, r));
        f.ok(r -> new StartCanary(2, 0.3, r));
        f.seen.receiveSeveralMessages(3 + 2);
        f.restart();
        AdapterRef v1 = new AdapterRef(f.tenant, "cafe", 1, h1, TestCollaborators.BASE);
        AdapterRef v2 = new AdapterRef(f.tenant, "cafe", 2, h2, TestCollaborators.BASE);
        assertEquals(new UpdateCatalog("cafe", v1, v2, 0.3, null), withoutReplyTo(f.seen.expectMessageClass(UpdateCatalog.class)));
        assertEquals(new TrackAdapterName("cafe", true, null), withoutReplyTo(f.seen.expectMessageClass(TrackAdapterName.class)));
        AdapterView view = f.get();
        assertEquals(1, view.promotedVersion());
        assertEquals(2, view.canaryVersion());

        // a fresh adapter recovers silently
        new Fixture().restart();
    }

    @Test
    void aSnapshotHoldsTheStateAndRecoveryStartsFromIt() throws Exception {
        Fixture f = new Fixture();
        // 2 events per valid version: a snapshot at 5 events
        for (int i = 0; i < 3; i++) {
            f.register(randomHash(), MB);
        }
        AdapterState snapshot = testKit.createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
            Object s = latestSnapshot(AdapterEntity.persistenceId(f.tenant, "cafe").id());
            return assertInstanceOf(AdapterState.class, s);
        });
        assertEquals(3, snapshot.lastVersion());
        AdapterView before = f.get();
        f.restart();
        assertEquals(before, f.get());
    }

    // ---- delete

    @Test
    void deleteLeavesATombstonePurgesEverythingAndTheNameCanBeUsedAgain() {
        Fixture f = new Fixture();
        ContentHash h1 = randomHash();
        ContentHash h2 = randomHash();
        ContentHash rejected = randomHash();
        TestCollaborators.VERDICTS.put(rejected, Verdict.invalid("wrong shapes"));
        f.register(h1, MB);
        f.register(h2, MB);
        f.register(rejected, MB);
        f.ok(r -> new Promote(1, r));
        awaitBlobDeleted(f.tenant, rejected);
        f.seen.receiveSeveralMessages(4 + 1 + 1);

        Reply deleted = f.ask(Delete::new);
        assertTrue(deleted.ok(), deleted.message());
        assertFalse(deleted.view().exists());
        assertTrue(deleted.view().versions().isEmpty());
        assertEquals(new UpdateCatalog("cafe", null, null, 0, null), withoutReplyTo(f.seen.expectMessageClass(UpdateCatalog.class)));
        assertEquals(Set.of(h1.hex(), h2.hex()), Set.of(f.seen.expectMessageClass(LetGoStorage.class).key(),
                f.seen.expectMessageClass(LetGoStorage.class).key()));
        assertEquals(new TrackAdapterName("cafe", false, null), withoutReplyTo(f.seen.expectMessageClass(TrackAdapterName.class)));
        awaitBlobDeleted(f.tenant, h1);
        awaitBlobDeleted(f.tenant, h2);
        awaitDropped(f.tenant, h1);
        awaitDropped(f.tenant, h2);
        testKit.createTestProbe().awaitAssert(Duration.ofSeconds(5), () -> {
            assertTrue(TestCollaborators.NODE_BLOBS_DELETED.stream().anyMatch(d -> d.hash().equals(h1)),
                    "the node's copy of " + h1 + " is deleted as well");
            return null;
        });
        assertRefused(Error.NOT_FOUND, "does not exist", f.ask(Delete::new));
        assertRefused(Error.NOT_FOUND, "does not exist", f.ask(r -> new Promote(1, r)));

        // the tombstone survives recovery, and recovery re-sends the removal
        f.restart();
        assertEquals(new UpdateCatalog("cafe", null, null, 0, null), withoutReplyTo(f.seen.expectMessageClass(UpdateCatalog.class)));
        assertEquals(new TrackAdapterName("cafe", false, null), withoutReplyTo(f.seen.expectMessageClass(TrackAdapterName.class)));
        assertFalse(f.get().exists());

        // a new adapter under the same name: numbers continue, the old versions are gone
        Reply reused = f.register(h1, MB);
        assertTrue(reused.ok(), reused.message());
        assertTrue(reused.view().exists());
        assertEquals(List.of(4), reused.view().versions().stream().map(VersionView::version).toList());
        assertEquals(new ReserveStorage(h1.hex(), MB, f.name, null, null), withoutReplyTo(f.seen.expectMessageClass(ReserveStorage.class)));
        assertEquals(new TrackAdapterName("cafe", true, null), withoutReplyTo(f.seen.expectMessageClass(TrackAdapterName.class)));
    }

    @Test
    void theShardedEntityAnswersByTenantAndName() {
        Fixture f = new Fixture();
        var ref = ClusterSharding.get(testKit.system()).entityRefFor(AdapterProtocol.TYPE_KEY, AdapterProtocol.entityId(f.tenant, "latte"));
        ContentHash hash = randomHash();
        Reply reply = ref.<Reply>ask(r -> new RegisterVersion(f.tenant, "latte", hash, MB, "training", r), Duration.ofSeconds(10))
                .toCompletableFuture().join();
        assertTrue(reply.ok(), reply.message());
        assertEquals("latte", reply.view().name());
        assertEquals("training", reply.view().versions().getFirst().source());
        assertEquals(reply.view(), ref.<Reply>ask(Get::new, Duration.ofSeconds(10)).toCompletableFuture().join().view());
    }

    // ---- the index of referenced blobs

    @Test
    void theIndexListsTheBlobsOfLiveVersionsOfAdaptersNotDeleted() throws Exception {
        Fixture cafe = new Fixture();
        ContentHash ready = randomHash();
        ContentHash rejected = randomHash();
        ContentHash uploaded = randomHash();
        ContentHash deleted = randomHash();
        TestCollaborators.VERDICTS.put(rejected, Verdict.invalid("truncated safetensors"));
        TestCollaborators.VERDICTS.put(uploaded, Verdict.SILENT);
        cafe.register(ready, MB);
        cafe.register(rejected, MB);
        cafe.register(uploaded, MB);
        Fixture gone = new Fixture(cafe.tenant, "gone");
        gone.register(deleted, MB);
        assertTrue(gone.ask(Delete::new).ok());

        AdapterIndex.ReferencedBlobs referenced = AdapterIndex.referencedBlobs(testKit.system()).toCompletableFuture()
                .get(20, TimeUnit.SECONDS);
        assertEquals(Set.of(ready, uploaded), referenced.byTenant().get(cafe.tenant));
        assertTrue(referenced.test(cafe.tenant, ready));
        assertFalse(referenced.test(cafe.tenant, rejected));
        assertFalse(referenced.test(cafe.tenant, deleted));
        assertFalse(referenced.test(new TenantId("nobody-" + UUID.randomUUID().toString().substring(0, 8)), ready));
    }

    @Test
    void theSameContentUnderTwoNamesSurvivesTheDeleteOfOne() {
        TenantId tenant = new TenantId("t-" + UUID.randomUUID().toString().substring(0, 12));
        Fixture cafe = new Fixture(tenant, "cafe");
        Fixture bistro = new Fixture(tenant, "bistro");
        ContentHash shared = randomHash();
        assertTrue(cafe.register(shared, MB).ok());
        assertTrue(bistro.register(shared, MB).ok());
        assertEquals(Set.of("cafe", "bistro"), cafe.script.holders.get(shared.hex()));

        assertTrue(cafe.ask(Delete::new).ok());
        cafe.awaitSeen(LetGoStorage.class, r -> r.key().equals(shared.hex()) && r.holder().equals("cafe"));
        // bistro still holds it: its reservation stays and no store is asked to delete the blob
        testKit.createTestProbe().awaitAssert(Duration.ofSeconds(2), () -> {
            assertEquals(Set.of("bistro"), cafe.script.holders.get(shared.hex()));
            return null;
        });
        sleep(Duration.ofMillis(500));
        assertEquals(MB, cafe.script.reserved.get(shared.hex()));
        assertFalse(TestCollaborators.BLOBS_DELETED.stream().anyMatch(d -> d.hash().equals(shared)));

        assertTrue(bistro.ask(Delete::new).ok());
        awaitBlobDeleted(tenant, shared);
        assertFalse(cafe.script.reserved.containsKey(shared.hex()));
    }

    @Test
    void aDeletesCleanUpInterruptedByACrashFinishesAfterRecovery() {
        Fixture f = new Fixture();
        ContentHash hash = randomHash();
        assertTrue(f.register(hash, MB).ok());
        f.script.silentOnLetGo = true;
        assertTrue(f.ask(Delete::new).ok());
        f.awaitSeen(LetGoStorage.class, r -> r.key().equals(hash.hex()));
        // the crash: the delete is journaled, its clean-up never got an answer
        f.restart();
        assertFalse(TestCollaborators.BLOBS_DELETED.stream().anyMatch(d -> d.hash().equals(hash)));
        assertEquals(MB, f.script.reserved.get(hash.hex()));

        f.script.silentOnLetGo = false;
        f.restart();
        awaitBlobDeleted(f.tenant, hash);
        testKit.createTestProbe().awaitAssert(Duration.ofSeconds(5), () -> {
            assertFalse(f.script.reserved.containsKey(hash.hex()));
            return null;
        });
        // confirmed and journaled: a later recovery does not clean up again
        sleep(Duration.ofMillis(500));
        drain(f.seen);
        f.restart();
        f.get();
        List<TenantProtocol.Command> after = drain(f.seen);
        assertFalse(after.stream().anyMatch(LetGoStorage.class::isInstance), after.toString());
    }

    // ---- helpers

    /** One tenant's adapter, spawned outside sharding (to stop and restart it), and what its tenant received. */
    final class Fixture {
        final TenantId tenant;
        final String name;
        final TestProbe<TenantProtocol.Command> seen = testKit.createTestProbe(TenantProtocol.Command.class);
        final TenantScript script = new TenantScript(seen.ref());
        ActorRef<Command> entity;

        Fixture() {
            this(new TenantId("t-" + UUID.randomUUID().toString().substring(0, 12)), "cafe");
        }

        Fixture(TenantId tenant, String name) {
            this.tenant = tenant;
            this.name = name;
            TestCollaborators.TENANTS.putIfAbsent(tenant.value(), script);
            entity = testKit.spawn(AdapterEntity.create(AdapterProtocol.entityId(tenant, name), settings, CLOCK));
        }

        Reply register(ContentHash hash, long bytes) {
            return ask(r -> new RegisterVersion(tenant, name, hash, bytes, "upload", r));
        }

        Reply ask(Function<ActorRef<Reply>, Command> command) {
            TestProbe<Reply> probe = testKit.createTestProbe(Reply.class);
            entity.tell(command.apply(probe.ref()));
            return probe.receiveMessage();
        }

        AdapterView ok(Function<ActorRef<Reply>, Command> command) {
            Reply reply = ask(command);
            assertTrue(reply.ok(), reply.error() + ": " + reply.message());
            return reply.view();
        }

        AdapterView get() {
            return ask(Get::new).view();
        }

        /** Stops the entity, waits until it has, and starts it again: it recovers from the journal. */
        void restart() {
            testKit.stop(entity, Duration.ofSeconds(10));
            entity = testKit.spawn(AdapterEntity.create(AdapterProtocol.entityId(tenant, name), settings, CLOCK));
        }

        <T extends TenantProtocol.Command> void awaitSeen(Class<T> type, java.util.function.Predicate<T> test) {
            seen.fishForMessage(Duration.ofSeconds(5), m -> type.isInstance(m) && test.test(type.cast(m))
                    ? FishingOutcomes.complete()
                    : FishingOutcomes.continueAndIgnore());
        }
    }

    void awaitVersionState(Fixture f, int version, VersionState state) {
        testKit.createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
            AdapterView view = f.get();
            assertEquals(state, view.versions().stream().filter(v -> v.version() == version).findFirst().orElseThrow().state());
            return null;
        });
    }

    void awaitBlobDeleted(TenantId tenant, ContentHash hash) {
        testKit.createTestProbe().awaitAssert(Duration.ofSeconds(5), () -> {
            assertTrue(TestCollaborators.BLOBS_DELETED.stream().anyMatch(d -> d.tenant().equals(tenant) && d.hash().equals(hash)),
                    "no DeleteBlob for " + tenant + "/" + hash);
            return null;
        });
    }

    void awaitDropped(TenantId tenant, ContentHash hash) {
        testKit.createTestProbe().awaitAssert(Duration.ofSeconds(5), () -> {
            assertTrue(TestCollaborators.NODE_RECEIVED.stream().anyMatch(m -> m instanceof GpuNodeProtocol.DropAdapter d
                    && d.tenant().equals(tenant) && d.hash().equals(hash)), "no DropAdapter for " + tenant + "/" + hash);
            return null;
        });
    }

    static void assertRefused(Error error, String words, Reply reply) {
        assertFalse(reply.ok(), "expected a refusal " + error + ", got ok");
        assertEquals(error, reply.error(), reply.message());
        assertTrue(reply.message().contains(words), "'" + reply.message() + "' should say '" + words + "'");
    }

    static ContentHash randomHash() {
        byte[] bytes = new byte[32];
        ThreadLocalRandom.current().nextBytes(bytes);
        return new ContentHash(HexFormat.of().formatHex(bytes));
    }

    /** The command with its replyTo cleared, to compare the rest. */
    static TenantProtocol.Command withoutReplyTo(TenantProtocol.Command command) {
        return switch (command) {
            case ReserveStorage c -> new ReserveStorage(c.key(), c.bytes(), c.holder(), c.fromUpload(), null);
            case UpdateCatalog c -> new UpdateCatalog(c.name(), c.promoted(), c.canary(), c.canaryShare(), c.quarantined(), null);
            case TrackAdapterName c -> new TrackAdapterName(c.name(), c.present(), null);
            default -> command;
        };
    }

    <T> void register(ServiceKey<T> key, ActorRef<T> service) {
        testKit.system().receptionist().tell(Receptionist.register(key, service));
        awaitListing(key, service, true);
    }

    <T> void deregister(ServiceKey<T> key, ActorRef<T> service) {
        testKit.system().receptionist().tell(Receptionist.deregister(key, service));
        awaitListing(key, service, false);
    }

    private <T> void awaitListing(ServiceKey<T> key, ActorRef<T> service, boolean listed) {
        TestProbe<Receptionist.Listing> probe = testKit.createTestProbe(Receptionist.Listing.class);
        probe.awaitAssert(Duration.ofSeconds(10), () -> {
            testKit.system().receptionist().tell(Receptionist.find(key, probe.ref()));
            assertEquals(listed, probe.receiveMessage().getServiceInstances(key).contains(service));
            return null;
        });
    }

    Object latestSnapshot(String persistenceId) throws Exception {
        ActorSystem<Void> system = testKit.system();
        var store = Persistence.get(Adapter.toClassic(system)).snapshotStoreFor("", ConfigFactory.empty());
        var result = (SnapshotProtocol.LoadSnapshotResult) Patterns.ask(store,
                new SnapshotProtocol.LoadSnapshot(persistenceId, SnapshotSelectionCriteria.latest(), Long.MAX_VALUE),
                Duration.ofSeconds(5)).toCompletableFuture().get();
        return result.snapshot().isDefined() ? result.snapshot().get().snapshot() : null;
    }

    static void sleep(Duration duration) {
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** What the probe receives until it stays quiet for half a second. */
    static List<TenantProtocol.Command> drain(TestProbe<TenantProtocol.Command> probe) {
        List<TenantProtocol.Command> got = new java.util.ArrayList<>();
        while (true) {
            try {
                got.add(probe.receiveMessage(Duration.ofMillis(500)));
            } catch (AssertionError quiet) {
                return got;
            }
        }
    }
}
