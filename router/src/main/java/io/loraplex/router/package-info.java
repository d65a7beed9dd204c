/**
 * The router role: the OpenAI-compatible HTTP API, admin API, auth, per-tenant limits, the sharded
 * {@code Tenant} entity and placement. Speaks to other roles only through {@code cluster} protocols.
 */
package io.loraplex.router;
