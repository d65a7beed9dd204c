package io.loraplex.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KernelImagesTest {

    @TempDir
    Path dir;

    @Test
    void thisBuildCarriesEveryImageWhenNvccRanAndNoneWhenItDidNot() {
        KernelImages images = KernelImages.fromClassPath();
        Optional<Path> nvcc = Nvcc.find();
        assertEquals(nvcc.isPresent(), images.nvccVersion().isPresent(),
                "the build and this test disagree on nvcc; this test found " + nvcc);
        Set<KernelImage> expected = nvcc.isPresent() ? EnumSet.allOf(KernelImage.class) : Set.of();
        assertEquals(expected, images.available());
    }

    @Test
    void aBuildWithoutNvccReportsNoImagesAndRefusesBytesSayingWhy() throws IOException {
        writeBuildInfo("");
        KernelImages images = KernelImages.of(loader());
        assertTrue(images.isEmpty());
        assertEquals(Optional.empty(), images.nvccVersion());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> images.bytes(KernelImage.ROPE));
        assertEquals("rope.fatbin is not in this jar: the kernels module was built without nvcc", e.getMessage());
    }

    @Test
    void aBuildWithNvccListsEveryImageAndReturnsItsBytes() throws IOException {
        writeBuildInfo("13.0.88");
        for (KernelImage image : KernelImage.values()) {
            writeImage(image);
        }
        KernelImages images = KernelImages.of(loader());
        assertEquals(EnumSet.allOf(KernelImage.class), images.available());
        assertEquals(Optional.of("13.0.88"), images.nvccVersion());
        assertArrayEquals("fatbin of lora_shrink".getBytes(StandardCharsets.US_ASCII),
                images.bytes(KernelImage.LORA_SHRINK));
    }

    @Test
    void aBuildWithNvccThatLacksAFatbinIsRefusedNamingTheMissingFiles() throws IOException {
        writeBuildInfo("13.0.88");
        for (KernelImage image : KernelImage.values()) {
            if (image != KernelImage.ROPE && image != KernelImage.SWIGLU) {
                writeImage(image);
            }
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> KernelImages.of(loader()));
        assertEquals("the kernels were built with nvcc 13.0.88 but [rope.fatbin, swiglu.fatbin] are missing from "
                + "io/loraplex/kernels/; rebuild the kernels module", e.getMessage());
    }

    private void writeBuildInfo(String version) throws IOException {
        Path file = dir.resolve(KernelImages.BUILD_INFO);
        Files.createDirectories(file.getParent());
        Files.writeString(file, "nvcc=" + version + "\n");
    }

    private void writeImage(KernelImage image) throws IOException {
        Files.writeString(dir.resolve(image.resourceName()), "fatbin of " + image.baseName());
    }

    /** A loader that sees only {@link #dir}, not this module's own classes directory. */
    private ClassLoader loader() throws IOException {
        return new URLClassLoader(new URL[] {dir.toUri().toURL()}, null);
    }
}
