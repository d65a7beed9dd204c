package io.loraplex.simulations.fleet.replay;

import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * The two CSV formats shared with the load simulations and the fleet simulator, kept exactly: a trace
 * (one request a line, ordered by {@code at_ms}) and a result file (one replayed request a line). No
 * field may hold a comma or quote, so neither format needs quoting.
 */
public final class TraceFiles {

    public static final String TRACE_HEADER = "at_ms,tenant,model,session,prompt_tokens,max_tokens,stream";
    public static final String RESULT_HEADER = "at_ms,tenant,model,node,tier,ttft_ms,latency_ms,status";

    private TraceFiles() {
    }

    static void writeTrace(Path file, List<TracedRequest> trace) throws IOException {
        List<String> lines = new ArrayList<>(trace.size() + 1);
        lines.add(TRACE_HEADER);
        for (TracedRequest r : trace) {
            lines.add(r.atMs() + "," + r.tenant() + "," + r.model() + "," + r.session().orElse("") + "," + r.promptTokens() + ","
                    + r.maxTokens() + "," + r.stream());
        }
        Files.write(file, lines, StandardCharsets.UTF_8);
    }

    /** The trace in {@code file}; a line out of order or malformed is refused naming the file, line and field. */
    static List<TracedRequest> readTrace(Path file) throws IOException {
        List<TracedRequest> trace = read(file, TRACE_HEADER, f -> new TracedRequest(f.whole("at_ms"), f.text("tenant"),
                f.text("model"), f.optional("session"), f.int32("prompt_tokens"), f.int32("max_tokens"), f.bool("stream")));
        for (int i = 1; i < trace.size(); i++) {
            if (trace.get(i).atMs() < trace.get(i - 1).atMs()) {
                throw new IllegalArgumentException(file.getFileName() + " line " + (i + 2) + ": at_ms " + trace.get(i).atMs()
                        + " comes before the previous line's " + trace.get(i - 1).atMs() + " (a trace is ordered by at_ms)");
            }
        }
        return trace;
    }

    public static void writeResults(Path file, List<ReplayedRequest> results) throws IOException {
        List<String> lines = new ArrayList<>(results.size() + 1);
        lines.add(RESULT_HEADER);
        for (ReplayedRequest r : results) {
            lines.add(r.atMs() + "," + r.tenant() + "," + r.model() + "," + r.node().map(NodeId::value).orElse("") + ","
                    + r.tier().map(AdapterTier::apiName).orElse("") + "," + r.ttftMs() + "," + r.latencyMs() + ","
                    + (r.status() == ReplayedRequest.NO_ANSWER ? "failed" : String.valueOf(r.status())));
        }
        Files.write(file, lines, StandardCharsets.UTF_8);
    }

    /** A result file, the replay's or the simulator's; a malformed line is refused naming the file, line and field. */
    public static List<ReplayedRequest> readResults(Path file) throws IOException {
        return read(file, RESULT_HEADER, f -> new ReplayedRequest(f.whole("at_ms"), f.text("tenant"), f.text("model"),
                f.optional("node").map(NodeId::new), f.optional("tier").map(f::tier), f.whole("ttft_ms"), f.whole("latency_ms"),
                f.status("status")));
    }

    private static <T> List<T> read(Path file, String header, Function<Fields, T> parse) throws IOException {
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        if (lines.isEmpty() || !lines.getFirst().strip().equals(header)) {
            throw new IllegalArgumentException(file.getFileName() + " line 1: expected the header '" + header + "', got '"
                    + (lines.isEmpty() ? "" : lines.getFirst()) + "'");
        }
        String[] names = header.split(",");
        List<T> out = new ArrayList<>(lines.size() - 1);
        for (int i = 1; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) {
                continue;
            }
            String where = file.getFileName() + " line " + (i + 1);
            String[] values = line.split(",", -1);
            if (values.length != names.length) {
                throw new IllegalArgumentException(where + ": expected " + names.length + " fields (" + header + "), got "
                        + values.length);
            }
            try {
                out.add(parse.apply(new Fields(names, values, where)));
            } catch (IllegalArgumentException e) {
                throw e.getMessage().startsWith(where) ? e : new IllegalArgumentException(where + ": " + e.getMessage(), e);
            }
        }
        return out;
    }

    /** One line's fields by name; a bad value is refused naming its field. */
    private record Fields(String[] names, String[] values, String where) {

        String text(String name) {
            return values[index(name)].strip();
        }

        Optional<String> optional(String name) {
            String v = text(name);
            return v.isEmpty() ? Optional.empty() : Optional.of(v);
        }

        long whole(String name) {
            try {
                return Long.parseLong(text(name));
            } catch (NumberFormatException e) {
                throw bad(name, "a whole number");
            }
        }

        int int32(String name) {
            try {
                return Integer.parseInt(text(name));
            } catch (NumberFormatException e) {
                throw bad(name, "a whole number");
            }
        }

        boolean bool(String name) {
            return switch (text(name)) {
                case "true" -> true;
                case "false" -> false;
                default -> throw bad(name, "true or false");
            };
        }

        int status(String name) {
            return text(name).equals("failed") ? ReplayedRequest.NO_ANSWER : int32(name);
        }

        AdapterTier tier(String apiName) {
            try {
                return AdapterTier.ofApiName(apiName);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + ": tier: " + e.getMessage(), e);
            }
        }

        private IllegalArgumentException bad(String name, String expected) {
            return new IllegalArgumentException(where + ": " + name + " must be " + expected + ", got '" + text(name) + "'");
        }

        private int index(String name) {
            for (int i = 0; i < names.length; i++) {
                if (names[i].equals(name)) {
                    return i;
                }
            }
            throw new IllegalStateException("no field " + name);
        }
    }
}
