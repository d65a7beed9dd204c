package io.loraplex.deploy;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * The data directory and the files in it that hold keys are the owner's alone: the directory
 * {@code rwx------}, each key file {@code rw-------}. Both are created with those permissions (never
 * chmod-ed after being written, so there is no moment where another user could read them), and a
 * data directory from an older version is tightened at start. Where the file system has no POSIX
 * permissions (Windows), its own access control applies and nothing is changed.
 */
final class PrivateFiles {

    static final Set<PosixFilePermission> OWNER_DIR = PosixFilePermissions.fromString("rwx------");
    static final Set<PosixFilePermission> OWNER_FILE = PosixFilePermissions.fromString("rw-------");

    private PrivateFiles() {
    }

    /**
     * Creates {@code dir} (its parents as the umask says) as {@code rwx------}, or tightens an existing
     * one and the given secret files in it to the owner alone, saying so on {@code log}.
     */
    static void secureDataDir(Path dir, List<Path> secretFiles, PrintStream log) throws IOException {
        Path parent = dir.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        if (!Files.isDirectory(dir)) {
            if (posix(parent)) {
                Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(OWNER_DIR));
            } else {
                Files.createDirectory(dir);
            }
        } else {
            tighten(dir, OWNER_DIR, log);
        }
        for (Path f : secretFiles) {
            if (Files.isRegularFile(f)) {
                tighten(f, OWNER_FILE, log);
            }
        }
    }

    /**
     * Writes {@code text} to {@code file}, replacing it atomically, through a temporary file that is
     * created {@code rw-------}.
     */
    static void write(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.deleteIfExists(tmp); // left by a crash, with whatever permissions it had
        FileAttribute<?>[] attrs = posix(file.toAbsolutePath().getParent()) ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(OWNER_FILE)}
                : new FileAttribute<?>[0];
        try (FileChannel ch = FileChannel.open(tmp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), attrs)) {
            ByteBuffer bytes = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
            while (bytes.hasRemaining()) {
                ch.write(bytes);
            }
            ch.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** Removes every permission of group and others from {@code path} beyond {@code allowed}'s. */
    private static void tighten(Path path, Set<PosixFilePermission> allowed, PrintStream log) throws IOException {
        if (!posix(path)) {
            return;
        }
        Set<PosixFilePermission> current = Files.getPosixFilePermissions(path);
        if (!allowed.containsAll(current)) {
            Set<PosixFilePermission> tightened = current.stream().filter(allowed::contains)
                    .collect(() -> EnumSet.noneOf(PosixFilePermission.class), Set::add, Set::addAll);
            Files.setPosixFilePermissions(path, tightened);
            log.printf("loraplex: %s was %s; now %s (the owner's alone)%n", path, PosixFilePermissions.toString(current),
                    PosixFilePermissions.toString(tightened));
        }
    }

    private static boolean posix(Path path) throws IOException {
        return path != null && Files.getFileStore(path).supportsFileAttributeView(PosixFileAttributeView.class);
    }
}
