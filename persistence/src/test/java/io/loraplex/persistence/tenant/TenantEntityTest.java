package io.loraplex.persistence.tenant;

import com.typesafe.config.Config;

/** The Tenant entity suite on the in-memory journal of the persistence testkit. */
class TenantEntityTest extends TenantEntitySuite {

    @Override
    Config journal() {
        return TestJournals.inMemory();
    }
}
