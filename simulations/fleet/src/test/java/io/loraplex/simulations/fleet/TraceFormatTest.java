package io.loraplex.simulations.fleet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.typesafe.config.ConfigFactory;
import io.loraplex.simulations.fleet.replay.ReplaySummary;
import io.loraplex.simulations.fleet.replay.TraceFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shared trace and result formats, and the errors a bad trace or setting gets. */
class TraceFormatTest {

    @TempDir
    Path dir;

    @Test
    void aTraceWrittenAndReadBackIsTheSame() throws Exception {
        List<TraceRequest> trace = List.of(new TraceRequest(0, "t00001", "a3", "s1", 120, 64, true),
                new TraceRequest(250, "t00002", "a0", "", 900, 16, false));
        Path file = dir.resolve("trace.csv");
        TraceFiles.writeTrace(file, trace);
        assertEquals("at_ms,tenant,model,session,prompt_tokens,max_tokens,stream\n0,t00001,a3,s1,120,64,true\n"
                + "250,t00002,a0,,900,16,false\n", Files.readString(file));
        List<TraceRequest> back = new ArrayList<>();
        TraceFiles.streamTrace(file).forEachRemaining(back::add);
        assertEquals(trace, back);
    }

    @Test
    void aResultLineHasTheSharedColumns() {
        RequestResult r = new RequestResult(250, "t00002", "a0", "node-0001", "hot", 12.5, 40.25, 12.5, 16, false, "200");
        assertEquals("at_ms,tenant,model,node,tier,ttft_ms,latency_ms,status", TraceFiles.RESULT_HEADER);
        assertEquals("250,t00002,a0,node-0001,hot,13,40,200", r.csv());
    }

    @Test
    void theSimulatorsResultFileIsReadByTheReplaysReaderSoBothAreSummarisedAlike() throws Exception {
        Path file = dir.resolve("sim-results.csv");
        TraceFiles.writeSimulated(file, List.of(
                new RequestResult(0, "t1", "a0", "node-0000", "cold", 30.4, 41.6, 30.4, 4, false, "200"),
                new RequestResult(500, "t1", "a0", "node-0000", "hot", 12.5, 20.2, 12.5, 4, false, "200"),
                new RequestResult(900, "t2", "a1", "", "", Double.NaN, Double.NaN, Double.NaN, 0, true, "failed")));
        ReplaySummary s = ReplaySummary.of(file);
        assertEquals(3, s.requests());
        assertEquals(1, s.coldLoads());
        assertEquals(1, s.failures());
        assertEquals(1.0 / 3, s.hotHitRate(), 1e-9);
        assertEquals(13, s.ttftP50Ms());
        assertEquals(30, s.ttftP99Ms());
    }

    @Test
    void aNameThatWouldBreakTheUnquotedFormatIsRefusedNamingTheField() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TraceRequest(0, "t1", "a,0", "", 10, 5, true));
        assertEquals("model must not hold a comma, quote or line break, got 'a,0'", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new TraceRequest(0, " ", "a0", "s\"1", 10, 5, true));
        assertEquals("tenant must not be blank", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new TraceRequest(0, "t1", "a0", "s\"1", 10, 5, true));
        assertEquals("session must not hold a comma, quote or line break, got 's\"1'", e.getMessage());
    }

    @Test
    void aTraceWithAnotherHeaderIsRefusedQuotingBoth() throws Exception {
        Path file = dir.resolve("bad.csv");
        Files.writeString(file, "time,tenant\n0,t\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TraceFiles.streamTrace(file));
        assertEquals("bad.csv line 1: expected the header 'at_ms,tenant,model,session,prompt_tokens,max_tokens,stream',"
                + " got 'time,tenant'", e.getMessage());
    }

    @Test
    void aBadLineIsRefusedNamingItsLineAndField() throws Exception {
        Path file = dir.resolve("t.csv");
        Files.writeString(file, TraceFiles.TRACE_HEADER + "\n0,t,a,,10,5,true\n5,t,a,,10,5,yes\n");
        Iterator<TraceRequest> it = TraceFiles.streamTrace(file);
        it.next();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, it::next);
        assertEquals("t.csv line 3: stream must be true or false, got 'yes'", e.getMessage());
    }

    @Test
    void aTraceOutOfOrderIsRefused() throws Exception {
        Path file = dir.resolve("o.csv");
        Files.writeString(file, TraceFiles.TRACE_HEADER + "\n10,t,a,,10,5,true\n5,t,a,,10,5,true\n");
        Iterator<TraceRequest> it = TraceFiles.streamTrace(file);
        it.next();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, it::next);
        assertEquals("o.csv line 3: at_ms 5 comes before the previous line's 10 (a trace is ordered by at_ms)", e.getMessage());
    }

    @Test
    void aFailureOnANodeOutsideTheFleetIsRefusedNamingTheSetting() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FleetConfig.create(ConfigFactory.parseString("fleet { nodes = 3, failures = [{ node = 3, at = 1m }] }")));
        assertEquals("fleet.failures: node 3 is not one of the fleet's nodes 0..2", e.getMessage());
    }

    @Test
    void anUnknownPolicyIsRefusedListingTheKnownOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> FleetConfig.create(ConfigFactory.parseString("fleet.placement.policy = round-robin")));
        assertEquals("fleet.placement.policy: unknown policy 'round-robin'; expected rendezvous-bounded, random or least-loaded",
                e.getMessage());
    }

    @Test
    void generatedTrafficIsOrderedReproducibleAndNamesTheConfiguredTenantsAndAdapters() {
        FleetConfig c = FleetConfig.create(ConfigFactory.parseString("fleet { nodes = 4, duration = 600s, tenants = 20,"
                + " adapters-per-tenant = 3 }"));
        List<TraceRequest> a = new ArrayList<>();
        new Traffic(c).forEachRemaining(a::add);
        List<TraceRequest> b = new ArrayList<>();
        new Traffic(c).forEachRemaining(b::add);
        assertEquals(a, b);
        long last = -1;
        for (TraceRequest t : a) {
            assertEquals(true, t.atMs() >= last && t.atMs() < 600_000, "ordered, within the duration: " + t);
            last = t.atMs();
            int tenant = Integer.parseInt(t.tenant().substring(1));
            int adapter = Integer.parseInt(t.model().substring(1));
            assertEquals(true, tenant < 20 && adapter < 3, t.toString());
        }
        // 4 nodes * 1.5 requests/s * 600 s = 3,600 on average; fewer, since a session's turns past the end are cut
        // and the first minute has no later turns yet; the diurnal curve and the burst move it a little
        assertEquals(true, a.size() > 2700 && a.size() < 4000, "requests: " + a.size());
    }
}
