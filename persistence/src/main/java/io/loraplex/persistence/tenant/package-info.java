/**
 * The sharded {@code Tenant} entity ({@link io.loraplex.persistence.tenant.TenantEntity}): keys,
 * limits and token buckets, and the catalog of adapter names of one tenant, on router nodes only
 * ({@link io.loraplex.persistence.tenant.TenantSharding}). Its protocol is
 * {@link io.loraplex.cluster.tenant.TenantProtocol}; settings come from {@code loraplex.tenant}.
 */
package io.loraplex.persistence.tenant;
