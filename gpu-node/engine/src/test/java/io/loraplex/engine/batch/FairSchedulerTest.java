package io.loraplex.engine.batch;

import static io.loraplex.engine.batch.EngineFixture.ALICE;
import static io.loraplex.engine.batch.EngineFixture.BOB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.TenantId;
import io.loraplex.engine.TestModels;
import io.loraplex.engine.kv.ArenaLayout;
import io.loraplex.engine.kv.BlockManager;
import io.loraplex.engine.kv.HostArena;
import io.loraplex.engine.kv.PagePool;
import io.loraplex.engine.model.DType;
import io.loraplex.engine.sample.Finish;
import io.loraplex.engine.sample.FinishReason;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The scheduler alone, without a backend or a step thread: which request runs next, and how much of it. */
class FairSchedulerTest {

    private static final EngineSettings ONE_AT_A_TIME = EngineSettings.defaults().withMaxRunning(1).withBlockSize(4);

    private final List<GenerationListener.Completion> finished = new ArrayList<>();
    private long arrivals;

    private FairScheduler scheduler(EngineSettings settings, int pages) {
        ArenaLayout layout = ArenaLayout.of(TestModels.llama(DType.F32), settings.blockSize());
        PagePool pool = new PagePool(pages);
        BlockManager blocks = new BlockManager(pool, settings.blockSize());
        AdapterPool adapters = new AdapterPool(pool, new HostArena(layout, pages), blocks, null, null, r -> { }, 8, 0);
        return new FairScheduler(settings, pool, blocks, adapters);
    }

    private Sequence sequence(String id, TenantId tenant, int promptLength) {
        EngineRequest r = EngineFixture.request(id, tenant, null, new int[promptLength], 4);
        GenerationListener listener = new GenerationListener() {
            @Override
            public void onToken(Token token) {
            }

            @Override
            public void onFinish(Completion completion) {
                finished.add(completion);
            }
        };
        return new Sequence(r, listener, null, ++arrivals, 2);
    }

    /** What a step does to the scheduler's books: the chunks are computed and charged to their tenants. */
    private static void ran(FairScheduler scheduler, List<FairScheduler.Chunk> plan) {
        for (FairScheduler.Chunk c : plan) {
            c.seq().computed = c.start() + c.count();
            scheduler.charge(c.seq(), c.count());
        }
    }

    @Test
    void theTenantWithFewerTokensServedIsAdmittedNextEvenIfItCameLater() {
        FairScheduler scheduler = scheduler(ONE_AT_A_TIME, 16);
        Sequence alice1 = sequence("alice-1", ALICE, 3);
        Sequence alice2 = sequence("alice-2", ALICE, 3);
        Sequence bob1 = sequence("bob-1", BOB, 3);
        scheduler.enqueue(alice1);
        scheduler.enqueue(alice2);
        scheduler.enqueue(bob1);

        List<FairScheduler.Chunk> first = scheduler.schedule(System.nanoTime());
        assertEquals(List.of(new FairScheduler.Chunk(alice1, 0, 3)), first, "a tie goes to the earliest arrival");
        ran(scheduler, first);
        scheduler.finish(alice1, Finish.of(FinishReason.STOP), "", null);

        List<FairScheduler.Chunk> second = scheduler.schedule(System.nanoTime());
        assertEquals(List.of(new FairScheduler.Chunk(bob1, 0, 3)), second, "alice was served 3 tokens, bob none");
        assertEquals(1, scheduler.waitingCount());
    }

    @Test
    void aTenantBackFromIdleStartsLevelWithTheOthersNotAheadOfThem() {
        FairScheduler scheduler = scheduler(ONE_AT_A_TIME, 16);
        Sequence alice1 = sequence("alice-1", ALICE, 3);
        scheduler.enqueue(alice1);
        ran(scheduler, scheduler.schedule(System.nanoTime()));
        Sequence alice2 = sequence("alice-2", ALICE, 3);
        scheduler.enqueue(alice2);
        scheduler.finish(alice1, Finish.of(FinishReason.STOP), "", null);
        // bob was idle all along: he joins at alice's level, so alice's earlier request still goes first
        Sequence bob1 = sequence("bob-1", BOB, 3);
        scheduler.enqueue(bob1);

        assertEquals(List.of(new FairScheduler.Chunk(alice2, 0, 3)), scheduler.schedule(System.nanoTime()));
    }

    @Test
    void aRequestEndsOnceAndGivesBackItsBlocks() {
        FairScheduler scheduler = scheduler(ONE_AT_A_TIME, 16);
        Sequence alice1 = sequence("alice-1", ALICE, 6);
        scheduler.enqueue(alice1);
        ran(scheduler, scheduler.schedule(System.nanoTime()));
        assertEquals(2, alice1.tableSize, "6 positions in blocks of 4");

        scheduler.finish(alice1, Finish.of(FinishReason.CANCELLED), "", "cancelled");
        scheduler.finish(alice1, Finish.of(FinishReason.STOP), "", null);

        assertEquals(1, finished.size());
        assertEquals(FinishReason.CANCELLED, finished.getFirst().finish().reason());
        assertEquals(0, alice1.tableSize);
        assertTrue(scheduler.idle());
    }
}
