package io.loraplex.persistence.tenant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Iterator;
import org.apache.pekko.serialization.jackson.JacksonMigration;

/**
 * Version 2 of the {@link TenantState} snapshot: the usage history left the state (it is
 * {@link UsageHistory}, read from the journal's usage events, which every version kept). A
 * version-1 snapshot's {@code usage} (epoch hour to model to requests and tokens) gives way to
 * {@code usageFrom}, its oldest hour ({@code Long.MAX_VALUE} when it held none): all retention
 * needs of it.
 */
public final class TenantStateMigration extends JacksonMigration {

    @Override
    public int currentVersion() {
        return 2;
    }

    @Override
    public JsonNode transform(int fromVersion, JsonNode json) {
        if (fromVersion < 2 && json instanceof ObjectNode root && !root.has("usageFrom")) {
            long oldest = Long.MAX_VALUE;
            JsonNode usage = root.remove("usage");
            if (usage != null) {
                // the hours are the map's keys (numbers in CBOR, names in the tree)
                for (Iterator<String> hours = usage.fieldNames(); hours.hasNext(); ) {
                    oldest = Math.min(oldest, Long.parseLong(hours.next()));
                }
            }
            root.put("usageFrom", oldest);
        }
        return json;
    }
}
