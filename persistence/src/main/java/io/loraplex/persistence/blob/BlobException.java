package io.loraplex.persistence.blob;

import java.io.IOException;

/**
 * An upload or a read the store refuses, with a message meant for the person who sent it
 * ("unsafe path in archive: ../x", "blob acme/… is corrupt: …"). Other {@link IOException}s are
 * the store's own failures.
 */
public final class BlobException extends IOException {

    /** What the sender did wrong, so callers choose a status by type, never by the message. */
    private enum Kind { REFUSED, OVER_QUOTA, OVER_LIMIT }

    private final Kind kind;

    public BlobException(String message) {
        this(message, Kind.REFUSED);
    }

    private BlobException(String message, Kind kind) {
        super(message);
        this.kind = kind;
    }

    /** The tenant's storage quota refused the bytes: {@code message} is its refusal, naming the quota. */
    static BlobException overQuota(String message) {
        return new BlobException(message, Kind.OVER_QUOTA);
    }

    public boolean overQuota() {
        return kind == Kind.OVER_QUOTA;
    }

    /** The upload is larger than the store accepts (streamed or unpacked). */
    public boolean overLimit() {
        return kind == Kind.OVER_LIMIT;
    }

    /** The refusal of an upload over the limit, whether found while streaming or extracting. */
    static BlobException overLimit(long maxBytes) {
        return new BlobException("the upload exceeds the limit of " + maxBytes + " bytes", Kind.OVER_LIMIT);
    }
}
