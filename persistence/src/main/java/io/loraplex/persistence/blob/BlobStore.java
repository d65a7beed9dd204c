package io.loraplex.persistence.blob;

import io.loraplex.cluster.AdapterDirectory;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.function.BiPredicate;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The files of the blob store, with no actor around them: where a blob lives, how an upload's
 * directory becomes one (hash, fsync, atomic rename), verified reads, deletion and the sweep at
 * start. A stored blob directory is never modified in place, so a reader sees a whole blob or none.
 */
public final class BlobStore {

    private static final Logger log = LoggerFactory.getLogger(BlobStore.class);

    /** Uploads in progress and blobs being deleted; never a tenant (tenant ids start with a letter or digit). */
    static final String TEMP = AdapterDirectory.TEMP;

    private final Path root;
    private final AdapterDirectory layout;

    public BlobStore(Path root) {
        this.root = root.toAbsolutePath().normalize();
        this.layout = new AdapterDirectory(this.root);
    }

    public Path root() {
        return root;
    }

    /** Where the blob lives (whether or not it is there): {@code <root>/<tenant>/<hash>/}. */
    public Path directory(TenantId tenant, ContentHash hash) {
        return layout.version(tenant, hash);
    }

    /** A blob as stored: its hash and the bytes of its two files. */
    public record Committed(ContentHash hash, long bytes) {
    }

    /** Creates the empty temporary directory of one upload. */
    Path newUploadDirectory(String uploadId) throws IOException {
        Path dir = layout.temporary(uploadId);
        Files.createDirectories(dir);
        return dir;
    }

