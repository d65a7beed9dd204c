package io.loraplex.simulations.fleet.replay;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import io.loraplex.simulations.fleet.TraceRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TraceFilesTest {

    @TempDir
    Path dir;

    @Test
    void aTraceRoundTripsThroughTheSharedFormatWithItsHeaderAndEmptySessions() throws Exception {
        List<TraceRequest> trace = List.of(
                new TraceRequest(0, "replay-1", "adapter-001", "s1", 20, 8, true),
                new TraceRequest(15, "replay-2", "adapter-003", "", 64, 4, false));
        Path file = dir.resolve("trace.csv");
        TraceFiles.writeTrace(file, trace);
        assertEquals(List.of("at_ms,tenant,model,session,prompt_tokens,max_tokens,stream", "0,replay-1,adapter-001,s1,20,8,true",
                "15,replay-2,adapter-003,,64,4,false"), Files.readAllLines(file));
        assertEquals(trace, TraceFiles.readTrace(file));
    }

    @Test
    void aResultFileRoundTripsWithFailedStatusAndNoNodeOrTier() throws Exception {
        List<ReplayedRequest> results = List.of(
                new ReplayedRequest(3, "replay-1", "adapter-001", Optional.of(new NodeId("gpu-1")), Optional.of(AdapterTier.COLD), 40, 90, 200),
                new ReplayedRequest(9, "replay-1", "adapter-002", Optional.empty(), Optional.empty(), 7, 7, ReplayedRequest.NO_ANSWER));
        Path file = dir.resolve("results.csv");
        TraceFiles.writeResults(file, results);
        assertEquals(List.of("at_ms,tenant,model,node,tier,ttft_ms,latency_ms,status", "3,replay-1,adapter-001,gpu-1,cold,40,90,200",
                "9,replay-1,adapter-002,,,7,7,failed"), Files.readAllLines(file));
        assertEquals(results, TraceFiles.readResults(file));
    }

    @Test
    void aMalformedTraceIsRefusedNamingTheFileLineAndField() throws Exception {
        Path file = dir.resolve("trace.csv");
        Files.writeString(file, "at_ms,tenant,model,session,prompt_tokens,max_tokens,stream\n0,t,m,,20,8,true\nsoon,t,m,,20,8,true\n");
        assertEquals("trace.csv line 3: at_ms must be a whole number, got 'soon'",
                assertThrows(IllegalArgumentException.class, () -> TraceFiles.readTrace(file)).getMessage());
        Files.writeString(file, "at_ms,tenant,model,session,prompt_tokens,max_tokens,stream\n0,t,m,,20,8,yes\n");
        assertEquals("trace.csv line 2: stream must be true or false, got 'yes'",
                assertThrows(IllegalArgumentException.class, () -> TraceFiles.readTrace(file)).getMessage());
        Files.writeString(file, "at_ms,tenant,model,session,prompt_tokens,max_tokens,stream\n0,t,m,,0,8,true\n");
        assertEquals("trace.csv line 2: prompt_tokens must be at least 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> TraceFiles.readTrace(file)).getMessage());
        Files.writeString(file, "at_ms,tenant,model,session,prompt_tokens,max_tokens,stream\n0,t,m,,20,8\n");
        assertEquals("trace.csv line 2: expected 7 fields (at_ms,tenant,model,session,prompt_tokens,max_tokens,stream), got 6",
                assertThrows(IllegalArgumentException.class, () -> TraceFiles.readTrace(file)).getMessage());
    }

    @Test
    void aTraceOutOfOrderOrWithAnotherHeaderIsRefused() throws Exception {
        Path file = dir.resolve("trace.csv");
        Files.writeString(file, "at_ms,tenant,model,session,prompt_tokens,max_tokens,stream\n50,t,m,,20,8,true\n10,t,m,,20,8,true\n");
        assertEquals("trace.csv line 3: at_ms 10 comes before the previous line's 50 (a trace is ordered by at_ms)",
                assertThrows(IllegalArgumentException.class, () -> TraceFiles.readTrace(file)).getMessage());
        Files.writeString(file, "at,tenant,model\n");
        assertEquals("trace.csv line 1: expected the header 'at_ms,tenant,model,session,prompt_tokens,max_tokens,stream', got "
                + "'at,tenant,model'", assertThrows(IllegalArgumentException.class, () -> TraceFiles.readTrace(file)).getMessage());
    }

    @Test
    void aResultWithAnUnknownTierOrStatusIsRefusedNamingTheLine() throws Exception {
        Path file = dir.resolve("sim.csv");
        Files.writeString(file, "at_ms,tenant,model,node,tier,ttft_ms,latency_ms,status\n0,t,m,n1,lukewarm,1,2,200\n");
        assertEquals("sim.csv line 2: tier: unknown adapter tier 'lukewarm' (hot, warm, cold, loading or failed)",
                assertThrows(IllegalArgumentException.class, () -> TraceFiles.readResults(file)).getMessage());
        Files.writeString(file, "at_ms,tenant,model,node,tier,ttft_ms,latency_ms,status\n0,t,m,n1,hot,1,2,dropped\n");
        assertEquals("sim.csv line 2: status must be a whole number, got 'dropped'",
                assertThrows(IllegalArgumentException.class, () -> TraceFiles.readResults(file)).getMessage());
        Files.writeString(file, "at_ms,tenant,model,node,tier,ttft_ms,latency_ms,status\n0,t,m,n1,hot,1,2,42\n");
        assertEquals("sim.csv line 2: status must be an HTTP status or failed, got 42",
                assertThrows(IllegalArgumentException.class, () -> TraceFiles.readResults(file)).getMessage());
    }
}
