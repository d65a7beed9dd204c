/**
 * The shared vocabulary of the cluster: typed ids ({@code TenantId}, {@code AdapterRef},
 * {@code ContentHash}, {@code NodeId}), the message protocols between roles, sharding keys and the
 * serialization of remote messages. Depends on nothing internal; the engine uses only its ids.
 */
package io.loraplex.cluster;
