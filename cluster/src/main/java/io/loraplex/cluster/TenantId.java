package io.loraplex.cluster;

import java.util.regex.Pattern;

/** A tenant: lowercase letters, digits, '-' and '_', 1 to 64 characters. */
public record TenantId(String value) {

    private static final Pattern VALID = Pattern.compile("[a-z0-9][a-z0-9_-]{0,63}");

    public TenantId {
        if (value == null || !VALID.matcher(value).matches()) {
            throw new IllegalArgumentException(
                    "a tenant id is 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit; got: " + value);
        }
    }

    @Override
    public String toString() {
        return value;
    }
}
