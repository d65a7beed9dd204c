package io.loraplex.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;

/**
 * The fatbins this jar carries, and their bytes for {@code cuModuleLoadFatBinary}. A build without
 * nvcc carries none ({@link #available()} is empty) and the engine uses the CPU backend.
 *
 * <p>The build writes {@code io/loraplex/kernels/kernels-build.properties} ({@code nvcc=<version>},
 * empty without nvcc) beside the fatbins; a jar whose build had nvcc but lacks a fatbin is refused
 * here, at start, rather than when the first step needs the kernel.
 */
public final class KernelImages {

    /** The build's record of the nvcc it had, beside the fatbins. */
    public static final String BUILD_INFO = KernelImage.RESOURCE_DIR + "kernels-build.properties";

    private final ClassLoader loader;
    private final String nvccVersion; // null: built without nvcc
    private final Set<KernelImage> available;

    private KernelImages(ClassLoader loader, String nvccVersion, Set<KernelImage> available) {
        this.loader = loader;
        this.nvccVersion = nvccVersion;
        this.available = Collections.unmodifiableSet(available);
    }

    /** The images on this module's own class path. */
    public static KernelImages fromClassPath() {
        return of(KernelImages.class.getClassLoader());
    }

    /** The images {@code loader} finds under {@link KernelImage#RESOURCE_DIR}. */
    public static KernelImages of(ClassLoader loader) {
        String version = readNvccVersion(loader);
        EnumSet<KernelImage> found = EnumSet.noneOf(KernelImage.class);
        EnumSet<KernelImage> missing = EnumSet.noneOf(KernelImage.class);
        for (KernelImage image : KernelImage.values()) {
            (loader.getResource(image.resourceName()) != null ? found : missing).add(image);
        }
        if (version != null && !missing.isEmpty()) {
            throw new IllegalStateException("the kernels were built with nvcc " + version + " but "
                    + missing.stream().map(KernelImage::fatbinFile).toList() + " are missing from "
                    + KernelImage.RESOURCE_DIR + "; rebuild the kernels module");
        }
        return new KernelImages(loader, version, found);
    }

    private static String readNvccVersion(ClassLoader loader) {
        try (InputStream in = loader.getResourceAsStream(BUILD_INFO)) {
            if (in == null) {
                return null; // compiled outside Maven (an IDE): only what is there counts
            }
            Properties p = new Properties();
            p.load(in);
            String v = p.getProperty("nvcc", "").strip();
            return v.isEmpty() ? null : v;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + BUILD_INFO, e);
        }
    }

    /** The nvcc release that built the fatbins, or empty when the build had none. */
    public Optional<String> nvccVersion() {
        return Optional.ofNullable(nvccVersion);
    }

    /** The images this jar carries; empty when it was built without nvcc. */
    public Set<KernelImage> available() {
        return available;
    }

    public boolean isEmpty() {
        return available.isEmpty();
    }

    /** The fatbin of {@code image}. */
    public byte[] bytes(KernelImage image) {
        if (!available.contains(image)) {
            throw new IllegalStateException(image.fatbinFile() + " is not in this jar: the kernels module was built "
                    + (nvccVersion == null ? "without nvcc" : "with nvcc " + nvccVersion + " but without it"));
        }
        try (InputStream in = loader.getResourceAsStream(image.resourceName())) {
            if (in == null) {
                throw new IllegalStateException(image.resourceName() + " disappeared from the class path");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + image.resourceName(), e);
        }
    }
}
