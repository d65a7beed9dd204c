package io.loraplex.persistence.blob;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * Reads the entries of a tar stream (POSIX ustar, with pax {@code x}/{@code g} and GNU {@code L}/{@code K}
 * headers for long names): just enough for adapter archives. Each header's checksum is verified; a
 * stream that ends before its end-of-archive marker is a truncated archive.
 */
final class TarReader {

    /** The entry types this reader tells apart (POSIX typeflag characters). */
    enum Type { FILE, DIRECTORY, HARD_LINK, SYMBOLIC_LINK, DEVICE, FIFO, OTHER }

    /** One entry; {@code name} as the archive spells it, after any pax or GNU long name. */
    record Entry(String name, Type type, char typeFlag, String linkName) {
    }

    static final int BLOCK = 512;
    /** Pax and GNU long-name headers larger than this are refused rather than read into memory. */
    private static final int MAX_META_BYTES = 64 * 1024;

    private final InputStream in;
    private final byte[] header = new byte[BLOCK];
    private long remaining; // bytes of the current entry's content not yet read
    private long padding;   // bytes after them up to the next block boundary
    private int entries;

    TarReader(InputStream in) {
        this.in = in;
    }

    /** The next entry, or null at the end-of-archive marker. */
    Entry next() throws IOException {
        String longName = null;
        String longLink = null;
        Long paxSize = null;
        while (true) {
            skipContent();
            if (!readHeader()) {
                return null;
            }
            char flag = (char) (header[156] & 0xff);
            String name = longName != null ? longName : name();
            long size = paxSize != null ? paxSize : size();
            if (size < 0) {
                throw new BlobException("corrupt archive: negative size in the header of " + name);
            }
            remaining = size;
            padding = (BLOCK - size % BLOCK) % BLOCK;
            switch (flag) {
                case 'x' -> {
                    PaxRecords pax = PaxRecords.parse(readMeta(name));
                    if (pax.path() != null) {
                        longName = pax.path();
                    }
                    if (pax.linkPath() != null) {
                        longLink = pax.linkPath();
                    }
                    if (pax.size() != null) {
                        paxSize = pax.size();
                    }
                }
                case 'g' -> skipContent();
                case 'L' -> longName = trimNul(readMeta(name));
                case 'K' -> longLink = trimNul(readMeta(name));
                default -> {
                    entries++;
                    String link = longLink != null ? longLink : text(157, 100);
                    return new Entry(name, type(flag), flag, link);
                }
            }
        }
    }

