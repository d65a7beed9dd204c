package io.loraplex.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ContentHashTest {

    @Test
    void definitionIsHashOfTheTwoFileHashes() throws Exception {
        byte[] config = "{\"r\": 8}".getBytes(StandardCharsets.UTF_8);
        byte[] weights = {1, 2, 3, 4, 5};
        MessageDigest outer = MessageDigest.getInstance("SHA-256");
        outer.update(MessageDigest.getInstance("SHA-256").digest(config));
        outer.update(MessageDigest.getInstance("SHA-256").digest(weights));
        String expected = HexFormat.of().formatHex(outer.digest());

        assertEquals(expected, ContentHash.of(config, weights).hex());
    }

    @Test
    void directoryHashEqualsByteHash(@TempDir Path dir) throws Exception {
        byte[] config = "{}".getBytes(StandardCharsets.UTF_8);
        byte[] weights = new byte[200_000];
        weights[12345] = 7;
        Files.write(dir.resolve(ContentHash.CONFIG_FILE), config);
        Files.write(dir.resolve(ContentHash.WEIGHTS_FILE), weights);

        assertEquals(ContentHash.of(config, weights), ContentHash.ofDirectory(dir));
    }

    @Test
    void swappingTheFilesChangesTheHash() {
        byte[] a = {1};
        byte[] b = {2};
        assertNotEquals(ContentHash.of(a, b), ContentHash.of(b, a));
    }

    @Test
    void refusesMalformedHex() {
        assertThrows(IllegalArgumentException.class, () -> ContentHash.parse("ABC"));
        assertThrows(IllegalArgumentException.class, () -> ContentHash.parse("g".repeat(64)));
    }
}
