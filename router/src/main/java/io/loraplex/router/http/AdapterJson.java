package io.loraplex.router.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.loraplex.cluster.adapter.AdapterProtocol.AdapterView;
import io.loraplex.cluster.adapter.AdapterProtocol.HistoryEntry;
import io.loraplex.cluster.adapter.AdapterProtocol.VersionView;
import java.util.Locale;

/** An adapter and its versions as the management routes write them (snake case, states in lower case). */
final class AdapterJson {

    private AdapterJson() {
    }

    /** {@code withHistory}: each version's history too (one adapter); without it, a listing's summary. */
    static ObjectNode adapter(AdapterView view, boolean withHistory) {
        ObjectNode a = Json.object();
        a.put("object", "adapter");
        a.put("name", view.name());
        a.put("promoted_version", view.promotedVersion());
        a.put("canary_version", view.canaryVersion());
        a.put("canary_share", view.canaryVersion() == null ? 0.0 : view.canaryShare());
        ArrayNode versions = a.putArray("versions");
        for (VersionView v : view.versions()) {
            versions.add(version(view.name(), v, withHistory));
        }
        return a;
    }

    static ObjectNode version(String name, VersionView v, boolean withHistory) {
        ObjectNode o = Json.object();
        o.put("object", "adapter.version");
        o.put("adapter", name);
        o.put("version", v.version());
        o.put("state", state(v.state()));
        o.put("hash", v.hash() == null ? null : v.hash().hex());
        o.put("bytes", v.bytes());
        o.put("base_identity", v.baseIdentity());
        o.put("max_rank", v.maxRank());
        o.put("source", v.source());
        o.put("reason", v.reason());
        o.put("created_at", v.createdEpochMillis() / 1000);
        if (withHistory) {
            ArrayNode history = o.putArray("history");
            for (HistoryEntry h : v.history()) {
                ObjectNode e = history.addObject();
                e.put("at_ms", h.epochMillis());
                e.put("state", state(h.state()));
                e.put("note", h.note());
            }
        }
        return o;
    }

    private static String state(Enum<?> state) {
        return state == null ? null : state.name().toLowerCase(Locale.ROOT);
    }
}