    /** The current entry's content; reading past its end returns -1. */
    InputStream content() {
        return new InputStream() {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (remaining == 0) {
                    return -1;
                }
                int n = in.read(b, off, (int) Math.min(len, remaining));
                if (n < 0) {
                    throw new EOFException("the entry ends " + remaining + " bytes early");
                }
                remaining -= n;
                return n;
            }
        };
    }

    private static Type type(char flag) {
        return switch (flag) {
            case '0', '\0', '7' -> Type.FILE;
            case '5' -> Type.DIRECTORY;
            case '1' -> Type.HARD_LINK;
            case '2' -> Type.SYMBOLIC_LINK;
            case '3', '4' -> Type.DEVICE;
            case '6' -> Type.FIFO;
            default -> Type.OTHER;
        };
    }

    /** Reads a header block; false at the end-of-archive marker (a zero block). */
    private boolean readHeader() throws IOException {
        int read = in.readNBytes(header, 0, BLOCK);
        if (read < BLOCK) {
            throw new BlobException(read == 0 && entries > 0
                    ? "truncated archive: it ends without its end-of-archive marker"
                    : "truncated archive: it ends inside a header");
        }
        boolean zero = true;
        for (byte b : header) {
            if (b != 0) {
                zero = false;
                break;
            }
        }
        if (zero) {
            return false;
        }
        long stored;
        try {
            stored = octal(148, 8);
        } catch (BlobException e) {
            stored = -1; // not a number: no header
        }
        long sum = 0;
        for (int i = 0; i < BLOCK; i++) {
            sum += (i >= 148 && i < 156) ? ' ' : (header[i] & 0xff);
        }
        if (stored != sum) {
            throw new BlobException(entries == 0
                    ? "not a tar archive (its first header's checksum does not match)"
                    : "corrupt archive: the header after entry " + entries + " has a bad checksum");
        }
        return true;
    }

    private String name() {
        String name = text(0, 100);
        boolean ustar = text(257, 5).equals("ustar");
        String prefix = ustar ? text(345, 155) : "";
        return prefix.isEmpty() ? name : prefix + "/" + name;
    }

    /** The size field: octal, or GNU base-256 when its first byte has the high bit set. */
    private long size() throws BlobException {
        if ((header[124] & 0x80) != 0) {
            long value = header[124] & 0x7f;
            for (int i = 125; i < 136; i++) {
                value = (value << 8) | (header[i] & 0xff);
            }
            return value;
        }
        return octal(124, 12);
    }

    private long octal(int offset, int length) throws BlobException {
        long value = 0;
        boolean digits = false;
        for (int i = offset; i < offset + length; i++) {
            int c = header[i] & 0xff;
            if (c == 0 || (c == ' ' && digits)) {
                break;
            }
            if (c == ' ') {
                continue;
            }
            if (c < '0' || c > '7') {
                throw new BlobException("corrupt archive: a header field holds '" + (char) c + "' where an octal number belongs");
            }
            value = value * 8 + (c - '0');
            digits = true;
        }
        return value;
    }

    private String text(int offset, int length) {
        int end = offset;
        while (end < offset + length && header[end] != 0) {
            end++;
        }
        return new String(header, offset, end - offset, StandardCharsets.UTF_8);
    }

    private byte[] readMeta(String name) throws IOException {
        if (remaining > MAX_META_BYTES) {
            throw new BlobException("corrupt archive: a " + remaining + "-byte extended header (" + name + ")");
        }
        byte[] meta = content().readAllBytes();
        if (meta.length < remaining) {
            throw new BlobException("truncated archive: it ends inside an extended header");
        }
        return meta;
    }

    private void skipContent() throws IOException {
        long skip = remaining + padding;
        remaining = 0;
        padding = 0;
        if (skip > 0) {
            in.skipNBytes(skip); // EOFException when the archive ends early
        }
    }

    /** The pax records loraplex uses ({@code path}, {@code linkpath}, {@code size}); others are ignored. */
    private record PaxRecords(String path, String linkPath, Long size) {

        /** Parses {@code "<length> <key>=<value>\n"} records. */
        static PaxRecords parse(byte[] data) throws BlobException {
            String path = null;
            String linkPath = null;
            Long size = null;
            int at = 0;
            while (at < data.length && data[at] != 0) {
                int space = at;
                while (space < data.length && data[space] != ' ') {
                    space++;
                }
                int length;
                try {
                    length = Integer.parseInt(new String(data, at, space - at, StandardCharsets.US_ASCII));
                } catch (NumberFormatException e) {
                    throw new BlobException("corrupt archive: a malformed pax header record");
                }
                if (length <= space - at || at + length > data.length) {
                    throw new BlobException("corrupt archive: a malformed pax header record");
                }
                String record = new String(data, space + 1, at + length - space - 2, StandardCharsets.UTF_8);
                int eq = record.indexOf('=');
                if (eq > 0) {
                    String key = record.substring(0, eq);
                    String value = record.substring(eq + 1);
                    switch (key) {
                        case "path" -> path = value;
                        case "linkpath" -> linkPath = value;
                        case "size" -> {
                            try {
                                size = Long.parseLong(value);
                            } catch (NumberFormatException e) {
                                throw new BlobException("corrupt archive: a pax size of " + value);
                            }
                        }
                        default -> { }
                    }
                }
                at += length;
            }
            return new PaxRecords(path, linkPath, size);
        }
    }

    private static String trimNul(byte[] bytes) {
        int end = bytes.length;
        while (end > 0 && bytes[end - 1] == 0) {
            end--;
        }
        return new String(bytes, 0, end, StandardCharsets.UTF_8);
    }
}
