package io.loraplex.persistence.blob;

import io.loraplex.cluster.ContentHash;
import java.util.Locale;
import java.util.Set;

/** The two file names an adapter upload may hold, and why any other name is refused. */
final class AdapterFiles {

    static final Set<String> NAMES = Set.of(ContentHash.CONFIG_FILE, ContentHash.WEIGHTS_FILE);

    /** Extensions of pickled PyTorch checkpoints: loading one runs arbitrary code. */
    private static final Set<String> PICKLED = Set.of(".bin", ".pt", ".pth", ".pkl", ".ckpt");

    private AdapterFiles() {
    }

    /** Null for an accepted name, otherwise why {@code fileName} (a base name) is refused. */
    static String refusal(String fileName) {
        if (NAMES.contains(fileName)) {
            return null;
        }
        int dot = fileName.lastIndexOf('.');
        String extension = dot < 0 ? "" : fileName.substring(dot).toLowerCase(Locale.ROOT);
        if (PICKLED.contains(extension)) {
            return "pickled PyTorch weights (" + extension + ") are not accepted: " + fileName + "; upload "
                    + ContentHash.WEIGHTS_FILE;
        }
        return "unexpected file " + fileName + ": an adapter upload holds only " + ContentHash.CONFIG_FILE + " and "
                + ContentHash.WEIGHTS_FILE;
    }
}
