/**
 * The event-sourced {@code Adapter} entity: one per (tenant, adapter name), sharded on the router
 * role, the source of truth for an adapter's immutable versions and their lifecycle
 * (uploaded → ready or rejected → canary → promoted → rolled back / retired → deleted). It answers
 * a promote, canary, rollback, retire or delete only after the tenant's catalog has acknowledged the
 * change, and re-sends its view to the catalog after every recovery. {@link
 * io.loraplex.persistence.adapter.AdapterIndex} reads the journal for the blob store's sweep.
 */
package io.loraplex.persistence.adapter;
