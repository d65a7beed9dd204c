package io.loraplex.persistence.blob;

import static io.loraplex.persistence.blob.AdapterArchiveTest.CONFIG;
import static io.loraplex.persistence.blob.AdapterArchiveTest.WEIGHTS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The store's files: commit, verified reads of a tampered blob, deletion and the sweep at start. */
class BlobStoreTest {

    static final TenantId ACME = new TenantId("acme");

    @TempDir
    Path root;

    private BlobStore.Committed commit(BlobStore store, TenantId tenant, byte[] config, byte[] weights) throws IOException {
        Path upload = store.newUploadDirectory("u-" + System.nanoTime());
        Files.write(upload.resolve(ContentHash.CONFIG_FILE), config);
        Files.write(upload.resolve(ContentHash.WEIGHTS_FILE), weights);
        return store.commit(tenant, upload);
    }

    @Test
    void commitsIntoTheLayoutGpuNodesRead() throws IOException {
        BlobStore store = new BlobStore(root);
        BlobStore.Committed committed = commit(store, ACME, CONFIG, WEIGHTS);
        Path dir = root.resolve("acme").resolve(committed.hash().hex());
        assertEquals(dir, store.directory(ACME, committed.hash()));
        assertEquals(committed.hash(), ContentHash.ofDirectory(dir));
        try (InputStream in = store.open(ACME, committed.hash(), ContentHash.WEIGHTS_FILE)) {
            assertArrayEquals(WEIGHTS, in.readAllBytes());
        }
        assertEquals(0, store.sweepTemporary());
    }

    @Test
    void aTamperedBlobIsRefusedOnReadAndReplacedByANewUpload() throws IOException {
        BlobStore store = new BlobStore(root);
        ContentHash hash = commit(store, ACME, CONFIG, WEIGHTS).hash();
        Path weights = store.directory(ACME, hash).resolve(ContentHash.WEIGHTS_FILE);
        byte[] tampered = WEIGHTS.clone();
        tampered[100] ^= 1;
        Files.write(weights, tampered);
        BlobException e = assertThrows(BlobException.class, () -> store.verifiedPath(ACME, hash));
        assertTrue(e.getMessage().startsWith("blob acme/" + hash + " is corrupt: its files hash to "), e.getMessage());
        assertThrows(BlobException.class, () -> store.open(ACME, hash, ContentHash.CONFIG_FILE));

        Files.delete(store.directory(ACME, hash).resolve(ContentHash.CONFIG_FILE));
        assertEquals("blob acme/" + hash + " is incomplete: it has no adapter_config.json",
                assertThrows(BlobException.class, () -> store.verifiedPath(ACME, hash)).getMessage());

        assertEquals(hash, commit(store, ACME, CONFIG, WEIGHTS).hash());
        assertEquals(store.directory(ACME, hash), store.verifiedPath(ACME, hash));
        assertEquals(0, store.sweepTemporary());
    }

    @Test
    void blobsAreNamespacedPerTenant() throws IOException {
        BlobStore store = new BlobStore(root);
        ContentHash hash = commit(store, ACME, CONFIG, WEIGHTS).hash();
        assertEquals("no blob globex/" + hash,
                assertThrows(BlobException.class, () -> store.verifiedPath(new TenantId("globex"), hash)).getMessage());
    }

    @Test
    void deleteRemovesTheWholeDirectory() throws IOException {
        BlobStore store = new BlobStore(root);
        ContentHash hash = commit(store, ACME, CONFIG, WEIGHTS).hash();
        assertTrue(store.delete(ACME, hash));
        assertFalse(Files.exists(store.directory(ACME, hash)));
        assertFalse(store.delete(ACME, hash));
        assertEquals(0, store.sweepTemporary());
    }

    @Test
    void sweepRemovesLeftoversAndUnreferencedBlobsOnly() throws IOException {
        BlobStore store = new BlobStore(root);
        ContentHash kept = commit(store, ACME, CONFIG, WEIGHTS).hash();
        ContentHash orphan = commit(store, ACME, CONFIG, new byte[] {1, 2, 3}).hash();
        ContentHash otherTenant = commit(store, new TenantId("globex"), CONFIG, WEIGHTS).hash();
        Path leftover = store.newUploadDirectory("crashed-upload");
        Files.write(leftover.resolve(ContentHash.WEIGHTS_FILE), new byte[10]);
        Files.createDirectories(root.resolve("acme").resolve("not-a-hash"));

        BlobStore.SweepReport report = store.sweep((tenant, hash) -> tenant.equals(ACME) && hash.equals(kept));

        assertEquals(1, report.temporaryEntries());
        assertEquals(List.of("acme/" + orphan, "globex/" + otherTenant).stream().sorted().toList(),
                report.unreferencedBlobs().stream().sorted().toList());
        store.verifiedPath(ACME, kept);
        assertFalse(Files.exists(store.directory(ACME, orphan)));
        assertTrue(Files.isDirectory(root.resolve("acme").resolve("not-a-hash")));
        try (Stream<Path> temp = Files.list(root.resolve(BlobStore.TEMP))) {
            assertEquals(0, temp.count());
        }
    }

    @Test
    void aBlobDeletedWhileTheSweepRunsIsNotAnErrorAtStart() throws IOException {
        // at a restart the sweep and a replayed deletion's clean-up may remove the same unreferenced blob
        BlobStore store = new BlobStore(root);
        ContentHash orphan = commit(store, ACME, CONFIG, WEIGHTS).hash();
        BlobStore.SweepReport report = store.sweep((tenant, hash) -> {
            try {
                assertTrue(store.delete(tenant, hash), "the concurrent deletion removes it first");
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return false;
        });
        assertEquals(List.of(), report.unreferencedBlobs());
        assertFalse(Files.exists(store.directory(ACME, orphan)));
    }

    @Test
    void opensOnlyTheTwoAdapterFiles() throws IOException {
        BlobStore store = new BlobStore(root);
        ContentHash hash = commit(store, ACME, CONFIG, WEIGHTS).hash();
        assertTrue(assertThrows(BlobException.class, () -> store.open(ACME, hash, "../../etc/passwd")).getMessage()
                .startsWith("unexpected file"));
    }
}
