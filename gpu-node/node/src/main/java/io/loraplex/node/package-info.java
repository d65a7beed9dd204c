/**
 * The {@code GpuNode} actor: a thin Pekko shell that owns one {@code Engine} and streams its tokens
 * back through StreamRefs. Filled by "Tenant chat over HTTP".
 */
package io.loraplex.node;
