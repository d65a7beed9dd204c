package io.loraplex.router.http;

import io.loraplex.cluster.ContentHash;
import java.util.Locale;
import java.util.Set;

/** Which file a part of an adapter upload form holds, by its file name or, failing that, its field name. */
final class UploadParts {

    /** How the blob store takes the part. */
    enum Kind { FILE, TAR, TAR_GZ }

    private static final Set<String> ADAPTER_FILES = Set.of(ContentHash.CONFIG_FILE, ContentHash.WEIGHTS_FILE);

    private UploadParts() {
    }

    /**
     * The file a part holds: its file name when that is an adapter file or an archive; else its field
     * name when that is an adapter file ({@code -F adapter_model.safetensors=@weights}); else any other
     * file name, for the blob store to refuse with its reason. Null: a plain field that is no file.
     */
    static String fileOf(String field, String fileName) {
        if (ADAPTER_FILES.contains(fileName) || kindOf(fileName) != Kind.FILE) {
            return fileName;
        }
        if (ADAPTER_FILES.contains(field)) {
            return field;
        }
        return fileName.isEmpty() ? null : fileName;
    }

    static Kind kindOf(String fileName) {
        String lower = fileName.toLowerCase(Locale.ROOT);
        if (lower.endsWith(".tar.gz") || lower.endsWith(".tgz")) {
            return Kind.TAR_GZ;
        }
        return lower.endsWith(".tar") ? Kind.TAR : Kind.FILE;
    }
}
