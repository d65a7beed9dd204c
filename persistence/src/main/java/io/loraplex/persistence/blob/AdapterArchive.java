package io.loraplex.persistence.blob;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.Set;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Unpacks an uploaded {@code .tar} or {@code .tar.gz} into an upload's directory. It accepts the two
 * adapter files at the top or inside one top-level directory, and refuses everything else before
 * writing it: absolute paths and {@code ..}, links, devices, other files (pickled weights with
 * their own message), duplicates, and more than {@code maxBytes} of content (a gzip bomb).
 */
final class AdapterArchive {

    private static final int GZIP_MAGIC_1 = 0x1f;
    private static final int GZIP_MAGIC_2 = 0x8b;

    private AdapterArchive() {
    }

    /**
     * Writes the archive's adapter files into {@code targetDir}; returns the bytes written.
     *
     * @param gzip whether the sender named it {@code .tar.gz}; a mismatch with the content is refused
     */
    static long extract(Path archive, boolean gzip, Path targetDir, long maxBytes) throws IOException {
        return extract(archive, gzip, targetDir, maxBytes, total -> {
        });
    }

    /** Charges the bytes about to be written before they are: {@code total} is the content written so far plus them. */
    interface Charge {
        void upTo(long total) throws IOException;
    }

    /** {@link #extract(Path, boolean, Path, long)}, charging every buffer before it is written (a bomb stops at its quota). */
    static long extract(Path archive, boolean gzip, Path targetDir, long maxBytes, Charge charge) throws IOException {
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(archive), 1 << 16)) {
            raw.mark(2);
            boolean gzipped = raw.read() == GZIP_MAGIC_1 && raw.read() == GZIP_MAGIC_2;
            raw.reset();
            if (gzip && !gzipped) {
                throw new BlobException("the archive is named .tar.gz but is not gzip-compressed");
            }
            if (!gzip && gzipped) {
                throw new BlobException("the archive is gzip-compressed; name it .tar.gz (or .tgz)");
            }
            InputStream in = gzip ? new GZIPInputStream(raw, 1 << 16) : raw;
            return unpack(new TarReader(in), targetDir, maxBytes, charge);
        } catch (EOFException e) {
            throw new BlobException("truncated archive: it ends early (" + e.getMessage() + ")");
        } catch (ZipException e) {
            throw new BlobException("corrupt gzip stream: " + e.getMessage());
        }
    }

    private static long unpack(TarReader tar, Path targetDir, long maxBytes, Charge charge) throws IOException {
        String topDirectory = null; // the one directory the files may sit in, once seen
        Set<String> written = new HashSet<>();
        long total = 0;
        for (TarReader.Entry entry; (entry = tar.next()) != null; ) {
            String path = safePath(entry.name());
            if (path.isEmpty()) {
                continue; // "./"
            }
            switch (entry.type()) {
                case HARD_LINK, SYMBOLIC_LINK -> throw new BlobException(
                        "links are not accepted in an archive: " + entry.name() + " -> " + entry.linkName());
                case DEVICE, FIFO -> throw new BlobException("devices and pipes are not accepted in an archive: " + entry.name());
                case OTHER -> throw new BlobException(
                        "unsupported entry type '" + entry.typeFlag() + "' in the archive: " + entry.name());
                case DIRECTORY -> {
                    String dir = path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
                    if (dir.contains("/") || (topDirectory != null && !topDirectory.equals(dir))) {
                        throw new BlobException("unexpected directory in the archive: " + entry.name()
                                + " (the adapter files belong at the top or in one top-level directory)");
                    }
                    topDirectory = dir;
                }
                case FILE -> {
                    int slash = path.lastIndexOf('/');
                    String dir = slash < 0 ? null : path.substring(0, slash);
                    String file = path.substring(slash + 1);
                    String refusal = AdapterFiles.refusal(file);
                    if (refusal != null) {
                        throw new BlobException(refusal + " (in the archive: " + entry.name() + ")");
                    }
                    if (dir != null && (dir.contains("/") || (topDirectory != null && !topDirectory.equals(dir)))) {
                        throw new BlobException("unexpected file in the archive: " + entry.name()
                                + " (the adapter files belong at the top or in one top-level directory)");
                    }
                    if (dir != null) {
                        topDirectory = dir;
                    }
                    if (!written.add(file)) {
                        throw new BlobException("the archive holds " + file + " twice");
                    }
                    total += copy(tar.content(), targetDir.resolve(file), maxBytes - total, maxBytes, charge);
                }
            }
        }
        return total;
    }

    /** The entry's path without leading "./", or a refusal when it is absolute or climbs out. */
    private static String safePath(String name) throws BlobException {
        if (name.startsWith("/") || name.contains("\\") || name.contains("\0") || (name.length() > 1 && name.charAt(1) == ':')) {
            throw new BlobException("unsafe path in archive: " + name);
        }
        for (String segment : name.split("/")) {
            if (segment.equals("..")) {
                throw new BlobException("unsafe path in archive: " + name);
            }
        }
        String path = name;
        while (path.startsWith("./")) {
            path = path.substring(2);
        }
        return path.equals(".") ? "" : path;
    }

    private static long copy(InputStream content, Path target, long allowed, long maxBytes, Charge charge) throws IOException {
        long written = 0;
        byte[] buffer = new byte[1 << 16];
        try (OutputStream out = Files.newOutputStream(target, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (int n; (n = content.read(buffer)) > 0; ) {
                written += n;
                if (written > allowed) {
                    throw BlobException.overLimit(maxBytes);
                }
                charge.upTo(maxBytes - allowed + written);
                out.write(buffer, 0, n);
            }
        }
        return written;
    }
}
