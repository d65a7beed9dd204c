package io.loraplex.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The reader takes only files whose tensors tile the data section exactly, with each header key once. */
class SafetensorsStrictTest {

    @TempDir
    Path dir;

    /** A safetensors file of this header and {@code dataBytes} zero bytes of data. */
    private Path file(String name, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    private static String tensor(String name, long start, long end) {
        return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[" + (end - start) / 4 + "],\"data_offsets\":[" + start + "," + end + "]}";
    }

    private void refused(Path p, String... fragments) {
        IOException e = assertThrows(IOException.class, () -> {
            try (Arena arena = Arena.ofConfined()) {
                SafetensorsFile.open(p, arena);
            }
        });
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' should mention '" + f + "'");
        }
    }

    @Test
    void aFileWhoseTensorsTileItsDataIsRead() throws Exception {
        Path p = file("ok.safetensors", "{" + tensor("b", 8, 16) + "," + tensor("a", 0, 8) + "}", 16);
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(2, SafetensorsFile.open(p, arena).tensors().size());
        }
    }

    @Test
    void overlappingDataOffsetsAreRefusedNamingBothTensors() throws Exception {
        refused(file("overlap.safetensors", "{" + tensor("a", 0, 8) + "," + tensor("b", 4, 12) + "}", 12),
                "tensor 'b'", "data_offsets [4, 12]", "overlap tensor 'a'", "ends at 8");
    }

    @Test
    void aGapBetweenTensorsIsRefusedNamingTheTensorAfterIt() throws Exception {
        refused(file("gap.safetensors", "{" + tensor("a", 0, 8) + "," + tensor("b", 12, 20) + "}", 20),
                "tensor 'b'", "gap of 4 bytes after tensor 'a'");
        refused(file("gap0.safetensors", "{" + tensor("a", 4, 12) + "}", 12),
                "tensor 'a'", "gap of 4 bytes after the start of the data section");
    }

    @Test
    void trailingBytesAfterTheLastTensorAreRefused() throws Exception {
        refused(file("trailing.safetensors", "{" + tensor("a", 0, 8) + "}", 13),
                "5 trailing bytes after the last tensor, 'a'");
    }

    @Test
    void aDuplicateHeaderKeyIsRefusedNamingIt() throws Exception {
        refused(file("dup.safetensors", "{" + tensor("a", 0, 8) + "," + tensor("a", 8, 16) + "}", 16),
                "key 'a' appears twice");
    }
}
