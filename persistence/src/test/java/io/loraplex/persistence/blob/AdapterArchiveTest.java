package io.loraplex.persistence.blob;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.ContentHash;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Unpacking adapter archives: the accepted layouts, archives written by Python's {@code tarfile}
 * (pax and GNU long names; {@code src/test/resources/blob/}, made with
 * {@code tarfile.open(name, 'w:gz', format=tarfile.PAX_FORMAT | GNU_FORMAT)} around a directory
 * named with 104 characters), and every refusal with its message.
 */
class AdapterArchiveTest {

    static final byte[] CONFIG = "{\"r\": 4, \"peft_type\": \"LORA\"}".getBytes(StandardCharsets.UTF_8);
    static final byte[] WEIGHTS = weights(768);

    @TempDir
    Path dir;

    static byte[] weights(int n) {
        byte[] w = new byte[n];
        for (int i = 0; i < n; i++) {
            w[i] = (byte) i;
        }
        return w;
    }

    @Test
    void unpacksTheTwoFilesAtTheTop() throws IOException {
        long bytes = extract(new TarBuilder().file(ContentHash.CONFIG_FILE, CONFIG).file(ContentHash.WEIGHTS_FILE, WEIGHTS).tar(), false);
        assertEquals(CONFIG.length + WEIGHTS.length, bytes);
        assertArrayEquals(CONFIG, Files.readAllBytes(dir.resolve(ContentHash.CONFIG_FILE)));
        assertArrayEquals(WEIGHTS, Files.readAllBytes(dir.resolve(ContentHash.WEIGHTS_FILE)));
    }

    @Test
    void unpacksTheTwoFilesInsideOneDirectoryGzipped() throws IOException {
        extract(new TarBuilder().directory("./").directory("./my-adapter/")
                .file("./my-adapter/" + ContentHash.CONFIG_FILE, CONFIG)
                .file("./my-adapter/" + ContentHash.WEIGHTS_FILE, WEIGHTS).tarGz(), true);
        assertArrayEquals(WEIGHTS, Files.readAllBytes(dir.resolve(ContentHash.WEIGHTS_FILE)));
    }

    @Test
    void readsPaxAndGnuLongNamesWrittenByPython() throws IOException {
        for (String fixture : new String[] {"pax-long-names.tar.gz", "gnu-long-names.tar.gz"}) {
            Path work = Files.createDirectory(dir.resolve(fixture + ".out"));
            Path archive = dir.resolve(fixture);
            try (InputStream in = getClass().getResourceAsStream("/blob/" + fixture)) {
                Files.write(archive, in.readAllBytes());
            }
            AdapterArchive.extract(archive, true, work, 1 << 20);
            assertArrayEquals(CONFIG, Files.readAllBytes(work.resolve(ContentHash.CONFIG_FILE)), fixture);
            assertArrayEquals(Arrays.copyOf(repeat256(3), 768), Files.readAllBytes(work.resolve(ContentHash.WEIGHTS_FILE)), fixture);
        }
    }

    @Test
    void refusesPathsThatClimbOutOrAreAbsolute() {
        assertRefused(new TarBuilder().file("../x", "boom").tar(), "unsafe path in archive: ../x");
        assertRefused(new TarBuilder().file("a/../../" + ContentHash.CONFIG_FILE, CONFIG).tar(),
                "unsafe path in archive: a/../../adapter_config.json");
        assertRefused(new TarBuilder().file("/etc/" + ContentHash.CONFIG_FILE, CONFIG).tar(),
                "unsafe path in archive: /etc/adapter_config.json");
        assertTrue(Files.notExists(dir.getParent().resolve("x")));
    }

    @Test
    void refusesLinksAndDevices() {
        assertRefused(new TarBuilder().symlink(ContentHash.WEIGHTS_FILE, "/etc/passwd").tar(),
                "links are not accepted in an archive: adapter_model.safetensors -> /etc/passwd");
        assertRefused(new TarBuilder().entry(ContentHash.CONFIG_FILE, '1', new byte[0], "other").tar(),
                "links are not accepted in an archive: adapter_config.json -> other");
        assertRefused(new TarBuilder().entry("null", '3', new byte[0], "").tar(), "devices and pipes are not accepted in an archive: null");
    }

