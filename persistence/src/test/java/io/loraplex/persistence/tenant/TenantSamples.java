package io.loraplex.persistence.tenant;

import io.loraplex.cluster.AdapterRef;
import io.loraplex.cluster.ContentHash;
import io.loraplex.cluster.TenantId;
import io.loraplex.cluster.tenant.TenantProtocol.Limits;
import io.loraplex.cluster.tenant.TenantProtocol.Scope;
import io.loraplex.persistence.tenant.TenantEvent.AdapterNameTracked;
import io.loraplex.persistence.tenant.TenantEvent.ApiKeyAdded;
import io.loraplex.persistence.tenant.TenantEvent.ApiKeyRevoked;
import io.loraplex.persistence.tenant.TenantEvent.CatalogUpdated;
import io.loraplex.persistence.tenant.TenantEvent.ProfileUpdated;
import io.loraplex.persistence.tenant.TenantEvent.StorageHeld;
import io.loraplex.persistence.tenant.TenantEvent.StorageLetGo;
import io.loraplex.persistence.tenant.TenantEvent.StorageReleased;
import io.loraplex.persistence.tenant.TenantEvent.UsageExpired;
import io.loraplex.persistence.tenant.TenantEvent.StorageReserved;
import io.loraplex.persistence.tenant.TenantEvent.TenantCreated;
import io.loraplex.persistence.tenant.TenantEvent.UsageRecorded;
import java.util.List;
import java.util.Set;

/**
 * One fixed instance of every {@link TenantEvent} and a state they add up to: what the round-trip
 * tests serialize and what the committed CBOR fixtures hold. Never change a value here without
 * regenerating the fixtures ({@link TenantFixtureGenerator}), and never regenerate them to make a
 * changed event class read: that is what a migration is for.
 */
final class TenantSamples {

    static final TenantId TENANT = new TenantId("fixture-cafe");
    static final AdapterRef CAFE_1 = new AdapterRef(TENANT, "cafe", 1, new ContentHash("a".repeat(64)), "base-1");
    static final AdapterRef CAFE_2 = new AdapterRef(TENANT, "cafe", 2, new ContentHash("b".repeat(64)));
    static final TenantState.Profile PROFILE =
            new TenantState.Profile("Cafe", "pro", 2.0, new Limits(5, 10, 60_000, 4, 1024, 1L << 30));

    private TenantSamples() {
    }

    /** In the order a tenant could live them; one of each kind at least. */
    static List<TenantEvent> events() {
        return List.of(
                new TenantCreated(PROFILE, 1_767_225_600_000L),
                new ProfileUpdated(new TenantState.Profile("Cafe & Co", "basic", 1.0, new Limits(1, 1, 1, 1, 1, 0)),
                        1_767_225_601_000L),
                new ApiKeyAdded("key_0011223344556677", "c".repeat(64), "laptop", Set.of(Scope.CHAT, Scope.MANAGE),
                        1_767_225_602_000L),
                new ApiKeyAdded("key_8899aabbccddeeff", "d".repeat(64), "", Set.of(Scope.CHAT), 1_767_225_603_000L),
                new ApiKeyRevoked("key_8899aabbccddeeff", "d".repeat(64), 1_767_225_604_000L),
                new CatalogUpdated("cafe", CAFE_1, CAFE_2, 0.25, 1_767_225_605L),
                new CatalogUpdated("gone", null, null, 0, 1_767_225_606L),
                new AdapterNameTracked("cafe", true),
                new AdapterNameTracked("latte", false),
                new StorageReserved("a".repeat(64), 52_428_800L),
                new StorageReleased("e".repeat(64)),
                new UsageRecorded(490_896L, "cafe", 3, 420),
                new UsageRecorded(490_896L, "", 1, 17),
                new StorageHeld("a".repeat(64), "cafe"),
                new StorageHeld("a".repeat(64), "latte"),
                new StorageLetGo("a".repeat(64), "latte"),
                new UsageExpired(490_000L));
    }

    /** What {@link #events()} add up to. */
    static TenantState state() {
        TenantState state = TenantState.EMPTY;
        for (TenantEvent event : events()) {
            state = state.apply(event);
        }
        return state;
    }
}
