package io.loraplex.persistence;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.pekko.serialization.jackson.JacksonMigration;

/**
 * Version 1 of every journaled class's schema: registered for each event and snapshot class in
 * {@code reference.conf}, so that the serializer writes the version into every manifest
 * ({@code ...TenantCreated#1}) and a later shape of a class can tell the data it reads by version.
 * A class that changes gets its own migration with {@code currentVersion() == 2} in place of this
 * one, transforming the version-1 data (see {@code RenameTokensMigration} in the tests).
 */
public final class SchemaV1 extends JacksonMigration {

    @Override
    public int currentVersion() {
        return 1;
    }

    @Override
    public JsonNode transform(int fromVersion, JsonNode json) {
        return json;
    }
}
