package io.loraplex.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one adapter directory layout: {@code <root>/<tenant>/<hash>/}, work in progress under {@code <root>/.tmp/}. */
class AdapterDirectoryTest {

    private static final TenantId ACME = new TenantId("acme");
    private static final ContentHash HASH = ContentHash.parse("ab".repeat(32));

    @Test
    void aVersionLiesUnderItsTenantAndContentHash(@TempDir Path root) {
        AdapterDirectory layout = new AdapterDirectory(root);
        assertEquals(root.resolve("acme").resolve("ab".repeat(32)), layout.version(ACME, HASH));
        assertEquals(layout.version(ACME, HASH), layout.version(new AdapterRef(ACME, "cafe", 2, HASH)));
        assertEquals(root.resolve("acme"), layout.tenant(ACME));
        assertEquals(root.resolve(".tmp").resolve("upload-1"), layout.temporary("upload-1"));
    }

    @Test
    void aVersionIsCompleteOnlyWithBothFiles(@TempDir Path root) throws Exception {
        AdapterDirectory layout = new AdapterDirectory(root);
        Path dir = Files.createDirectories(layout.version(ACME, HASH));
        assertFalse(layout.complete(ACME, HASH));
        Files.writeString(dir.resolve(ContentHash.CONFIG_FILE), "{}");
        assertFalse(layout.complete(ACME, HASH), "the weights are missing");
        Files.writeString(dir.resolve(ContentHash.WEIGHTS_FILE), "w");
        assertTrue(layout.complete(ACME, HASH));
    }

    @Test
    void aLayoutNeedsARoot() {
        NullPointerException e = assertThrows(NullPointerException.class, () -> new AdapterDirectory(null));
        assertEquals("root", e.getMessage());
    }
}
