package io.loraplex.persistence.files;

import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.files.FileStoreProtocol.FileRef;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * The files of the training file store on disk: {@code <root>/<tenant>/<file id>}, written under
 * {@code <root>/.uploads} first, then fsynced and atomically renamed into place (a crash leaves a
 * whole file or none). Reads check the SHA-256 the caller expects. Blocking I/O: call it from a
 * blocking dispatcher.
 */
public final class TrainingFiles {

    /** File ids: {@code file-} and 1-64 letters, digits, '-' or '_' (nothing that could leave the tenant's folder). */
    public static final Pattern FILE_ID = Pattern.compile("file-[A-Za-z0-9_-]{1,64}");
    private static final Pattern UPLOAD_ID = Pattern.compile("[A-Za-z0-9-]{1,64}");

    private final Path root;
    private final Path uploads;

    public TrainingFiles(Path root) throws IOException {
        this.root = root;
        this.uploads = root.resolve(".uploads");
        Files.createDirectories(uploads);
    }

    public static String requireFileId(String fileId) {
        if (fileId == null || !FILE_ID.matcher(fileId).matches()) {
            throw new IllegalArgumentException("a file id is 'file-' and 1-64 letters, digits, '-' or '_'; got: " + fileId);
        }
        return fileId;
    }

    /** Where an upload in progress writes. */
    public Path uploadPath(String uploadId) {
        if (!UPLOAD_ID.matcher(uploadId).matches()) {
            throw new IllegalArgumentException("bad upload id: " + uploadId);
        }
        return uploads.resolve(uploadId);
    }

    /** Makes an upload the file {@code fileId} of {@code tenant}: fsync, hash, atomic rename, fsync of the folder. */
    public FileRef commit(String uploadId, TenantId tenant, String fileId) throws IOException {
        Path temp = uploadPath(uploadId);
        fsync(temp, false);
        String sha256 = sha256(temp);
        long bytes = Files.size(temp);
        Path dir = root.resolve(tenant.value());
        Files.createDirectories(dir);
        Files.move(temp, dir.resolve(requireFileId(fileId)), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        fsync(dir, true);
        return new FileRef(tenant, fileId, sha256, bytes);
    }

    public void discard(String uploadId) throws IOException {
        Files.deleteIfExists(uploadPath(uploadId));
    }

    /** The path of a stored file after checking its size and SHA-256, or a {@link FileStoreException} saying what differs. */
    public Path verified(FileRef file) throws IOException {
        Path path = pathOf(file.tenant(), file.fileId());
        try {
            long size = Files.size(path);
            if (size != file.bytes()) {
                throw new FileStoreException(file.fileId() + " has " + size + " bytes on disk, expected " + file.bytes());
            }
        } catch (NoSuchFileException e) {
            throw new FileStoreException("no file " + file.fileId() + " of tenant " + file.tenant());
        }
        String actual = sha256(path);
        if (!actual.equals(file.sha256())) {
            throw new FileStoreException(file.fileId() + " is corrupt: its SHA-256 is " + actual + ", expected " + file.sha256());
        }
        return path;
    }

    /** Deletes a stored file; false when there was none. */
    public boolean delete(TenantId tenant, String fileId) throws IOException {
        boolean existed = Files.deleteIfExists(pathOf(tenant, fileId));
        if (existed) {
            fsync(root.resolve(tenant.value()), true);
        }
        return existed;
    }

    Path pathOf(TenantId tenant, String fileId) {
        return root.resolve(tenant.value()).resolve(requireFileId(fileId));
    }

    static String sha256(Path file) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        byte[] buffer = new byte[64 * 1024];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
                digest.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    private static void fsync(Path path, boolean directory) throws IOException {
        try (FileChannel channel = FileChannel.open(path, directory ? StandardOpenOption.READ : StandardOpenOption.WRITE)) {
            channel.force(true);
        }
    }

    /** A stored file that is missing or differs from what was stored. */
    public static final class FileStoreException extends IOException {
        public FileStoreException(String message) {
            super(message);
        }
    }
}
