package io.loraplex.persistence.tenant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.pekko.serialization.jackson.JacksonMigration;

/**
 * Version 2 of usage events (test only): the class is {@link UsageRecordedV2} and the field
 * {@code tokens} is called {@code totalTokens}. Events of version 1 keep their old manifest in
 * the journal; this maps both.
 */
public final class RenameTokensMigration extends JacksonMigration {

    @Override
    public int currentVersion() {
        return 2;
    }

    @Override
    public String transformClassName(int fromVersion, String className) {
        return UsageRecordedV2.class.getName();
    }

    @Override
    public JsonNode transform(int fromVersion, JsonNode json) {
        if (fromVersion < 2 && json instanceof ObjectNode root && root.has("tokens")) {
            root.set("totalTokens", root.get("tokens"));
            root.remove("tokens");
        }
        return json;
    }
}
