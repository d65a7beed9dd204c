package io.loraplex.simulations.fleet.replay;

import io.loraplex.cluster.NodeId;
import io.loraplex.cluster.node.GpuNodeProtocol.AdapterTier;
import io.loraplex.simulations.fleet.RequestResult;
import io.loraplex.simulations.fleet.TraceRequest;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.function.Function;

/**
 * The two CSV formats shared with the load simulations and the fleet simulator, kept exactly, and the one place
 * they are read and written: a trace (one {@link TraceRequest} a line, ordered by {@code at_ms}) and a result file
 * (one replayed or simulated request a line: {@link ReplayedRequest}, {@link RequestResult}). No field may hold a
 * comma or quote, so neither format needs quoting.
 */
public final class TraceFiles {

    public static final String TRACE_HEADER = "at_ms,tenant,model,session,prompt_tokens,max_tokens,stream";
    public static final String RESULT_HEADER = "at_ms,tenant,model,node,tier,ttft_ms,latency_ms,status";

    private TraceFiles() {
    }

    public static void writeTrace(Path file, Iterable<TraceRequest> trace) throws IOException {
        try (Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            w.write(TRACE_HEADER + "\n");
            for (TraceRequest r : trace) {
                w.write(r.atMs() + "," + r.tenant() + "," + r.model() + "," + r.session() + "," + r.promptTokens() + ","
                        + r.maxTokens() + "," + r.stream() + "\n");
            }
        }
    }

    /** The trace in {@code file}, all of it (a replay's); {@link #streamTrace} reads the same lazily. */
    public static List<TraceRequest> readTrace(Path file) throws IOException {
        List<TraceRequest> trace = new ArrayList<>();
        try {
            streamTrace(file).forEachRemaining(trace::add);
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        return trace;
    }

    /**
     * The trace in {@code file}, a line at a time (the simulator's, whose traces may not fit in memory); a line out
     * of order or malformed is refused naming the file, line and field when it is reached, not before.
     */
    public static Iterator<TraceRequest> streamTrace(Path file) throws IOException {
        BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8);
        String first = in.readLine();
        if (first == null || !first.strip().equals(TRACE_HEADER)) {
            in.close();
            throw new IllegalArgumentException(file.getFileName() + " line 1: expected the header '" + TRACE_HEADER + "', got '"
                    + (first == null ? "" : first) + "'");
        }
        String[] names = TRACE_HEADER.split(",");
        return new Iterator<>() {
            long lineNo = 1;
            long lastAt = -1;
            TraceRequest next;
            boolean done;

            private TraceRequest advance() throws IOException {
                String line;
                do {
                    line = in.readLine();
                    lineNo++;
                } while (line != null && line.isBlank());
                if (line == null) {
                    in.close();
                    return null;
                }
                String where = file.getFileName() + " line " + lineNo;
                try {
                    TraceRequest t = parse(line, names, TRACE_HEADER, where, f -> new TraceRequest(f.whole("at_ms"),
                            f.text("tenant"), f.text("model"), f.text("session"), f.int32("prompt_tokens"), f.int32("max_tokens"),
                            f.bool("stream")));
                    if (t.atMs() < lastAt) {
                        throw new IllegalArgumentException(where + ": at_ms " + t.atMs() + " comes before the previous line's "
                                + lastAt + " (a trace is ordered by at_ms)");
                    }
                    lastAt = t.atMs();
                    return t;
                } catch (IllegalArgumentException e) {
                    // the trace ends at a bad line: nobody reads past it, so the file is closed here
                    in.close();
                    throw e;
                }
            }

            @Override
            public boolean hasNext() {
                if (next == null && !done) {
                    try {
                        next = advance();
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                    done = next == null;
                }
                return next != null;
            }

            @Override
            public TraceRequest next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                TraceRequest t = next;
                next = null;
                return t;
            }
        };
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

    /** The simulator's results, in the same format as a replay's ({@link RequestResult#csv}). */
    public static void writeSimulated(Path file, Iterable<RequestResult> results) throws IOException {
        try (Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            w.write(RESULT_HEADER + "\n");
            for (RequestResult r : results) {
                w.write(r.csv() + "\n");
            }
        }
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
            out.add(parse(line, names, header, file.getFileName() + " line " + (i + 1), parse));
        }
        return out;
    }

    /** One line of a file whose fields are {@code names}; an error names {@code where} (file and line) and the field. */
    private static <T> T parse(String line, String[] names, String header, String where, Function<Fields, T> parse) {
        String[] values = line.split(",", -1);
        if (values.length != names.length) {
            throw new IllegalArgumentException(where + ": expected " + names.length + " fields (" + header + "), got "
                    + values.length);
        }
        try {
            return parse.apply(new Fields(names, values, where));
        } catch (IllegalArgumentException e) {
            throw e.getMessage().startsWith(where) ? e : new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
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
