package io.loraplex.router.http;

import io.loraplex.cluster.ContentHash;
import java.util.Locale;
import java.util.Set;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;

/** Which file a part of an adapter upload form holds, by its file name or, failing that, its field name. */
final class UploadParts {

    /** How the blob store takes the part. */
    enum Kind { FILE, TAR, TAR_GZ }

    private static final Set<String> ADAPTER_FILES = Set.of(ContentHash.CONFIG_FILE, ContentHash.WEIGHTS_FILE);

    /** The longest part file name either upload form takes (a file name on common file systems is at most 255). */
    static final int MAX_FILE_NAME = TextLimits.FILE_NAME;

    private UploadParts() {
    }

    /**
     * A 400 naming the limit when a part's file name is longer than {@link #MAX_FILE_NAME}, else
     * null. Counted in characters, as clients see their file names.
     */
    static ApiError fileNameProblem(String field, String fileName) {
        if (fileName.codePointCount(0, fileName.length()) <= MAX_FILE_NAME) {
            return null;
        }
        return ApiError.invalid(field, "the file name of part '" + field + "' is " + fileName.codePointCount(0, fileName.length())
                + " characters; a file name has at most " + MAX_FILE_NAME);
    }

    /**
     * Whether {@code failure} is the HTTP layer cutting the body at its size limit: the form parser
     * can reach it before a part's stream does, so it may surface anywhere in the upload.
     */
    static boolean hitSizeLimit(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof EntityStreamSizeException) {
                return true;
            }
        }
        return false;
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
