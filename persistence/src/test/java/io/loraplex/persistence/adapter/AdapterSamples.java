package io.loraplex.persistence.adapter;

import io.loraplex.cluster.ContentHash;
import io.loraplex.persistence.adapter.AdapterEvent.AdapterDeleted;
import io.loraplex.persistence.adapter.AdapterEvent.CleanupCompleted;
import io.loraplex.persistence.adapter.AdapterEvent.CanaryStarted;
import io.loraplex.persistence.adapter.AdapterEvent.CanaryStopped;
import io.loraplex.persistence.adapter.AdapterEvent.RolledBack;
import io.loraplex.persistence.adapter.AdapterEvent.VersionFailed;
import io.loraplex.persistence.adapter.AdapterEvent.VersionPromoted;
import io.loraplex.persistence.adapter.AdapterEvent.VersionRejected;
import io.loraplex.persistence.adapter.AdapterEvent.VersionRetired;
import io.loraplex.persistence.adapter.AdapterEvent.VersionUploaded;
import io.loraplex.persistence.adapter.AdapterEvent.VersionValidated;
import java.util.List;

/**
 * One fixed instance of every {@link AdapterEvent}, in an order an adapter could live them, and the
 * state they add up to: what the round-trip tests serialize and what the committed CBOR fixtures
 * hold. Never change a value here without regenerating the fixtures ({@link AdapterFixtureGenerator}),
 * and never regenerate them to make a changed event class read: that is what a migration is for.
 */
final class AdapterSamples {

    static final ContentHash H1 = new ContentHash("1".repeat(64));
    static final ContentHash H2 = new ContentHash("2".repeat(64));
    static final ContentHash H3 = new ContentHash("3".repeat(64));
    static final ContentHash H4 = new ContentHash("4".repeat(64));
    static final long T0 = 1_767_225_600_000L;

    private AdapterSamples() {
    }

    static List<AdapterEvent> events() {
        return List.of(
                new VersionUploaded(1, H1, 52_428_800L, "upload", T0),
                new VersionValidated(1, "base-9f2c", 16, T0 + 1_000),
                new VersionUploaded(2, H2, 1_048_576L, "training", T0 + 2_000),
                new VersionValidated(2, "base-9f2c", 8, T0 + 3_000),
                new VersionUploaded(3, H3, 2_048L, "upload", T0 + 4_000),
                new VersionRejected(3, "tensor base_model.model.layers.0.self_attn.q_proj.lora_A.weight holds NaN", T0 + 5_000),
                new VersionPromoted(1, T0 + 6_000),
                new CanaryStarted(2, 0.25, T0 + 7_000),
                new CanaryStopped(2, T0 + 8_000),
                new VersionPromoted(2, T0 + 9_000),
                new RolledBack(2, 1, T0 + 10_000),
                new VersionRetired(2, T0 + 11_000),
                new VersionUploaded(4, H4, 4_096L, "upload", T0 + 11_100),
                new VersionValidated(4, "base-9f2c", 4, T0 + 11_200),
                new VersionFailed(4, "adapter t/cafe@4 produced a non-finite logit (NaN at token 7)", T0 + 11_300),
                new AdapterDeleted(List.of(H1, H2, H3, H4), T0 + 12_000, List.of(H1, H2)),
                new CleanupCompleted(List.of(H1), T0 + 13_000));
    }

    /** The state of {@link #events()} before the delete: every kind of field set. */
    static AdapterState state() {
        AdapterState state = AdapterState.EMPTY;
        for (AdapterEvent event : events().subList(0, events().size() - 2)) {
            state = state.apply(event);
        }
        return state;
    }
}
