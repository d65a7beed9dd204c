package io.loraplex.persistence.tenant;

import io.loraplex.persistence.CborSerializable;

/**
 * A test-only second version of {@link TenantEvent.UsageRecorded} whose {@code tokens} became
 * {@code totalTokens}: what the migration test reads the committed version-1 fixture into.
 */
record UsageRecordedV2(long epochHour, String model, long requests, long totalTokens) implements CborSerializable {
}