    @Test
    void refusesPickledWeightsAndOtherFiles() {
        assertRefused(new TarBuilder().file(ContentHash.CONFIG_FILE, CONFIG).file("adapter_model.bin", WEIGHTS).tar(),
                "pickled PyTorch weights (.bin) are not accepted: adapter_model.bin; upload adapter_model.safetensors");
        assertRefused(new TarBuilder().file("x/model.pt", WEIGHTS).tar(), "pickled PyTorch weights (.pt) are not accepted");
        assertRefused(new TarBuilder().file("README.md", "hi").tar(), "unexpected file README.md");
        assertRefused(new TarBuilder().file("a/b/" + ContentHash.CONFIG_FILE, CONFIG).tar(), "unexpected file in the archive: a/b/");
        assertRefused(new TarBuilder().file("a/" + ContentHash.CONFIG_FILE, CONFIG).file("b/" + ContentHash.WEIGHTS_FILE, WEIGHTS).tar(),
                "unexpected file in the archive: b/adapter_model.safetensors");
        assertRefused(new TarBuilder().file(ContentHash.CONFIG_FILE, CONFIG).file("./" + ContentHash.CONFIG_FILE, CONFIG).tar(),
                "the archive holds adapter_config.json twice");
    }

    @Test
    void refusesTruncatedAndCorruptArchives() {
        byte[] whole = new TarBuilder().file(ContentHash.CONFIG_FILE, CONFIG).file(ContentHash.WEIGHTS_FILE, WEIGHTS).tar();
        assertRefused(Arrays.copyOf(whole, 512 + 512 + 300), "truncated archive");
        assertRefused(Arrays.copyOf(whole, 512 + 512 + 100), "truncated archive"); // inside the second header
        assertRefused(Arrays.copyOf(whole, whole.length - 1024), "truncated archive: it ends without its end-of-archive marker");
        byte[] gz = TarBuilder.gzip(whole);
        assertRefused(Arrays.copyOf(gz, gz.length / 2), true, "truncated archive");
        assertRefused("definitely not a tar archive, just some text that goes on".repeat(20).getBytes(StandardCharsets.UTF_8),
                "not a tar archive");
    }

    @Test
    void refusesAGzipMismatchEitherWay() {
        byte[] tar = new TarBuilder().file(ContentHash.CONFIG_FILE, CONFIG).tar();
        assertRefused(tar, true, "the archive is named .tar.gz but is not gzip-compressed");
        assertRefused(TarBuilder.gzip(tar), false, "the archive is gzip-compressed; name it .tar.gz");
    }

    @Test
    void refusesContentBeyondTheLimitEvenWhenItCompressesWell() throws IOException {
        byte[] bomb = new TarBuilder().file(ContentHash.CONFIG_FILE, CONFIG).file(ContentHash.WEIGHTS_FILE, new byte[200_000]).tarGz();
        assertTrue(bomb.length < 10_000);
        Path archive = dir.resolve("bomb.tar.gz");
        Files.write(archive, bomb);
        BlobException e = assertThrows(BlobException.class, () -> AdapterArchive.extract(archive, true, dir, 100_000));
        assertEquals("the upload exceeds the limit of 100000 bytes", e.getMessage());
    }

    private long extract(byte[] archive, boolean gzip) throws IOException {
        Path file = dir.resolve(gzip ? "in.tar.gz" : "in.tar");
        Files.write(file, archive);
        return AdapterArchive.extract(file, gzip, dir, 1 << 20);
    }

    private void assertRefused(byte[] archive, String message) {
        assertRefused(archive, false, message);
    }

    private void assertRefused(byte[] archive, boolean gzip, String message) {
        BlobException e = assertThrows(BlobException.class, () -> {
            Path work = Files.createTempDirectory(dir, "work");
            Path file = Files.write(dir.resolve("archive-" + System.nanoTime()), archive);
            AdapterArchive.extract(file, gzip, work, 1 << 20);
        });
        assertTrue(e.getMessage().startsWith(message), "expected '" + message + "', got: " + e.getMessage());
    }

    private static byte[] repeat256(int times) {
        byte[] out = new byte[256 * times];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) i;
        }
        return out;
    }
}