    /**
     * Turns an upload's directory holding the two adapter files into the tenant's blob: hashes it,
     * fsyncs the files and the directory, and renames it into place. When the blob is there already
     * (same hash, same content) the upload's directory is dropped; a stored copy that fails its
     * verification is replaced.
     */
    public Committed commit(TenantId tenant, Path uploadDir) throws IOException {
        for (String name : AdapterFiles.NAMES) {
            if (!Files.isRegularFile(uploadDir.resolve(name))) {
                throw new BlobException("the upload has no " + name);
            }
        }
        ContentHash hash = ContentHash.ofDirectory(uploadDir);
        long bytes = size(uploadDir);
        for (String name : AdapterFiles.NAMES) {
            fsync(uploadDir.resolve(name), false);
        }
        fsync(uploadDir, true);
        Path tenantDir = layout.tenant(tenant);
        if (!Files.isDirectory(tenantDir)) {
            Files.createDirectories(tenantDir);
            fsync(root, true);
        }
        Path target = layout.version(tenant, hash);
        if (Files.exists(target)) {
            if (intact(tenant, hash)) {
                deleteRecursively(uploadDir);
                return new Committed(hash, bytes);
            }
            log.warn("blob {}/{} failed its verification; replacing it with a new upload of the same content", tenant, hash);
            discard(target);
        }
        try {
            Files.move(uploadDir, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (FileSystemException e) {
            if (!intact(tenant, hash)) {
                throw e;
            }
            deleteRecursively(uploadDir); // a concurrent upload of the same content got there first
            return new Committed(hash, bytes);
        }
        fsync(tenantDir, true);
        return new Committed(hash, bytes);
    }

    /**
     * The blob's directory after checking that its content still hashes to {@code hash}: a missing,
     * incomplete or altered blob is refused, never served.
     */
    public Path verifiedPath(TenantId tenant, ContentHash hash) throws IOException {
        Path dir = directory(tenant, hash);
        for (String name : AdapterFiles.NAMES) {
            if (!Files.isRegularFile(dir.resolve(name))) {
                throw new BlobException(Files.isDirectory(dir)
                        ? "blob " + tenant + "/" + hash + " is incomplete: it has no " + name
                        : "no blob " + tenant + "/" + hash);
            }
        }
        ContentHash actual = ContentHash.ofDirectory(dir);
        if (!actual.equals(hash)) {
            throw new BlobException("blob " + tenant + "/" + hash + " is corrupt: its files hash to " + actual + "; refusing to serve it");
        }
        return dir;
    }

    /** One of the blob's two files, opened after {@link #verifiedPath verification}. */
    public InputStream open(TenantId tenant, ContentHash hash, String fileName) throws IOException {
        if (!AdapterFiles.NAMES.contains(fileName)) {
            throw new BlobException(AdapterFiles.refusal(fileName));
        }
        return Files.newInputStream(verifiedPath(tenant, hash).resolve(fileName));
    }

    /** Removes the blob; false when it was not there. It disappears at once (renamed away), then its files go. */
    public boolean delete(TenantId tenant, ContentHash hash) throws IOException {
        Path dir = directory(tenant, hash);
        if (!Files.exists(dir)) {
            return false;
        }
        try {
            discard(dir);
        } catch (NoSuchFileException e) {
            return false; // deleted concurrently
        }
        fsync(dir.getParent(), true);
        return true;
    }

    /** What {@link #sweep} removed. */
    public record SweepReport(int temporaryEntries, List<String> unreferencedBlobs) {
        public SweepReport {
            unreferencedBlobs = List.copyOf(unreferencedBlobs);
        }
    }

    /**
     * At start: removes what interrupted uploads and deletions left in the temporary directory, and
     * every blob for which {@code referenced} is false (stored, but no adapter version recorded it
     * before a crash). Directories whose names are no tenant id or content hash are left alone.
     */
    public SweepReport sweep(BiPredicate<TenantId, ContentHash> referenced) throws IOException {
        int temporary = sweepTemporary();
        List<String> removed = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return new SweepReport(temporary, removed);
        }
        try (DirectoryStream<Path> tenants = Files.newDirectoryStream(root, Files::isDirectory)) {
            for (Path tenantDir : tenants) {
                TenantId tenant = parse(tenantDir, TenantId::new);
                if (tenant == null) {
                    continue;
                }
                try (DirectoryStream<Path> blobs = Files.newDirectoryStream(tenantDir, Files::isDirectory)) {
                    for (Path blob : blobs) {
                        ContentHash hash = parse(blob, ContentHash::parse);
                        if (hash != null && !referenced.test(tenant, hash)) {
                            try {
                                discard(blob);
                                removed.add(tenant + "/" + hash);
                            } catch (NoSuchFileException e) {
                                // a deletion's clean-up, replayed at the same start, removed it first: gone either way
                            }
                        }
                    }
                }
            }
        }
        if (temporary > 0 || !removed.isEmpty()) {
            log.info("blob store sweep: {} temporary entries and {} unreferenced blobs removed", temporary, removed.size());
        }
        return new SweepReport(temporary, removed);
    }

    /** Removes everything under the temporary directory; returns how many entries there were. */
    public int sweepTemporary() throws IOException {
        Path temp = root.resolve(AdapterDirectory.TEMP);
        if (!Files.isDirectory(temp)) {
            return 0;
        }
        int count = 0;
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(temp)) {
            for (Path entry : entries) {
                deleteRecursively(entry);
                count++;
            }
        }
        return count;
    }

    private boolean intact(TenantId tenant, ContentHash hash) {
        try {
            verifiedPath(tenant, hash);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Renames {@code dir} into the temporary directory (an atomic disappearance), then deletes it there. */
    private void discard(Path dir) throws IOException {
        Path temp = root.resolve(AdapterDirectory.TEMP);
        Files.createDirectories(temp);
        Path away = temp.resolve("discard-" + UUID.randomUUID());
        Files.move(dir, away, StandardCopyOption.ATOMIC_MOVE);
        deleteRecursively(away);
    }

    private static long size(Path dir) throws IOException {
        long bytes = 0;
        for (String name : AdapterFiles.NAMES) {
            bytes += Files.size(dir.resolve(name));
        }
        return bytes;
    }

    private static <T> T parse(Path dir, java.util.function.Function<String, T> parser) {
        try {
            return parser.apply(dir.getFileName().toString());
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** Forces a file's content, or a directory's entries, to disk. */
    private static void fsync(Path path, boolean directory) throws IOException {
        try (FileChannel channel = FileChannel.open(path, directory ? StandardOpenOption.READ : StandardOpenOption.WRITE)) {
            channel.force(true);
        }
    }

    static void deleteRecursively(Path path) throws IOException {
        if (!Files.exists(path)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(path)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
