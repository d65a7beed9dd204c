package io.loraplex.persistence.blob;

import java.io.IOException;

/**
 * An upload or a read the store refuses, with a message meant for the person who sent it
 * ("unsafe path in archive: ../x", "blob acme/… is corrupt: …"). Other {@link IOException}s are
 * the store's own failures.
 */
public final class BlobException extends IOException {

    private final boolean overQuota;

    public BlobException(String message) {
        this(message, false);
    }

    private BlobException(String message, boolean overQuota) {
        super(message);
        this.overQuota = overQuota;
    }

    /** The tenant's storage quota refused the bytes: {@code message} is its refusal, naming the quota. */
    static BlobException overQuota(String message) {
        return new BlobException(message, true);
    }

    public boolean overQuota() {
        return overQuota;
    }

    /** The message every over-limit refusal carries, whether found while streaming or extracting. */
    static BlobException overLimit(long maxBytes) {
        return new BlobException("the upload exceeds the limit of " + maxBytes + " bytes");
    }
}
