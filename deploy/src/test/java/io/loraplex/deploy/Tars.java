package io.loraplex.deploy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

/** Writes small ustar archives, including hostile ones (names with {@code ..}), for upload tests. */
final class Tars {

    private Tars() {
    }

    /** A tar of the given entries (name to bytes), in order. */
    static byte[] tar(Map<String, byte[]> entries) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Map.Entry<String, byte[]> e : entries.entrySet()) {
            byte[] header = new byte[512];
            put(header, 0, 100, e.getKey());
            put(header, 100, 8, "0000644");
            put(header, 108, 8, "0000000");
            put(header, 116, 8, "0000000");
            put(header, 124, 12, String.format("%011o", e.getValue().length));
            put(header, 136, 12, String.format("%011o", 0));
            header[156] = '0';
            put(header, 257, 6, "ustar");
            put(header, 263, 2, "00");
            for (int i = 148; i < 156; i++) {
                header[i] = ' ';
            }
            int sum = 0;
            for (byte b : header) {
                sum += b & 0xff;
            }
            put(header, 148, 7, String.format("%06o", sum) + "\0");
            out.writeBytes(header);
            out.writeBytes(e.getValue());
            out.writeBytes(new byte[(512 - e.getValue().length % 512) % 512]);
        }
        out.writeBytes(new byte[1024]);
        return out.toByteArray();
    }

    /**
     * A gzipped tar of {@code entries}, then one entry {@code name} of {@code size} bytes: {@code head}
     * followed by zeros, streamed through the compressor so the unpacked size never sits in memory.
     * Zeros compress about a thousandfold: a small upload that unpacks to hundreds of MiB.
     */
    static byte[] tarGzWithZeros(Map<String, byte[]> entries, String name, byte[] head, long size) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out, 1 << 16)) {
            byte[] small = tar(entries);
            gz.write(small, 0, small.length - 1024); // without the end-of-archive blocks
            byte[] header = tar(Map.of(name, new byte[0]));
            put(header, 124, 12, String.format("%011o", size));
            for (int i = 148; i < 156; i++) {
                header[i] = ' ';
            }
            int sum = 0;
            for (int i = 0; i < 512; i++) {
                sum += header[i] & 0xff;
            }
            put(header, 148, 7, String.format("%06o", sum) + "\0");
            gz.write(header, 0, 512);
            gz.write(head);
            byte[] zeros = new byte[1 << 20];
            for (long left = size - head.length; left > 0; left -= zeros.length) {
                gz.write(zeros, 0, (int) Math.min(zeros.length, left));
            }
            gz.write(new byte[(int) ((512 - size % 512) % 512)]);
            gz.write(new byte[1024]);
        }
        return out.toByteArray();
    }

    static byte[] gzip(byte[] bytes) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(bytes);
        }
        return out.toByteArray();
    }

    static Map<String, byte[]> entries(Object... nameThenBytes) {
        Map<String, byte[]> m = new LinkedHashMap<>();
        for (int i = 0; i < nameThenBytes.length; i += 2) {
            m.put((String) nameThenBytes[i], (byte[]) nameThenBytes[i + 1]);
        }
        return m;
    }

    private static void put(byte[] header, int offset, int length, String value) {
        byte[] b = value.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(b, 0, header, offset, Math.min(b.length, length));
    }
}
