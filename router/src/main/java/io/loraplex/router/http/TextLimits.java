package io.loraplex.router.http;

/**
 * The lengths of free text a client may store (names shown in lists, file names kept in journals),
 * in one place: without a bound one request could make every later listing megabytes long.
 */
final class TextLimits {

    /** A tenant's {@code display_name}. */
    static final int DISPLAY_NAME = 256;
    /** A file name sent with an upload (/v1/files, adapter uploads): a common file system's NAME_MAX. */
    static final int FILE_NAME = 255;

    private TextLimits() {
    }

    /** {@code value}, or a 400 naming {@code param}, its length and the limit. */
    static String require(String param, String what, String value, int limit) {
        if (value != null && value.codePointCount(0, value.length()) > limit) {
            throw ApiError.invalid(param, what + " has " + value.codePointCount(0, value.length())
                    + " characters; the limit is " + limit).toException();
        }
        return value;
    }
}
