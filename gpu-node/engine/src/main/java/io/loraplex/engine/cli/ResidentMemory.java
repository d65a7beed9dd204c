package io.loraplex.engine.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The process's resident memory as Linux reports it in {@code /proc/self/status}: the whole
 * ({@code VmRSS}), the anonymous part ({@code RssAnon}: heap, converted weights, KV arena) and the
 * file-backed part ({@code RssFile}: pages of the memory-mapped weight files, which the kernel may
 * drop and read again, so a mapped model does not need its size in free memory).
 */
record ResidentMemory(long rssKb, long anonKb, long fileKb) {

    private static final Path STATUS = Path.of("/proc/self/status");

    /** This process's, or empty where {@code /proc/self/status} does not exist (not Linux). */
    static Optional<ResidentMemory> read() {
        try {
            return Files.isReadable(STATUS) ? parse(Files.readString(STATUS)) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** The three fields of a {@code /proc/<pid>/status} text, or empty when one is missing. */
    static Optional<ResidentMemory> parse(String status) {
        long rss = -1;
        long anon = -1;
        long file = -1;
        for (String line : status.split("\n")) {
            String[] parts = line.trim().split("\\s+");
            if (parts.length < 2) {
                continue;
            }
            switch (parts[0]) {
                case "VmRSS:" -> rss = Long.parseLong(parts[1]);
                case "RssAnon:" -> anon = Long.parseLong(parts[1]);
                case "RssFile:" -> file = Long.parseLong(parts[1]);
                default -> {
                }
            }
        }
        return rss < 0 || anon < 0 || file < 0 ? Optional.empty() : Optional.of(new ResidentMemory(rss, anon, file));
    }

    /** "RSS 1.23 GiB (anon 0.45 GiB, file 0.78 GiB)" for the bench's report. */
    String describe() {
        return String.format("RSS %.2f GiB (anon %.2f GiB, file %.2f GiB)", gib(rssKb), gib(anonKb), gib(fileKb));
    }

    private static double gib(long kb) {
        return kb / (1024.0 * 1024.0);
    }

    /** The line for {@code when}: the memory now, or that it cannot be read here. */
    static String report(String when) {
        return "memory " + when + ": " + read().map(ResidentMemory::describe).orElse("RSS not available (no /proc/self/status)");
    }
}
