package io.loraplex.persistence;

import io.loraplex.persistence.journal.EventLog;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Moves a data directory's H2 journal ({@code journal.mv.db}, the embedded journal of earlier
 * versions) into the embedded event log, once: every event (deleted ones as a deletion marker, so
 * sequence numbers go on where they were) and every snapshot, with their serialized bytes as they
 * are. The import writes into {@code journal.importing/}, renames it {@code journal/} once complete,
 * then renames the H2 file {@code journal.mv.db.imported}: a crash at any point leaves either no
 * embedded journal (the import runs again from the start) or a complete one.
 */
public final class H2Import {

    static final String H2_SUFFIX = ".mv.db";
    static final String IMPORTED_SUFFIX = ".mv.db.imported";

    private H2Import() {
    }

    /**
     * Imports {@code dataDir/journal.mv.db} into the event log of {@code dataDir/journal/} when the
     * first exists; returns how many events it moved (0 when there was nothing to import).
     */
    public static int importIfPresent(Path dataDir) {
        Path h2 = dataDir.resolve(Journals.H2_FILE + H2_SUFFIX);
        if (!Files.isRegularFile(h2)) {
            return 0;
        }
        Path target = dataDir.resolve(Journals.EMBEDDED_DIR);
        if (Files.exists(target)) {
            // a complete import whose last step, the rename of the H2 file, a crash cut
            renameImported(h2);
            return 0;
        }
        Path importing = dataDir.resolve(Journals.EMBEDDED_DIR + ".importing");
        deleteTree(importing);
        String url = "jdbc:h2:file:" + dataDir.toAbsolutePath().resolve(Journals.H2_FILE) + ";FILE_LOCK=FILE;IFEXISTS=TRUE";
        int events = 0;
        try (EventLog log = EventLog.acquire(importing, true);
             Connection db = DriverManager.getConnection(url, "loraplex", "")) {
            Map<String, Long> deletedTo = new HashMap<>();
            List<EventLog.Write> batch = new ArrayList<>();
            try (Statement s = db.createStatement(); ResultSet rs = s.executeQuery("""
                    SELECT "persistence_id", "sequence_number", "deleted", "writer", "write_timestamp", "adapter_manifest",
                           "event_ser_id", "event_ser_manifest", "event_payload"
                    FROM PUBLIC."event_journal" ORDER BY "persistence_id", "sequence_number"
                    """)) {
                while (rs.next()) {
                    String id = rs.getString(1);
                    long seq = rs.getLong(2);
                    if (rs.getBoolean(3)) {
                        deletedTo.merge(id, seq, Math::max);
                    }
                    batch.add(new EventLog.Write.Events(List.of(new EventLog.Event(id, seq, rs.getLong(5), rs.getString(4),
                            rs.getString(6), rs.getInt(7), rs.getString(8), rs.getBytes(9)))));
                    events++;
                    flushIfFull(log, batch);
                }
            }
            deletedTo.forEach((id, to) -> batch.add(new EventLog.Write.DeleteEventsTo(id, to)));
            try (Statement s = db.createStatement(); ResultSet rs = s.executeQuery("""
                    SELECT "persistence_id", "sequence_number", "created", "snapshot_ser_id", "snapshot_ser_manifest", "snapshot_payload"
                    FROM PUBLIC."snapshot" ORDER BY "persistence_id", "sequence_number"
                    """)) {
                while (rs.next()) {
                    batch.add(new EventLog.Write.SaveSnapshot(new EventLog.Snapshot(rs.getString(1), rs.getLong(2), rs.getLong(3),
                            rs.getInt(4), rs.getString(5), rs.getBytes(6))));
                    flushIfFull(log, batch);
                }
            }
            if (!batch.isEmpty()) {
                log.append(batch).join();
            }
        } catch (SQLException e) {
            throw new IllegalStateException("could not read the H2 journal " + h2 + " to import it: " + e.getMessage(), e);
        }
        try {
            Files.move(importing, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new IllegalStateException("imported " + h2 + " but could not move the new journal into place: " + e.getMessage(), e);
        }
        renameImported(h2);
        return events;
    }

    private static void renameImported(Path h2) {
        try {
            Files.move(h2, h2.resolveSibling(Journals.H2_FILE + IMPORTED_SUFFIX), StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new IllegalStateException("imported " + h2 + " but could not rename it: " + e.getMessage(), e);
        }
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (var paths = Files.walk(dir)) {
            for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        } catch (IOException e) {
            throw new IllegalStateException("could not remove the cut import " + dir + ": " + e.getMessage(), e);
        }
    }

    private static void flushIfFull(EventLog log, List<EventLog.Write> batch) {
        if (batch.size() >= 1000) {
            log.append(List.copyOf(batch)).join();
            batch.clear();
        }
    }
}
